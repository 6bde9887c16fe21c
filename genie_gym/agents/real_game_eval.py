"""How far a policy gets in the real game: the figures by which explorers are compared (``genie explore``,
``examples/ppo_in_dream.py``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from genie_gym.conventions import ACTION_NAMES, NUM_ACTIONS
from genie_gym.envs.retro_env import GenieRetroEnv, level_camera_x
from genie_gym.metrics import distinct_screens
from genie_gym.uncertainty import REWARD_CONTEXT_FRAMES, transition_uncertainty
from genie_gym.world_model import WorldModel


def real_game_runs(game: str, act: Callable[[np.ndarray], int], episodes: int, steps: int, seed: int,
                   world_model: WorldModel | None = None) -> dict:
    """Play ``act(obs uint8 (64, 64, 3)) -> action`` in the real ``game`` for ``episodes`` runs of ``steps`` steps.

    Run ``i`` resets the game with seed ``seed + i``. Returns the mean and per-run furthest camera x (SMB's
    ``xscrollHi * 256 + xscrollLo``: pixels of the level, 0 on the first screen; ``None`` for games without it), the
    mean and per-run number of distinct screens seen (:func:`genie_gym.metrics.distinct_screens`: any game), the
    share of each action, and, when ``world_model`` is given, its mean uncertainty about the next frame at every 8th
    moment of the runs (:func:`genie_gym.uncertainty.transition_uncertainty`, AutoExplore's reward).
    """
    env = GenieRetroEnv(game, max_episode_steps=steps)
    furthest, screens, uncertainty, counts = [], [], [], np.zeros(NUM_ACTIONS)
    try:
        for episode in range(episodes):
            obs, info = env.reset(seed=seed + episode)
            frames, actions, best = [obs], [], level_camera_x(info)
            for _ in range(steps):
                action = int(act(obs))
                obs, _, terminated, truncated, info = env.step(action)
                frames.append(obs)
                actions.append(action)
                x = level_camera_x(info)
                best = x if best is None or (x is not None and x > best) else best
                if terminated or truncated:
                    break
            furthest.append(best)
            screens.append(int(distinct_screens(np.stack(frames))))
            counts += np.bincount(actions, minlength=len(counts))
            context = REWARD_CONTEXT_FRAMES
            if world_model is not None and len(frames) > context + 1:
                clip, moves = np.stack(frames), np.asarray(actions, dtype=np.int64)
                starts = range(context, len(clip) - 1, 8)  # every 8th real frame, predicted from the ones before it
                rewards, _ = transition_uncertainty(world_model, np.stack([clip[t - context : t] for t in starts]),
                                                    np.stack([moves[t - context : t - 1] for t in starts]),
                                                    np.stack([moves[t - 1] for t in starts]))
                uncertainty.append(float(rewards.mean()))
    finally:
        env.close()
    known = [x for x in furthest if x is not None]
    return {"furthest_camera_x": furthest, "mean_furthest_camera_x": float(np.mean(known)) if known else None,
            "distinct_screens": screens, "mean_distinct_screens": float(np.mean(screens)),
            "action_share": {name: round(float(share), 3) for name, share in zip(ACTION_NAMES, counts / counts.sum(),
                                                                                   strict=True)},
            "mean_uncertainty_along_run": float(np.mean(uncertainty)) if uncertainty else None}
