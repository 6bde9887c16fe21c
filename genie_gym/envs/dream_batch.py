"""``DreamBatch``: the one dream engine. Every dream env is a view of it (docs/DESIGN.md §9).

A batch of dreams of one world model, stepped together (one forward pass per group of ``dreams_per_pass``). It owns
the world model, the sampling settings (:class:`DreamSettings`), where a dream's context comes from, the dreams'
state and step count, the step limit and the uncertainty reward (``reward``: :data:`DREAM_REWARDS`). The envs adapt
it to an API:

- :class:`~genie_gym.envs.dream_env.GenieDreamEnv`: a batch of one, a Gymnasium ``Env``;
- :class:`~genie_gym.envs.dream_vec_env.GenieDreamVecEnv`: ``N`` dreams in lockstep, a Stable-Baselines3 ``VecEnv``;
- :class:`~genie_gym.envs.dream_vector_env.GenieDreamVectorEnv`: the same ``N`` dreams, a Gymnasium ``VectorEnv``.

Where a dream's context comes from:
- the real game (``GenieRetroEnv``) reset with a seed and played for ``context_frames - 1`` random actions drawn from
  a seeded generator (:meth:`DreamBatch.real_contexts`);
- reset options ``{"frames": uint8 (T, 64, 64, 3), "actions": int (T - 1,)}`` or
  ``{"episode": "STORE/GAME/ep_NNNNNN"}`` (:func:`context_from_options`; the single env takes them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from genie_gym.conventions import FRAME_SIZE, NUM_ACTIONS, validate_frames
from genie_gym.data.store import EPISODE_RE, EpisodeRef, load_episode
from genie_gym.envs.retro_env import GenieRetroEnv, context_env
from genie_gym.fork_safety import use_one_thread_if_forked
from genie_gym.models.configs import DreamSettings  # the sampling settings' one place, also importable from here
from genie_gym.uncertainty import REWARD_CONTEXT_FRAMES, TokenEntropyReward, transition_uncertainty
from genie_gym.world_model import DreamState, WorldModel

RESET_OPTIONS = ("frames", "actions", "episode")
DREAM_REWARDS = ("uncertainty", "none")
"""What a dream's ``step`` pays (the ``reward`` argument of every dream env; docs/DESIGN.md §7, §9):
``"uncertainty"`` (default) the AutoExplore reward, :func:`~genie_gym.uncertainty.transition_uncertainty` of each step,
with its map in ``info["uncertainty_map"]``; ``"none"`` reward 0.0 and no map, which spares the reward's tokenizer and
dynamics passes (longer than a 1-MaskGIT-step dream's own step on a CPU) for a player that shows neither. The dreamed
frames are the same either way (the reward draws no sampling noise), and :meth:`DreamBatch.last_step_uncertainty`
still computes the last step's reward on demand."""


def check_reward(reward: str) -> str:
    """``reward`` if it is one of :data:`DREAM_REWARDS`, else a ``ValueError`` that lists them."""
    if not isinstance(reward, str) or reward not in DREAM_REWARDS:
        raise ValueError(f"reward must be one of {list(DREAM_REWARDS)} ('none': 0.0 and no info['uncertainty_map'], "
                         f"faster), got {reward!r}")
    return reward


def context_from_options(options: dict[str, Any], context_frames: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The context given in ``reset`` options: ``(frames uint8 (T, 64, 64, 3), actions int64 (T - 1,))`` from
    ``{"frames", "actions"}`` or the first ``context_frames`` of ``{"episode"}``; ``None`` for no options (the real
    game). Any other key or shape is a ``ValueError`` that says what is accepted."""
    if not isinstance(options, dict):
        raise ValueError(f"reset options must be a dict with keys {list(RESET_OPTIONS)}, got {type(options).__name__}")
    unknown = sorted(str(key) for key in options if key not in RESET_OPTIONS)
    if unknown:
        raise ValueError(f"unknown reset option(s) {unknown}: a dream takes {{'frames': uint8 (T, 64, 64, 3), "
                         "'actions': int (T - 1,)}, {'episode': 'STORE/GAME/ep_NNNNNN'} or no options")
    if "episode" in options and ("frames" in options or "actions" in options):
        raise ValueError("reset options: pass either 'episode' or 'frames' (+ 'actions'), not both")
    if "actions" in options and "frames" not in options:
        raise ValueError("reset option 'actions' needs 'frames': pass {'frames': uint8 (T, 64, 64, 3), "
                         "'actions': int (T - 1,)}")
    if "frames" in options:
        frames = validate_frames(np.asarray(options["frames"]), "options['frames']")
        if frames.ndim != 4 or len(frames) < 1:
            raise ValueError(f"options['frames'] must be (T, 64, 64, 3) with T >= 1, got shape {frames.shape}")
        if "actions" not in options and len(frames) > 1:
            raise ValueError(f"options['frames'] holds {len(frames)} frames, so options['actions'] is required: "
                             f"int ({len(frames) - 1},), actions[t] leads from frames[t] to frames[t+1]")
        actions = np.asarray(options.get("actions", np.zeros(0, dtype=np.int64)))
        if actions.shape != (len(frames) - 1,) or (actions.size and actions.dtype.kind not in "iu"):
            raise ValueError(f"options['actions'] must be integers of shape ({len(frames) - 1},) for "
                             f"{len(frames)} frames (actions[t] leads from frames[t] to frames[t+1]), got "
                             f"{actions.dtype} {actions.shape}")
        return frames, actions.astype(np.int64)
    if "episode" in options:
        path = Path(options["episode"])
        match = EPISODE_RE.match(path.name)
        if match is None:
            raise ValueError(f"options['episode'] must be an episode directory STORE/GAME/ep_NNNNNN, got {path}")
        episode = load_episode(EpisodeRef(path.parent.name, int(match.group(1)), path.parent.parent))
        count = min(context_frames, len(episode.frames))
        return np.asarray(episode.frames[:count]), np.asarray(episode.actions[: count - 1], dtype=np.int64)
    return None


class DreamBatch:
    """``num_envs`` dreams of one world model, stepped together.

    Args:
        num_envs: number of dreams (the batch of every forward pass).
        checkpoint: a shipped checkpoint name (``"smb"``) or a world-model directory; or pass ``world_model``.
        world_model: an already loaded :class:`WorldModel` (shared between envs, e.g. in tests). The batch reads its
            settings once and never changes them.
        device: torch device of a model loaded from ``checkpoint``.
        max_episode_steps: all dreams are truncated together after this many steps (``None``: never).
        reward_top_fraction: fraction of most uncertain tokens averaged into the reward
            (:func:`genie_gym.uncertainty.transition_uncertainty`, the real game's definition too).
        reward: what a step pays, one of :data:`DREAM_REWARDS`: ``"uncertainty"`` (default) or ``"none"`` (0.0 and
            no map, faster). It can be changed between steps (:attr:`reward`).
        **settings: :class:`DreamSettings` by name; ``None`` or left out: ``dream.json``'s.
    """

    def __init__(self, num_envs: int = 1, checkpoint: str | Path = "smb", world_model: WorldModel | None = None,
                 device: str = "cpu", max_episode_steps: int | None = None, reward_top_fraction: float = 0.25,
                 reward: str = "uncertainty", **settings: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, int | np.integer) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1 or None (no limit), got {max_episode_steps}")
        use_one_thread_if_forked()  # before any torch work: a forked worker (AsyncVectorEnv) hangs otherwise
        self.world_model = world_model if world_model is not None else WorldModel.from_pretrained(checkpoint, device)
        self.world_model.require_ground_truth_actions()
        self.settings = DreamSettings.resolve(self.world_model.settings, **settings)
        self.game = str(self.world_model.settings["game"])
        self.num_envs = int(num_envs)
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        TokenEntropyReward(reward_top_fraction)  # one clear error for a bad fraction, before any dream
        self.reward_top_fraction = float(reward_top_fraction)
        self.reward = reward
        # the reward's context: each dream's last REWARD_CONTEXT_FRAMES frames and the actions between them, kept
        # whatever `reward` is, so that turning the reward on mid-dream pays what it would have paid all along
        self.reward_frames: np.ndarray | None = None  # uint8 (num_envs, T, 64, 64, 3)
        self.reward_actions: np.ndarray | None = None  # int64 (num_envs, T - 1)
        # the last step's transition (its context and action) and, once computed, its (rewards, maps)
        self._last_transition: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._last_uncertainty: tuple[np.ndarray, np.ndarray] | None = None
        self.single_observation_space = gym.spaces.Box(0, 255, (FRAME_SIZE, FRAME_SIZE, 3), dtype=np.uint8)
        self.single_action_space = gym.spaces.Discrete(NUM_ACTIONS)
        self.generator = torch.Generator(self.world_model.device)  # sampling noise drawn where the model runs
        self.state: DreamState | None = None
        self.frames: np.ndarray | None = None  # uint8 (num_envs, 64, 64, 3): each dream's latest frame
        self.steps = 0
        self.real_env: GenieRetroEnv | None = None  # made at the first real-game context
        self.base_seed, self.episode = 0, 0  # the seed schedule of start_in_lockstep

    @property
    def reward(self) -> str:
        """What :meth:`step` pays, one of :data:`DREAM_REWARDS`; setting it applies from the next step."""
        return self._reward

    @reward.setter
    def reward(self, value: str) -> None:
        self._reward = check_reward(value)

    @property
    def truncated(self) -> bool:
        """Whether the dreams have reached ``max_episode_steps``."""
        return self.max_episode_steps is not None and self.steps >= self.max_episode_steps

    def seed(self, base_seed: int) -> None:
        """Restart the seed schedule of :meth:`start_in_lockstep` from ``base_seed``."""
        self.base_seed, self.episode = int(base_seed), 0

    def start(self, frames: np.ndarray, actions: np.ndarray, generator_seed: int) -> np.ndarray:
        """Start dreams from contexts uint8 ``(num_envs, T, 64, 64, 3)`` and int64 ``(num_envs, T - 1)``, sampling
        noise seeded with ``generator_seed``; returns each context's last frame uint8 ``(num_envs, 64, 64, 3)``."""
        self.generator.manual_seed(int(generator_seed))
        self.state = self.world_model.start(frames, actions)
        self.frames = frames[:, -1].copy()
        first = frames.shape[1] - min(REWARD_CONTEXT_FRAMES, frames.shape[1])
        self.reward_frames = np.array(frames[:, first:])
        self.reward_actions = np.array(actions[:, first:], dtype=np.int64).reshape(len(frames), -1)
        self._last_transition = self._last_uncertainty = None
        self.steps = 0
        return self.frames

    def start_in_lockstep(self) -> np.ndarray:
        """Start the next dreams of the seed schedule: in episode ``e`` (counted from :meth:`seed`) dream ``i``
        starts from the real game reset with seed ``base_seed + e * num_envs + i``."""
        seeds = [self.base_seed + self.episode * self.num_envs + i for i in range(self.num_envs)]
        frames, actions = self.real_contexts(seeds, np.random.default_rng([self.base_seed, self.episode]))
        obs = self.start(frames, actions, self.base_seed * 7919 + self.episode)
        self.episode += 1
        return obs

    def context(self, seed: int | None, options: dict[str, Any],
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One dream's context ``(frames (T, 64, 64, 3), actions (T - 1,))``: the one in ``options``
        (:func:`context_from_options`), else the real game reset with ``seed`` (``None``: a seed drawn from
        ``rng``) and played with actions drawn from ``rng``."""
        given = context_from_options(options, self.settings.context_frames)
        if given is not None:
            return given
        seed = seed if seed is not None else int(rng.integers(0, 2**31))
        frames, actions = self.real_contexts([seed], rng)
        return frames[0], actions[0]

    def real_contexts(self, seeds: Sequence[int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Contexts from the real game, one per seed: reset with it, then ``context_frames - 1`` actions drawn from
        ``rng``. Returns ``(frames uint8 (S, context_frames, 64, 64, 3), actions int64 (S, context_frames - 1))``."""
        if self.real_env is None:
            self.real_env = context_env(self.game)
        all_frames, all_actions = [], []
        for seed in seeds:
            obs, _ = self.real_env.reset(seed=int(seed))
            frames, actions = [obs], []
            for _ in range(self.settings.context_frames - 1):
                action = int(rng.integers(0, NUM_ACTIONS))
                obs, *_ = self.real_env.step(action)
                frames.append(obs)
                actions.append(action)
            all_frames.append(np.stack(frames))
            all_actions.append(np.asarray(actions, dtype=np.int64))
        return np.stack(all_frames), np.stack(all_actions)

    def require_started(self) -> None:
        """Raise the error of a step before the first reset."""
        if self.state is None:
            raise RuntimeError("call reset() before step()")

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Dream the next frame of every dream from int actions ``(num_envs,)``. Returns ``(frames uint8
        (num_envs, 64, 64, 3), rewards float32 (num_envs,), uncertainty maps float32 (num_envs, h, w) or None)``.

        With ``reward="uncertainty"`` the rewards and maps are :meth:`last_step_uncertainty`:
        :func:`~genie_gym.uncertainty.transition_uncertainty` of the dream's last frames and the action, as the real
        game's reward is of the real frames (docs/DESIGN.md §7), not the entropies the dream sampled its frame with.
        With ``reward="none"`` the rewards are 0.0 and the maps ``None``; the frames are the same."""
        self.require_started()
        actions = self.world_model._validate_actions(np.asarray(actions).reshape(-1, 1), self.num_envs, 1)[:, 0]
        self._last_transition = (self.reward_frames, self.reward_actions, actions)
        self._last_uncertainty = None
        rewards, maps = (self.last_step_uncertainty() if self.reward == "uncertainty"
                         else (np.zeros(self.num_envs, np.float32), None))
        frames, _ = self.world_model.step(self.state, actions, self.settings, self.generator)
        self.frames = frames
        self.steps += 1
        keep = REWARD_CONTEXT_FRAMES - 1  # frames (and actions between them) kept besides the new one
        self.reward_frames = np.concatenate([self.reward_frames[:, self.reward_frames.shape[1] - keep:],
                                             frames[:, None]], axis=1)
        moves = np.concatenate([self.reward_actions, actions[:, None]], axis=1)
        self.reward_actions = moves[:, moves.shape[1] - (self.reward_frames.shape[1] - 1):]
        return frames, rewards, maps

    def last_step_uncertainty(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The uncertainty reward of the last step and its maps, ``(rewards float32 (num_envs,), maps float32
        (num_envs, h, w))``, what that step paid with ``reward="uncertainty"`` whatever ``reward`` was then: computed
        now if the step did not (``reward="none"``), once. ``None`` before a dream's first step."""
        if self._last_transition is None:
            return None
        if self._last_uncertainty is None:
            frames, actions, action = self._last_transition
            self._last_uncertainty = transition_uncertainty(self.world_model, frames, actions, action,
                                                            self.reward_top_fraction)
        return self._last_uncertainty

    def close(self) -> None:
        """Release the real game used for contexts."""
        if self.real_env is not None:
            self.real_env.close()
            self.real_env = None

    def __getstate__(self) -> dict[str, Any]:
        """``copy.deepcopy`` / ``pickle`` copy the dreams (model, state, sampling noise) but not the real game used for
        contexts (one emulator per process; made again at the next real-game context)."""
        return {**self.__dict__, "real_env": None}


def _setting(name: str) -> property:
    def set_value(self: DreamView, value: Any) -> None:  # checked again, as a new DreamSettings
        self.dreams.settings = replace(self.dreams.settings, **{name: value})

    return property(lambda self: getattr(self.dreams.settings, name), set_value,
                    doc=f"The dreams' ``{name}`` (:class:`DreamSettings`); setting it applies from "
                        "the next step (``context_frames``: the next reset).")


class DreamView:
    """What every dream env shows of its engine, ``self.dreams`` (a :class:`DreamBatch`)."""

    dreams: DreamBatch
    context_frames = _setting("context_frames")
    maskgit_steps = _setting("maskgit_steps")
    temperature = _setting("temperature")
    action_guidance = _setting("action_guidance")
    hold_pixels = _setting("hold_pixels")
    hold_tolerance = _setting("hold_tolerance")
    hold_bias = _setting("hold_bias")
    change_temperature = _setting("change_temperature")

    @property
    def reward(self) -> str:
        """What a step pays, one of :data:`DREAM_REWARDS` (``"uncertainty"`` or ``"none"``); setting it applies from
        the next step."""
        return self.dreams.reward

    @reward.setter
    def reward(self, value: str) -> None:
        self.dreams.reward = value

    @property
    def world_model(self) -> WorldModel:
        """The world model that dreams."""
        return self.dreams.world_model

    @property
    def settings(self) -> DreamSettings:
        """The sampling settings."""
        return self.dreams.settings

    @property
    def game(self) -> str:
        """The real game the dreams start from (``dream.json``'s ``game``)."""
        return self.dreams.game

    @property
    def max_episode_steps(self) -> int | None:
        """The dreams' own step limit (``None``: none)."""
        return self.dreams.max_episode_steps
