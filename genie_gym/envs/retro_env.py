"""``GenieRetroEnv``: a real retro game (stable-retro) behind the shared genie-gym interface.

Observation: RGB uint8 ``(64, 64, 3)`` (full frame padded to a square, ``INTER_AREA``-resized).
Actions: ``Discrete(5)`` — ``0 RIGHT, 1 LEFT, 2 UP, 3 DOWN, 4 JUMP`` — mapped to the game's buttons by the
annotation table. Each action is held for ``frame_skip`` emulator frames; the last one is the observation.
The full-resolution frame stays reachable through :attr:`GenieRetroEnv.full_frame` (and ``info["full_frame"]``
when ``full_frame_in_info=True``). The one step limit is Gymnasium's: ``gym.make`` wraps the env in ``TimeLimit``
(the registered ``max_episode_steps``, 1000, or ``gym.make(id, max_episode_steps=N)``); an env built directly runs
until the game ends, or ``max_episode_steps`` if given.

stable-retro allows one emulator per process. Several ``GenieRetroEnv`` objects in one process share it: the
env that needs the emulator takes it, and the env that held it saves its full emulator state and gets it back
(state restored) the next time it is used. Envs of the same game and start state hand the emulator over (~0.5 ms per
switch, measured by ``benchmarks/real_envs_per_process.py`` on the 2-core VM); another game needs a new emulator,
and stable-retro runs Python's full garbage collection before it makes one (~70 ms per switch once torch is imported,
~10 ms without). So several real games belong in subprocesses (``gym.make_vec(id, num_envs=N)``, whose default runs
one per process, or SB3 ``SubprocVecEnv``); the first time two live envs take turns, a process warns once
(:class:`SharedEmulatorWarning`).
The restore is exact for SMB, Airstriker and 27 of the Atari games; stable-retro's Atari core
does not save the full state of Pong, Breakout, Qbert, MontezumaRevenge and Jamesbond, whose runs drift after a
switch (use one env per process for those when exactness matters). For the same reason an env cannot be copied or
pickled (:class:`EnvCopyError`): make a new one, in another process for several at once.
"""

from __future__ import annotations

import gc
import warnings
import weakref
from typing import Any

import gymnasium as gym
import numpy as np

from genie_gym.conventions import (
    FRAME_SIZE,
    FRAME_SKIP,
    NUM_ACTIONS,
    preprocess_frame,
    validate_action,
)
from genie_gym.games import Game, get_game
from genie_gym.render_window import FrameWindow, require_display
from genie_gym.roms import check_start_state, default_start_state, register_custom_integrations, require_rom


class EmulatorBusyError(RuntimeError):
    """Raised when a second emulator is opened in a process that already has one."""


class EnvCopyError(TypeError):
    """Raised by ``copy.deepcopy`` / ``pickle`` of a real-game env: its emulator cannot be duplicated."""


class SharedEmulatorWarning(UserWarning):
    """Warned once per process, the first time a real-game env takes the process's one emulator back from another
    live env: several real games are stepped in turn in one process (not when a second env is only made and closed
    again, as gymnasium's ``check_env`` does for the render modes)."""


SHARED_EMULATOR_MESSAGE = (
    "several real games in one process share its one emulator (stable-retro allows one per process): they step one at "
    "a time and every switch between them saves and restores the emulator's state (~0.5 ms for the same game, ~70 ms "
    "for another game, whose emulator is made again): run them in subprocesses with gym.make_vec(id, num_envs=N) "
    "(its default for GenieRetro ids, or vectorization_mode=\"async\") or SB3 SubprocVecEnv"
)


class GenieRetroEnv(gym.Env):
    """A real stable-retro game with 64x64 observations and the shared 5-action space.

    Args:
        game: short name (``"SMB"``) or stable-retro name of an annotated game.
        max_episode_steps: for an env built directly, truncate the episode after this many agent steps (``None``:
            only when the game ends). Through ``gym.make`` leave it out: the registered limit
            (``gym.make(id, max_episode_steps=N)``) is Gymnasium's ``TimeLimit``, visible in ``env.spec``.
        frame_skip: emulator frames per agent step (the action is held for all of them).
        render_mode: ``"rgb_array"`` (``render()`` returns the full-resolution frame), ``"human"`` (a pygame window;
            needs a display or ``SDL_VIDEODRIVER=dummy``) or ``None`` (``render()`` returns ``None``; the frame stays
            in :attr:`full_frame`).
        state: stable-retro start state (``"Level2-1"``; ``genie_gym.roms.start_states(game.retro_game)`` lists a
            game's states, SMB has 12); ``None`` uses the game's default (``"Level1-1"`` for SMB). An unknown name
            raises :class:`genie_gym.roms.UnknownStateError` (a ``ValueError``) that lists the game's states.
        noop_reset_max: on reset, a seeded random number in ``[0, noop_reset_max]`` of emulator frames is run with
            no button pressed, so episodes of the same game start at slightly different moments.
        full_frame_in_info: also return the full-resolution ``(H, W, 3)`` uint8 frame in ``info["full_frame"]``.
        frame_size: side of the square observation (64 by the shared convention).
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 60 // FRAME_SKIP}
    _warns_on_sharing = True  # SharedEmulatorWarning when this env and another one share the emulator

    def __init__(
        self,
        game: str = "SMB",
        max_episode_steps: int | None = None,
        frame_skip: int = FRAME_SKIP,
        render_mode: str | None = None,
        state: str | None = None,
        noop_reset_max: int = 30,
        full_frame_in_info: bool = False,
        frame_size: int = FRAME_SIZE,
    ) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        if (max_episode_steps is not None and max_episode_steps < 1) or frame_skip < 1 or noop_reset_max < 0:
            raise ValueError("max_episode_steps (or None) and frame_skip must be >= 1 and noop_reset_max >= 0, got "
                             f"{max_episode_steps}, {frame_skip}, {noop_reset_max}")
        if render_mode == "human":
            require_display("render_mode='human' (a pygame window)")
        self.game: Game = get_game(game)
        if state is not None:
            state = check_start_state(self.game.retro_game, state)  # one clear error listing the game's states
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self.frame_skip = int(frame_skip)
        self.noop_reset_max = int(noop_reset_max)
        self.full_frame_in_info = full_frame_in_info
        self.frame_size = int(frame_size)
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(0, 255, (self.frame_size, self.frame_size, 3), dtype=np.uint8)
        self.action_space = gym.spaces.Discrete(NUM_ACTIONS)

        self._state = state
        self._retro = None
        self._suspended_state: bytes | None = None
        self._closed = False
        emulator = self._emulator()
        self._button_names: list[str | None] = list(emulator.buttons)
        self._button_vectors = _button_vectors(self.game, self._button_names)
        self._no_buttons = np.zeros(len(self._button_names), dtype=np.int8)
        self._full_frame: np.ndarray | None = None
        self._steps = 0
        self._window: FrameWindow | None = None

    @property
    def full_frame(self) -> np.ndarray:
        """The last full-resolution emulator frame, RGB uint8 ``(H, W, 3)`` (224x240 on the NES)."""
        if self._full_frame is None:
            raise RuntimeError("call reset() before reading full_frame")
        return self._full_frame

    def frame_at(self, size: int) -> np.ndarray:
        """The current emulator frame as a ``(size, size, 3)`` uint8 frame, made exactly as the observation is
        (padded to a square with black, ``INTER_AREA``-resized; docs/DESIGN.md §3.1): ``frame_at(256)`` is the
        high-resolution frame ``genie collect --hires`` stores next to the 64x64 observation."""
        return preprocess_frame(self.full_frame, int(size))

    @property
    def start_state(self) -> str | None:
        """The stable-retro state every reset starts from: the ``state`` given, else the game's default
        (``"Level1-1"`` for SMB); ``None`` for a game that starts from power-on."""
        return self._state if self._state is not None else default_start_state(self.game.retro_game)

    @property
    def buttons(self) -> list[str | None]:
        """The emulator's button names, in the order of its MultiBinary action."""
        return list(self._button_names)

    def ram(self) -> np.ndarray:
        """A copy of the emulator's RAM (for tests and RAM-based probes such as Mario's position)."""
        return np.array(self._emulator().get_ram())

    def _emulator(self):
        """This env's stable-retro env, taking the process's single emulator from another env if needed."""
        if self._closed:
            raise RuntimeError(f"{self.game.env_id} is closed; make a new env")
        if self._retro is None:
            holder = _EMULATOR_HOLDER[0]() if _EMULATOR_HOLDER[0] is not None else None
            retro = None
            if holder is not None and holder is not self:
                if self._suspended_state is not None and self._warns_on_sharing and holder._warns_on_sharing:
                    _warn_shared_emulator()  # it takes the emulator back from another live env: they alternate
                if holder._retro is not None and holder._emulator_key == self._emulator_key:
                    retro = holder._hand_over()  # same game and start state: no new emulator
                else:
                    holder._suspend()
            self._retro = retro if retro is not None else _make_emulator(self.game, self._state)
            if self._suspended_state is not None:
                self._retro.reset()  # as a fresh emulator would be (then the saved state replaces the reset one)
                self._retro.em.set_state(self._suspended_state)
                self._retro.data.update_ram()
                self._suspended_state = None
            elif retro is not None:
                self._retro.reset()  # a new env that took another's emulator starts from the game's start state
            _EMULATOR_HOLDER[0] = weakref.ref(self)
        return self._retro

    @property
    def _emulator_key(self) -> tuple[str, str | None]:
        """Envs with the same key can share one stable-retro env (same game, same start state)."""
        return self.game.retro_game, self._state

    def _hand_over(self):
        """Save the emulator state and give this env's stable-retro env (open) to another env of the same game."""
        retro, self._retro = self._retro, None
        self._suspended_state = retro.em.get_state()
        return retro

    def _suspend(self) -> None:
        """Save the emulator state and release the emulator so another env of this process can use it."""
        if self._retro is not None:
            self._suspended_state = self._retro.em.get_state()
            self._release()

    def _release(self) -> None:
        if self._retro is not None:
            # closing deletes the emulator object; stable-retro collects any leftover before it makes the next one
            self._retro.close()
            self._retro = None
            if _EMULATOR_HOLDER[0] is not None and _EMULATOR_HOLDER[0]() is self:
                _EMULATOR_HOLDER[0] = None

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the game; returns ``(obs (64, 64, 3) uint8, info)``. A real game takes no ``options``."""
        if options:
            raise ValueError(f"{self.game.env_id} takes no reset options, got {sorted(map(str, options))}: call "
                             "reset(seed=...) only (a start state is chosen with gym.make(..., state=NAME))")
        super().reset(seed=seed)
        emulator = self._emulator()
        frame, _ = emulator.reset(seed=seed)
        info: dict[str, Any] = {}
        noops = int(self.np_random.integers(0, self.noop_reset_max + 1)) if self.noop_reset_max else 0
        for _ in range(noops):
            frame, _, _, _, info = emulator.step(self._no_buttons)
        self._full_frame = frame
        self._steps = 0
        info = self._make_info(info)
        if self.render_mode == "human":
            self.render()
        return preprocess_frame(frame, self.frame_size), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Hold ``action`` for ``frame_skip`` frames; returns ``(obs, reward, terminated, truncated, info)``.

        The reward is the game's own scenario reward summed over the skipped frames (genie-gym's agents do not
        use it; the world-model reward lives in the dream env).
        """
        if self._full_frame is None:
            raise RuntimeError("call reset() before step()")
        buttons = self._button_vectors[validate_action(action)]
        total_reward = 0.0
        terminated = False
        info: dict[str, Any] = {}
        frame = self._full_frame
        emulator = self._emulator()
        for _ in range(self.frame_skip):
            frame, reward, terminated, _, info = emulator.step(buttons)
            total_reward += float(reward)
            if terminated:
                break
        self._full_frame = frame
        self._steps += 1
        truncated = (self.max_episode_steps is not None and self._steps >= self.max_episode_steps
                     and not terminated)
        if self.render_mode == "human":
            self.render()
        obs = preprocess_frame(frame, self.frame_size)
        return obs, total_reward, bool(terminated), truncated, self._make_info(info)

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the full-resolution frame; ``human``: draw it in a pygame window (returns ``None``);
        ``render_mode=None``: ``None``, as Gymnasium specifies (:attr:`full_frame` holds the frame)."""
        if self._full_frame is None or self.render_mode is None:
            return None
        if self.render_mode == "human":
            if self._window is None:
                self._window = FrameWindow(title=self.game.env_id)
            self._window.show(self._full_frame)
            return None
        return self._full_frame.copy()

    def close(self) -> None:
        """Release the emulator (so another one can be opened in this process) and any window."""
        if self._window is not None:
            self._window.close()
            self._window = None
        if getattr(self, "_retro", None) is not None:
            self._release()
        self._closed = True

    def __getstate__(self) -> dict[str, Any]:
        """Refuse ``copy.deepcopy`` / ``pickle`` with :class:`EnvCopyError` (one emulator per process)."""
        raise EnvCopyError(f"{self.game.env_id} cannot be copied or pickled (stable-retro allows one emulator per "
                           f"process): make another with gym.make({self.game.env_id!r}), in another process for "
                           "several at once (gymnasium AsyncVectorEnv, SB3 SubprocVecEnv)")

    def _make_info(self, retro_info: dict[str, Any]) -> dict[str, Any]:
        info = {"game": self.game.name, "step": self._steps, **dict(retro_info)}
        if self.full_frame_in_info:
            info["full_frame"] = self._full_frame.copy()
        return info


class _ContextRetroEnv(GenieRetroEnv):
    """The real game a dream env plays at reset to start its dream from: sharing the emulator with it is expected
    (a few steps per reset, no stepping in turn with the user's games), so it does not warn."""

    _warns_on_sharing = False


def context_env(game: str) -> GenieRetroEnv:
    """A real game for the contexts of dreams (``GenieDreamEnv``, ``GenieDreamVecEnv``): no SharedEmulatorWarning."""
    return _ContextRetroEnv(game)


_EMULATOR_HOLDER: list[weakref.ref | None] = [None]  # the env of this process that holds the emulator
_WARNED_SHARED_EMULATOR = [False]  # SharedEmulatorWarning is given once per process


def _warn_shared_emulator() -> None:
    if not _WARNED_SHARED_EMULATOR[0]:
        _WARNED_SHARED_EMULATOR[0] = True
        warnings.warn(SHARED_EMULATOR_MESSAGE, SharedEmulatorWarning, stacklevel=4)


def _make_emulator(game: Game, state: str | None):
    import stable_retro  # here: `import genie_gym` imports this module and does not load the emulator

    register_custom_integrations()
    kwargs: dict[str, Any] = {}
    if state is not None:
        kwargs["state"] = state

    def make():
        return stable_retro.make(
            game.retro_game,
            inttype=stable_retro.data.Integrations.ALL,
            use_restricted_actions=stable_retro.Actions.ALL,
            render_mode="rgb_array",
            **kwargs,
        )

    try:
        try:
            return make()
        except FileNotFoundError:
            require_rom(game.retro_game)  # raises RomMissingError naming `genie roms install`
            raise
        except RuntimeError as exc:
            if "multiple emulator" not in str(exc):
                raise
            gc.collect()  # an unreachable env that was never closed may still hold the emulator
            return make()
    except RuntimeError as exc:
        if "multiple emulator" in str(exc):
            raise EmulatorBusyError(
                "stable-retro allows one emulator per process: close() the other env first, "
                "or run envs in subprocesses (gymnasium.vector.AsyncVectorEnv / SB3 SubprocVecEnv)"
            ) from exc
        raise


def _button_vectors(game: Game, emulator_buttons: list[str | None]) -> list[np.ndarray]:
    """For each shared action, the MultiBinary button vector that presses its annotated buttons."""
    vectors = []
    for action_buttons in game.buttons:
        vector = np.zeros(len(emulator_buttons), dtype=np.int8)
        for name in action_buttons:
            if name not in emulator_buttons:
                raise ValueError(
                    f"annotation for {game.name} names button {name!r}, which {game.platform} does not have "
                    f"(buttons: {[b for b in emulator_buttons if b]}); fix genie_gym/annotations.csv"
                )
            vector[emulator_buttons.index(name)] = 1
        vectors.append(vector)
    return vectors


def level_camera_x(info: dict[str, Any]) -> int | None:
    """Horizontal camera position in level pixels read from the emulator's RAM variables in ``info``
    (``xscrollHi * 256 + xscrollLo``, Super Mario Bros; 0 on the first screen), or ``None`` for a game without them."""
    if "xscrollHi" not in info or "xscrollLo" not in info:
        return None
    return int(info["xscrollHi"]) * 256 + int(info["xscrollLo"])
