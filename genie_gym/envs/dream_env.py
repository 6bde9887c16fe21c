"""``GenieDreamEnv``: a trained world model behind the same interface as the real game.

Observation: RGB uint8 ``(64, 64, 3)`` dreamed frames. Actions: ``Discrete(5)`` (RIGHT, LEFT, UP, DOWN, JUMP).
Reward: token-entropy uncertainty of the predicted frame (normalised entropy, mean of the top 25% tokens), the
AutoExplore signal; ``info["uncertainty_map"]`` holds the per-token map ``(h, w)``. The dream never terminates. Its one
step limit is Gymnasium's: ``gym.make`` wraps it in ``TimeLimit`` (the registered ``max_episode_steps``, 1000, or
``gym.make(id, max_episode_steps=N)``); an env built directly runs until ``max_episode_steps`` if given, else forever.
Past frames beyond ``context_window`` are dropped, so memory stays flat.

Where the context of a dream comes from, per ``reset``:
- default: the real game (``GenieRetroEnv``) reset with the same seed, played for ``context_frames - 1`` seeded
  random actions;
- ``options={"frames": uint8 (T, 64, 64, 3), "actions": int (T - 1,)}``: frames you pass;
- ``options={"episode": "STORE/SMB/ep_000003"}``: the first frames of a stored episode.

Other option keys are rejected with the list of valid ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from genie_gym.conventions import FRAME_SIZE, NUM_ACTIONS, validate_action, validate_frames
from genie_gym.fork_safety import use_one_thread_if_forked
from genie_gym.render_window import FrameWindow, require_display
from genie_gym.uncertainty import TokenEntropyReward
from genie_gym.world_model import DreamState, WorldModel


class GenieDreamEnv(gym.Env):
    """A dream of a retro game produced by a GenieRedux-G world model.

    Args:
        checkpoint: a shipped checkpoint name (``"smb"``) or a world-model directory; or pass ``world_model``.
        world_model: an already loaded :class:`WorldModel` (shared between envs, e.g. in tests).
        max_episode_steps: for an env built directly, truncate after this many steps (``None``: never). Through
            ``gym.make`` leave it out: the registered limit (``gym.make(id, max_episode_steps=N)``) is Gymnasium's
            ``TimeLimit`` wrapper, visible in ``env.spec.max_episode_steps``.
        context_frames: real frames used to start a dream (default from the checkpoint's ``dream.json``).
        maskgit_steps, temperature, action_guidance: sampling settings (defaults from ``dream.json``); a guidance
            weight ``w > 0`` pushes each frame towards what the action changes, at ``num_actions`` times the
            compute (see genie_gym.models.maskgit).
        reward_top_fraction: fraction of most uncertain tokens averaged into the reward.
        render_mode: ``"rgb_array"`` (``render()`` returns the 64x64 frame), ``"human"`` (a pygame window; needs a
            display or ``SDL_VIDEODRIVER=dummy``) or ``None`` (``render()`` returns ``None``).
        device: torch device.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 15}
    RESET_OPTIONS = ("frames", "actions", "episode")

    def __init__(self, checkpoint: str | Path = "smb", world_model: WorldModel | None = None,
                 max_episode_steps: int | None = None, context_frames: int | None = None,
                 maskgit_steps: int | None = None, temperature: float | None = None, reward_top_fraction: float = 0.25,
                 render_mode: str | None = None, device: str = "cpu", action_guidance: float | None = None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be >= 1 or None (no limit), got {max_episode_steps}")
        if render_mode == "human":
            require_display("render_mode='human' (a pygame window)")
        use_one_thread_if_forked()  # before any torch work: a forked worker (AsyncVectorEnv) hangs otherwise
        self.world_model = world_model if world_model is not None else WorldModel.from_pretrained(checkpoint, device)
        self.world_model.require_ground_truth_actions()
        settings = self.world_model.settings
        self.game = str(settings["game"])
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self.context_frames = int(context_frames or settings["context_frames"])
        self.maskgit_steps = int(maskgit_steps or settings["maskgit_steps"])
        self.temperature = float(settings["temperature"] if temperature is None else temperature)
        self.action_guidance = self.world_model.guidance_weight(action_guidance)
        self.reward_fn = TokenEntropyReward(reward_top_fraction)
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0, 255, (FRAME_SIZE, FRAME_SIZE, 3), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(NUM_ACTIONS)
        self._real_env = None
        self._state: DreamState | None = None
        self._generator = torch.Generator(self.world_model.device)  # sampling noise drawn where the model runs
        self._frame: np.ndarray | None = None
        self._steps = 0
        self._window: FrameWindow | None = None

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new dream; returns ``(obs uint8 (64, 64, 3), info)``. See the module doc for ``options``."""
        super().reset(seed=seed)
        self._generator.manual_seed(int(self.np_random.integers(0, 2**62)))
        frames, actions = self._context(seed, options or {})
        self._state = self.world_model.start(frames[None], actions[None])
        self._frame = frames[-1].copy()
        self._steps = 0
        if self.render_mode == "human":
            self.render()
        return self._frame.copy(), {"context_frames": len(frames)}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Dream the next frame; returns ``(obs, uncertainty reward, False, truncated, info)``."""
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        action = validate_action(action)
        frames, uncertainty = self.world_model.step(self._state, np.array([action]), self.maskgit_steps,
                                                    self.temperature, self._generator, self.action_guidance)
        self._frame = frames[0]
        self._steps += 1
        reward = float(self.reward_fn(uncertainty)[0])
        truncated = self.max_episode_steps is not None and self._steps >= self.max_episode_steps
        info = {"uncertainty_map": uncertainty[0].numpy(), "step": self._steps}
        if self.render_mode == "human":
            self.render()
        return self._frame.copy(), reward, False, truncated, info

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the current 64x64 frame; ``human``: draw it in a pygame window (returns ``None``);
        ``render_mode=None``: ``None``, as Gymnasium specifies (the frame is the observation)."""
        if self._frame is None or self.render_mode is None:
            return None
        if self.render_mode == "human":
            if self._window is None:
                self._window = FrameWindow(title=f"GenieDream-{self.game}", scale=6)
            self._window.show(self._frame)
            return None
        return self._frame.copy()

    def close(self) -> None:
        """Release the real env used for contexts and any window."""
        if self._window is not None:
            self._window.close()
            self._window = None
        if self._real_env is not None:
            self._real_env.close()
            self._real_env = None

    def __getstate__(self) -> dict[str, Any]:
        """``copy.deepcopy`` / ``pickle`` copy the dream (model, state, sampling noise) but not the real game used for
        default contexts (one emulator per process; made again at the next such reset) nor the window."""
        state = self.__dict__.copy()
        state["_real_env"] = None
        state["_window"] = None
        return state

    def _context(self, seed: int | None, options: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        if not isinstance(options, dict):
            raise ValueError(f"reset options must be a dict with keys {list(self.RESET_OPTIONS)}, got "
                             f"{type(options).__name__}")
        unknown = sorted(str(key) for key in options if key not in self.RESET_OPTIONS)
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
            from genie_gym.data.store import EPISODE_RE, EpisodeRef, load_episode

            path = Path(options["episode"])
            match = EPISODE_RE.match(path.name)
            if match is None:
                raise ValueError(f"options['episode'] must be an episode directory STORE/GAME/ep_NNNNNN, got {path}")
            episode = load_episode(EpisodeRef(path.parent.name, int(match.group(1)), path.parent.parent))
            count = min(self.context_frames, len(episode.frames))
            return np.asarray(episode.frames[:count]), np.asarray(episode.actions[: count - 1], dtype=np.int64)
        return self._real_context(seed)

    def _real_context(self, seed: int | None) -> tuple[np.ndarray, np.ndarray]:
        from genie_gym.envs.retro_env import context_env

        if self._real_env is None:
            self._real_env = context_env(self.game)
        obs, _ = self._real_env.reset(seed=seed if seed is not None else int(self.np_random.integers(0, 2**31)))
        frames, actions = [obs], []
        for _ in range(self.context_frames - 1):
            action = int(self.np_random.integers(0, NUM_ACTIONS))
            obs, *_ = self._real_env.step(action)
            frames.append(obs)
            actions.append(action)
        return np.stack(frames), np.asarray(actions, dtype=np.int64)
