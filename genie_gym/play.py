"""``genie play``: play a real game or a dream with the keyboard in a pygame window.

Keys: arrows = RIGHT/LEFT/UP/DOWN, space = JUMP (no key held = UP, the action closest to a no-op; the shared action
space has no NOOP). ``Tab`` toggles dream ↔ real from the same moment (the dream restarts from the real game's
latest frames), ``B`` toggles side-by-side real | dream driven by the same keys, ``P`` pauses, ``N`` steps once
while paused, ``R`` resets, ``Esc``/``Q`` quits. With ``--policy`` a trained policy plays and ``A`` toggles between
it and the keyboard at any moment; ``U`` toggles the heat map of the dream's per-token uncertainty over the dream
panel. The dream computes its uncertainty (one more tokenizer and dynamics pass per step, docs/DESIGN.md §7) only
while the map is shown, and the header shows the number then: without it the fast dream setting plays more frames per
second (the dream env's ``reward="none"``; docs/BENCHMARKS.md).

Upscaling (``--upscale``, on by default when the game's super-resolution network is installed,
``checkpoints/upscaler-smb``): every 64x64 panel is drawn through the U-Net (``genie_gym.models.upscaler``) instead of
being blown up pixel by pixel; without a network ``--upscale`` uses bicubic. Recordings show the same.

Headless: with ``SDL_VIDEODRIVER=dummy`` and ``--actions FILE`` (one action per line, as a name or an index) it runs
without a screen; ``--record out.gif|out.mp4`` writes what the window shows and ``--record-store DIR`` writes the
real game's frames and actions as an episode of the store (so a human's play becomes training data). On Linux
without ``DISPLAY`` / ``WAYLAND_DISPLAY`` and without ``SDL_VIDEODRIVER`` it stops with an error instead of playing
in a window nobody sees. A policy plays headless too: ``--policy`` with ``--max-steps N`` instead of ``--actions``.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from genie_gym.atomic import atomic_path
from genie_gym.commands.play_command import PlaySettings
from genie_gym.conventions import ACTION_NAMES
from genie_gym.data.store import EpisodeStore
from genie_gym.envs.registration import resolve_env_id
from genie_gym.image_grid import image_grid
from genie_gym.models.configs import DreamSettings
from genie_gym.models.upscaler import FrameUpscaler, shipped_upscaler_dir
from genie_gym.render_window import HEADLESS_HINT, require_display

# Imported where used, since `genie --help` imports this module: pygame (only once a window opens), imageio (only to
# write a --record file) and the policy agent (stable-baselines3, only with --policy).

HEADER_HEIGHT = 22
DEFAULT_ACTION = ACTION_NAMES.index("UP")
CONTEXT_ACTION = ACTION_NAMES.index("RIGHT")  # played on the real game to build a dream's context at reset
REAL_PREFIX = "GenieRetro-"
DREAM_PREFIX = "GenieDream-"


def read_action_script(path: str | Path) -> list[int]:
    """Read scripted actions: one per line, a name (``RIGHT``) or an index (``0``); ``#`` starts a comment."""
    actions = []
    for line_number, raw in enumerate(Path(path).read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.upper() in ACTION_NAMES:
            actions.append(ACTION_NAMES.index(line.upper()))
        elif line.isdigit() and int(line) < len(ACTION_NAMES):
            actions.append(int(line))
        else:
            raise ValueError(f"{path}:{line_number}: {line!r} is not an action; use one of {', '.join(ACTION_NAMES)} "
                             f"or 0-{len(ACTION_NAMES) - 1}")
    if not actions:
        raise ValueError(f"{path} holds no actions")
    return actions


def real_env_id(game: str) -> str | None:
    """The registered real env id of ``game`` (``GenieRetro-SMB-v0``), or ``None``."""
    env_id = f"{REAL_PREFIX}{game}-v0"
    return env_id if env_id in gym.registry else None


def dream_env_id(game: str) -> str | None:
    """The registered dream env id of ``game`` (``GenieDream-SMB-v0``), or ``None``."""
    env_id = f"{DREAM_PREFIX}{game}-v0"
    return env_id if env_id in gym.registry else None


@dataclass
class PlayState:
    """What the play loop shows and records.

    ``policy_plays``: the loaded policy chooses the actions (``A`` toggles it with the keyboard). ``overlay``: the
    dream panel shows the heat map of the dream's uncertainty (``U``), and only then does the dream compute it
    (``uncertainty``: the reward of the shown frame, ``None`` where it was not computed). ``real_players`` says, per
    real-game action, who chose it: ``"context"`` (the steps that build a dream's context at a reset), ``"keys"``,
    ``"script"`` or ``"policy"``.
    """

    showing_dream: bool
    side_by_side: bool
    paused: bool = False
    fps: float = 0.0
    uncertainty: float | None = None
    step: int = 0
    policy_plays: bool = False
    overlay: bool = False
    real_frames: list[np.ndarray] = field(default_factory=list)
    real_actions: list[int] = field(default_factory=list)
    real_players: list[str] = field(default_factory=list)
    finished_episodes: list[tuple[np.ndarray, np.ndarray, list[str]]] = field(default_factory=list)

    def archive_episode(self) -> None:
        """Keep the real game's frames/actions since the last reset as one finished episode, then clear them."""
        if len(self.real_frames) > 1:
            self.finished_episodes.append((np.stack(self.real_frames), np.asarray(self.real_actions, dtype=np.int64),
                                           list(self.real_players)))
        self.real_frames.clear()
        self.real_actions.clear()
        self.real_players.clear()


class PlaySession:
    """Drives a real env and/or a dream env from one action stream and composes the window image.

    Args:
        env_id: the id the user asked for (real or dream).
        seed: reset seed of both envs.
        side_by_side: start showing real | dream.
        context_frames: how many recent real frames seed the dream when toggling to it.
        sampling: the dream's sampling settings to override, by :class:`DreamSettings` name (the others, and those
            ``None``: the checkpoint's ``dream.json``'s), e.g. ``{"maskgit_steps": 1}``: 1-2 steps dream in real
            time on a CPU; ``action_guidance`` 1 makes the dreamed Mario answer RIGHT more reliably at 2.3x the time
            per frame; ``change_temperature`` 0.1 keeps a long dream scrolling (``genie_gym.models.maskgit``).
        policy: an agent with ``reset(seed)`` and ``act(obs uint8 (64, 64, 3)) -> int``
            (:func:`genie_gym.agents.policy_agent.load_policy`); it plays from the start, re-seeded at every reset.
        policy_sees: the frame the policy chooses on: ``"real"``, ``"dream"`` or ``None`` (the shown one: the dream
            while Tab shows it, else the real game; side by side, the env that was asked for or Tab chose). Before
            the dream runs (``dream_from``) the policy sees the real game.
        overlay: start with the heat map of the dream's uncertainty on (:meth:`toggle_overlay`).
    """

    def __init__(self, env_id: str, seed: int = 0, side_by_side: bool = False, context_frames: int = 4,
                 max_episode_steps: int = 100_000, dream_from: int = 0, sampling: Mapping[str, Any] | None = None,
                 policy=None, policy_sees: str | None = None, overlay: bool = False) -> None:
        if dream_from < 0:
            raise ValueError(f"dream_from must be >= 0 steps, got {dream_from}")
        if policy_sees not in (None, "real", "dream"):
            raise ValueError(f"policy_sees must be 'real' or 'dream' (or None: the shown frame), got {policy_sees!r}")
        self.seed = seed
        self.dream_from = int(dream_from)
        # checked now, as the dream env will check them: starting from the real game, it is made at the first Tab
        sampling = {name: value for name, value in (sampling or {}).items() if value is not None}
        DreamSettings.resolve(**sampling)
        self._dream_kwargs = {"max_episode_steps": max_episode_steps, **sampling}
        self.context_frames = context_frames
        wants_dream = env_id.startswith(DREAM_PREFIX)
        self.real = self.dream = None
        if wants_dream:
            self.dream = gym.make(env_id, **self._dream_kwargs)
            self.dream_id, self.real_id = env_id, real_env_id(self.dream.unwrapped.game)
        else:
            self.real = gym.make(env_id, max_episode_steps=max_episode_steps)
            game = getattr(self.real.unwrapped, "game", None)
            self.real_id, self.dream_id = env_id, dream_env_id(game.name) if game is not None else None
        if self.real is None and self.real_id is not None:
            self.real = gym.make(self.real_id, max_episode_steps=max_episode_steps)
        self.state = PlayState(showing_dream=wants_dream,
                               side_by_side=side_by_side and self.real is not None and self.dream_id is not None,
                               overlay=bool(overlay))
        if self.dream is None and self.state.side_by_side:
            self.dream = gym.make(self.dream_id, **self._dream_kwargs)
        self._recent: deque[np.ndarray] = deque(maxlen=context_frames)
        self._recent_actions: deque[int] = deque(maxlen=context_frames - 1)
        self.real_frame: np.ndarray | None = None
        self.dream_frame: np.ndarray | None = None
        self.uncertainty_map: np.ndarray | None = None  # the dream's (h, w) map of its latest dreamed frame
        self.policy, self.policy_sees = policy, policy_sees
        self.state.policy_plays = policy is not None
        if policy_sees == "real" and self.real is None:
            raise ValueError(f"--policy-sees real needs the real game, and {env_id} has none registered; drop "
                             "--policy-sees")
        if policy_sees == "dream" and self.dream_id is None:
            raise ValueError(f"--policy-sees dream needs a dream of the game, and {env_id} has none registered; drop "
                             "--policy-sees")

    def reset(self) -> None:
        """Reset the real game and start the dream from its first frames."""
        self.state.step = 0
        self.state.archive_episode()
        self._recent.clear()
        self._recent_actions.clear()
        if self.policy is not None:
            self.policy.reset(self.seed)
        if self.real is not None:
            self.real_frame, _ = self.real.reset(seed=self.seed)
            self._remember_real(self.real_frame, None)
            if self.dream is not None:  # give the dream the context length it was made for (2 frames by default)
                for _ in range(min(self.dream.unwrapped.context_frames, self.context_frames) - 1):
                    self.real_frame, *_ = self.real.step(CONTEXT_ACTION)
                    self._remember_real(self.real_frame, CONTEXT_ACTION, "context")
        if self.dream is not None:
            self._restart_dream()
            if self.waiting_for_dream:
                self.dream_frame = self._not_dreaming_yet(self.real_frame)

    def _remember_real(self, frame: np.ndarray, action: int | None, player: str = "keys") -> None:
        if action is not None:
            self._recent_actions.append(action)
            self.state.real_actions.append(action)
            self.state.real_players.append(player)
        self._recent.append(frame)
        self.state.real_frames.append(frame)

    def _restart_dream(self) -> None:
        self._show_uncertainty(None, None)  # a restarted dream shows its context frame, which it did not dream
        if self.dream is None:
            self.dream = gym.make(self.dream_id, **self._dream_kwargs)
        if self.real is not None:
            frames = np.stack(self._recent)
            actions = np.array(list(self._recent_actions)[-(len(frames) - 1):] if len(frames) > 1 else [],
                               dtype=np.int64)
            self.dream_frame, _ = self.dream.reset(seed=self.seed, options={"frames": frames, "actions": actions})
        else:
            self.dream_frame, _ = self.dream.reset(seed=self.seed)

    def toggle_dream(self) -> None:
        """Switch between the real game and the dream; the dream continues from the real game's current moment."""
        self._toggle_dream_view("showing_dream")

    def toggle_side_by_side(self) -> None:
        """Show real | dream next to each other (both driven by the same keys)."""
        self._toggle_dream_view("side_by_side")

    def _toggle_dream_view(self, view: Literal["showing_dream", "side_by_side"]) -> None:
        """Turn the :class:`PlayState` flag ``view`` on or off (nothing without both a real game and a dream); turned
        on, the dream restarts from the real game's current moment."""
        if self.dream_id is None or self.real is None:
            return
        setattr(self.state, view, not getattr(self.state, view))
        if getattr(self.state, view):
            self._restart_dream()

    def toggle_policy(self) -> None:
        """Hand the game from the policy to the keyboard or back (nothing without a policy)."""
        if self.policy is not None:
            self.state.policy_plays = not self.state.policy_plays

    def toggle_overlay(self) -> None:
        """Show or hide the heat map of the dream's uncertainty over the dream panel. The dream computes its
        uncertainty only while the map is shown; turned on, the map of the frame on screen is computed at once
        (``DreamBatch.last_step_uncertainty``: what the step would have paid), so a paused dream shows it too."""
        self.state.overlay = not self.state.overlay
        if self.state.overlay and self.uncertainty_map is None and self.dream_running:
            last = self.dream.unwrapped.dreams.last_step_uncertainty()
            if last is not None:  # None: the dream shows its context frame, which it did not dream
                self._show_uncertainty(float(last[0][0]), last[1][0])

    def _show_uncertainty(self, reward: float | None, uncertainty_map: np.ndarray | None) -> None:
        self.state.uncertainty, self.uncertainty_map = reward, uncertainty_map

    @property
    def dream_running(self) -> bool:
        """``True`` when the dream is being stepped and shown (alone or side by side) and has started."""
        return (self.dream is not None and (self.state.showing_dream or self.state.side_by_side)
                and not self.waiting_for_dream and self.dream_frame is not None)

    def policy_view(self) -> str:
        """Which frame the policy chooses on now: ``"real"`` or ``"dream"`` (see ``policy_sees``)."""
        wanted = self.policy_sees or ("dream" if self.state.showing_dream else "real")
        if (wanted == "dream" and self.dream_running) or self.real_frame is None:
            return "dream"
        return "real"

    def policy_action(self) -> int:
        """The policy's action on the frame it sees (:meth:`policy_view`)."""
        if self.policy is None:
            raise ValueError("this session has no policy: pass --policy RUN_OR_CHECKPOINT")
        frame = self.dream_frame if self.policy_view() == "dream" else self.real_frame
        return int(self.policy.act(frame))

    def step(self, action: int, player: str = "keys") -> bool:
        """Step every env in use with ``action`` (chosen by ``player``: ``"keys"``, ``"script"`` or ``"policy"``);
        returns ``True`` when the shown episode ended."""
        done = False
        if self.real is not None:
            self.real_frame, _, terminated, truncated, _ = self.real.step(action)
            self._remember_real(self.real_frame, action, player)
            done = done or ((terminated or truncated) and not self.state.showing_dream)
        dreaming = self.dream is not None and (self.state.showing_dream or self.state.side_by_side)
        if dreaming and self.waiting_for_dream:
            if self.real is not None:
                self.dream_frame = self._not_dreaming_yet(self.real_frame)
        elif dreaming:
            # the reward's passes cost more than a fast dream's own step: pay them only for the map
            self.dream.unwrapped.reward = "uncertainty" if self.state.overlay else "none"
            self.dream_frame, reward, terminated, truncated, info = self.dream.step(action)
            uncertainty_map = info.get("uncertainty_map")
            self._show_uncertainty(None if uncertainty_map is None else float(reward), uncertainty_map)
            done = done or terminated or truncated
        self.state.step += 1
        if dreaming and self.real is not None and self.dream_from and self.state.step == self.dream_from:
            self._restart_dream()  # the dream takes over from the real game's latest frames
        return done

    @property
    def waiting_for_dream(self) -> bool:
        """``True`` during the first ``dream_from`` steps, when only the real game runs."""
        return self.real is not None and self.state.step < self.dream_from

    @staticmethod
    def _not_dreaming_yet(real_frame: np.ndarray) -> np.ndarray:
        """The dream panel before the dream starts: the real frame, darkened."""
        return (real_frame.astype(np.uint16) * 3 // 8).astype(np.uint8)

    def panels(self) -> list[tuple[str, np.ndarray]]:
        """The (label, 64x64x3 frame) panels to draw, left to right; with the overlay on (``U``), the dream panel
        carries the heat map of the dream's uncertainty (:func:`overlay_uncertainty`)."""
        if self.state.side_by_side and self.real_frame is not None and self.dream_frame is not None:
            panels = [("real", self.real_frame), ("dream", self.dream_frame)]
        elif self.state.showing_dream and self.dream_frame is not None:
            panels = [("dream", self.dream_frame)]
        else:
            panels = [("real", self.real_frame)]
        if self.state.overlay and self.uncertainty_map is not None and not self.waiting_for_dream:
            panels = [(label, overlay_uncertainty(frame, self.uncertainty_map) if label == "dream" else frame)
                      for label, frame in panels]
        return panels

    def close(self) -> None:
        """Close every env."""
        for env in (self.dream, self.real):
            if env is not None:
                env.close()


# the heat map's colours from certain (0) to unsure (1): dark blue, blue, green, yellow, red
HEAT_STOPS = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
HEAT_COLORS = np.array([[20, 20, 120], [0, 120, 255], [0, 220, 120], [255, 220, 0], [255, 30, 0]], dtype=np.float32)


def overlay_uncertainty(frame: np.ndarray, uncertainty_map: np.ndarray, strength: float = 0.75) -> np.ndarray:
    """``frame`` uint8 ``(64, 64, 3)`` under a heat map of ``uncertainty_map`` float ``(h, w)`` in ``[0, 1]`` (one
    value per token, each spread over its patch of pixels): with ``v = sqrt(u)`` (most tokens of a trained model lie
    below 0.1, which the square root spreads out), a token's colour goes from dark blue (``v = 0``, certain) through
    green to red (``v = 1``) and covers its patch by ``0.2 + (strength - 0.2) * v``, so the frame stays visible where
    the model is sure. Returns a new uint8 ``(64, 64, 3)``."""
    height, width = frame.shape[:2]
    values = np.sqrt(np.clip(np.nan_to_num(np.asarray(uncertainty_map, dtype=np.float32)), 0.0, 1.0))
    rows = np.arange(height) * values.shape[0] // height  # nearest: each token's value over its patch
    cols = np.arange(width) * values.shape[1] // width
    values = values[rows[:, None], cols[None, :]]
    colors = np.stack([np.interp(values, HEAT_STOPS, HEAT_COLORS[:, channel]) for channel in range(3)], axis=-1)
    alpha = (0.2 + (strength - 0.2) * values)[..., None]
    return np.round(frame.astype(np.float32) * (1.0 - alpha) + colors * alpha).astype(np.uint8)


def compose_canvas(panels: list[tuple[str, np.ndarray]], scale: int, upscaler=None) -> np.ndarray:
    """Place the panels side by side, each upscaled ``scale`` times, under an empty header band: pixel by pixel
    (nearest), or with ``upscaler`` (a :class:`genie_gym.models.upscaler.FrameUpscaler` to ``64 * scale``, the
    super-resolution network or bicubic).

    Returns uint8 ``(HEADER_HEIGHT + 64*scale, n*64*scale + gaps, 3)``.
    """
    if upscaler is not None and upscaler.size != 64 * scale:
        raise ValueError(f"the upscaler draws {upscaler.size}x{upscaler.size} panels, the window {64 * scale}")
    if upscaler is not None:  # one batch: side by side costs one pass of the network, not two
        row = image_grid([list(upscaler(np.stack([frame for _, frame in panels])))], gap=PANEL_GAP, margin=0, fill=0)
    else:
        row = image_grid([[frame for _, frame in panels]], scale=scale, gap=PANEL_GAP, margin=0, fill=0)
    return np.concatenate([np.zeros((HEADER_HEIGHT, *row.shape[1:]), dtype=np.uint8), row])


PANEL_GAP = 4


def panel_offsets(count: int, scale: int) -> list[int]:
    """The x pixel where each of ``count`` panels starts in :func:`compose_canvas`'s image."""
    return [index * (64 * scale + PANEL_GAP) for index in range(count)]


def header_text(session: PlaySession) -> str:
    """The header line: mode, who plays (with a policy: ``policy``, and which frame it sees when that is not the only
    panel shown, or ``keys``), fps, step and, while its heat map is shown (``[map]``), the dream's uncertainty."""
    labels = [label for label, _ in session.panels()]
    text = "+".join(labels)
    if session.policy is not None:
        if session.state.policy_plays:
            view = session.policy_view()
            text += "  policy" + (f" on {view}" if labels != [view] else "")
        else:
            text += "  keys"
    text += f"  {session.state.fps:4.1f} fps  step {session.state.step}"
    if session.state.overlay and session.state.uncertainty is not None and "dream" in labels:
        text += f"  uncertainty {session.state.uncertainty:.3f} [map]"
    if session.state.paused:
        text += "  [paused]"
    return text


class MediaRecorder:
    """Collects what the window shows and writes it as a GIF or MP4 (by the file suffix).

    It keeps each shown frame as its 64x64 panels and header line (12 kB a panel, not the upscaled window image:
    a 10-minute session at 15 frames/s stays ~100-200 MB) and renders them when writing, the MP4 one frame at a
    time.
    """

    def __init__(self, path: str | Path, fps: float) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in (".gif", ".mp4"):
            raise ValueError(f"--record must end in .gif or .mp4, got {self.path}")
        if self.path.suffix.lower() == ".mp4":  # say so before the session, not after it
            try:
                import imageio_ffmpeg  # noqa: F401  (imageio's MP4 writer)
            except ImportError as error:
                raise ValueError("--record to .mp4 needs the imageio-ffmpeg package (a dependency of genie-gym): "
                                 "pip install imageio-ffmpeg, or record to .gif") from error
        self.fps = fps
        self.shown: list[tuple[list[tuple[str, np.ndarray]], str]] = []

    def add(self, panels: list[tuple[str, np.ndarray]], header: str) -> None:
        """Keep one shown frame: its (label, 64x64x3 uint8) panels and its header line."""
        self.shown.append(([(label, frame.copy()) for label, frame in panels], header))

    def write(self, render: Callable[[list[tuple[str, np.ndarray]], str], np.ndarray]) -> Path:
        """Render every kept frame with ``render(panels, header) -> (H, W, 3) uint8`` and write the file
        (atomically); returns its path.

        The window changes size when side-by-side is toggled (``B``); every image is padded with black at its
        right and bottom to the largest size, so a recording can span both layouts.
        """
        import imageio.v2 as iio2
        import imageio.v3 as iio

        self.path.parent.mkdir(parents=True, exist_ok=True)
        images = (render(panels, header) for panels, header in self.shown)
        with atomic_path(self.path, suffix=self.path.suffix) as tmp:
            if self.path.suffix.lower() == ".gif":
                iio.imwrite(tmp, pad_to_common_size(list(images)), duration=1000.0 / self.fps, loop=0)
            else:
                widest = max(self.shown, key=lambda shown: len(shown[0]))
                height, width = render(*widest).shape[:2]
                with iio2.get_writer(tmp, format="FFMPEG", fps=self.fps, codec="libx264", macro_block_size=1) as writer:
                    for image in images:
                        writer.append_data(pad_to_common_size([image], (height, width))[0])
        return self.path


def pad_to_common_size(images: list[np.ndarray], size: tuple[int, int] | None = None) -> np.ndarray:
    """Stack RGB uint8 images ``(H_i, W_i, 3)`` into ``(N, H, W, 3)``, black padding right and bottom; ``(H, W)`` is
    ``size``, or the largest height and width among the images."""
    height, width = size or (max(image.shape[0] for image in images), max(image.shape[1] for image in images))
    video = np.zeros((len(images), height, width, 3), dtype=np.uint8)
    for frame, image in zip(video, images, strict=True):
        frame[: image.shape[0], : image.shape[1]] = image
    return video


def render_window(panels: list[tuple[str, np.ndarray]], header: str, scale: int, font, upscaler=None) -> np.ndarray:
    """The window image: the panels side by side (:func:`compose_canvas`, through ``upscaler`` when given) with
    ``header`` written in white in the header band by the pygame ``font``, and side by side each panel's label
    ("real", "dream") in its top-left corner. Returns uint8 ``(HEADER_HEIGHT + 64*scale, W, 3)``."""
    import pygame

    canvas = compose_canvas(panels, scale, upscaler)
    surface = pygame.surfarray.make_surface(canvas.transpose(1, 0, 2))
    surface.blit(font.render(header, True, (255, 255, 255)), (4, 4))
    if len(panels) > 1:  # side by side: say which panel is which, on a dark band so it reads on any frame
        for x, (label, _) in zip(panel_offsets(len(panels), scale), panels, strict=True):
            text = font.render(label, True, (255, 255, 255), (0, 0, 0))
            surface.blit(text, (x + 4, HEADER_HEIGHT + 4))
    return pygame.surfarray.array3d(surface).transpose(1, 0, 2).copy()


def run_play(settings: PlaySettings) -> dict[str, object]:
    """Run the interactive (or scripted, headless) play loop of ``genie play``'s settings (each described there, the
    option's help); returns a summary dict.

    ``env_id`` is resolved as the command line's is (a registered id or a world-model directory). A policy
    (:func:`genie_gym.agents.policy_agent.load_policy`) samples its actions, the most likely with ``deterministic``,
    on the frame ``policy_sees`` names (:class:`PlaySession`); ``A`` hands the game to the keyboard and back.
    ``upscale`` / ``upscaler``: see :func:`play_upscaler`; the summary's ``"upscaler"`` says what drew the panels
    (``None``: pixel by pixel).

    The loop ends on Esc/Q/window close, when a script runs out, or after ``max_steps`` steps. The summary counts
    the steps each player chose (``"players"``) when a policy was loaded.
    """
    import pygame

    env_id = resolve_env_id(settings.env_id)
    _check_play_options(settings.policy, settings.actions_file, settings.max_steps)
    script = iter(read_action_script(settings.actions_file)) if settings.actions_file else None
    recorder = MediaRecorder(settings.record, settings.fps) if settings.record else None
    agent = None
    if settings.policy is not None:
        from genie_gym.agents.policy_agent import load_policy

        # the dream keeps its torch threads
        agent = load_policy(settings.policy, deterministic=settings.deterministic, threads=None)
    session = PlaySession(env_id, seed=settings.seed, side_by_side=settings.side_by_side,
                          dream_from=settings.dream_from, sampling=settings.sampling, policy=agent,
                          policy_sees=settings.policy_sees, overlay=settings.overlay)
    game = (session.dream or session.real).unwrapped.game
    scale = settings.scale
    frame_upscaler = play_upscaler(getattr(game, "name", game), scale, settings.upscale, settings.upscaler)
    font = _open_window(pygame, env_id)
    session.reset()
    screen = None
    clock = pygame.time.Clock()
    players: dict[str, int] = {}
    last_time = time.perf_counter()
    try:
        while True:
            running, step_once = _handle_keys(pygame, session)
            if not running:
                break
            panels, header = session.panels(), header_text(session)
            screen = _show(pygame, screen, render_window(panels, header, scale, font, frame_upscaler))
            if recorder is not None:
                recorder.add(panels, header)
            if settings.max_steps is not None and session.state.step >= settings.max_steps:
                break
            if not session.state.paused or step_once:
                chosen = _next_action(pygame, session, script)
                if chosen is None:  # the script has run out
                    break
                action, player = chosen
                players[player] = players.get(player, 0) + 1
                if session.step(action, player):
                    session.reset()
                last_time = _update_fps(session.state, last_time)
            else:
                last_time = time.perf_counter()  # a pause does not count as one slow step
            if script is None:
                clock.tick(settings.fps)
    finally:
        pygame.display.quit()
        summary: dict[str, object] = {"steps": session.state.step,
                                      "upscaler": None if frame_upscaler is None else frame_upscaler.source}
        if agent is not None:
            summary["players"] = players
        _save_and_close(session, summary, settings.record_store, settings.seed, recorder,
                        lambda panels, header: render_window(panels, header, scale, font, frame_upscaler))
    return summary


def _check_play_options(policy: str | None, actions_file: str | None, max_steps: int | None) -> None:
    """Refuse, before anything is loaded, a session that cannot show anything or would never stop."""
    require_display("genie play", f"{HEADLESS_HINT} (with --actions FILE, and --record out.gif to see the result)")
    if policy is not None and actions_file:
        raise ValueError("--policy and --actions both choose the actions: pass one of them")
    if policy is not None and max_steps is None and os.environ.get("SDL_VIDEODRIVER") == "dummy":
        raise ValueError("a policy playing without a window (SDL_VIDEODRIVER=dummy) never stops: pass --max-steps N")


def _open_window(pygame, env_id: str):
    """Start pygame's display and fonts and name the window; returns the header's font. The window itself opens
    at the first frame (:func:`_show`), at that frame's size."""
    pygame.display.init()
    pygame.font.init()
    font = pygame.font.Font(None, 20)
    pygame.display.set_caption(f"genie play {env_id}")
    return font


def _key_commands(pygame, session: PlaySession) -> dict[int, Callable[[], None]]:
    """What each command key does to ``session`` (the help line of the window lists them)."""

    def toggle_pause() -> None:
        session.state.paused = not session.state.paused

    return {pygame.K_TAB: session.toggle_dream, pygame.K_b: session.toggle_side_by_side, pygame.K_p: toggle_pause,
            pygame.K_r: session.reset, pygame.K_a: session.toggle_policy, pygame.K_u: session.toggle_overlay}


def _handle_keys(pygame, session: PlaySession) -> tuple[bool, bool]:
    """Apply the keys pressed since the last frame to ``session`` (all of them, also those after Esc/Q); returns
    ``(running, step_once)``: ``False`` once the window is closed or Esc/Q pressed, ``True`` if ``N`` was pressed."""
    running, step_once = True, False
    commands = _key_commands(pygame, session)
    for event in pygame.event.get():
        if event.type == pygame.QUIT or (event.type == pygame.KEYDOWN and event.key in (pygame.K_ESCAPE, pygame.K_q)):
            running = False
        elif event.type == pygame.KEYDOWN and event.key == pygame.K_n:
            step_once = True
        elif event.type == pygame.KEYDOWN and event.key in commands:
            commands[event.key]()
    return running, step_once


def _show(pygame, screen, image: np.ndarray):
    """Draw ``image`` in the window, resized first if the image's size changed (side by side toggled); returns the
    window's surface."""
    if screen is None or screen.get_size() != (image.shape[1], image.shape[0]):
        screen = pygame.display.set_mode((image.shape[1], image.shape[0]))
    pygame.surfarray.blit_array(screen, image.transpose(1, 0, 2))
    pygame.display.flip()
    return screen


def _next_action(pygame, session: PlaySession, script) -> tuple[int, str] | None:
    """The next ``(action, player)``: the script's while there is one, else the policy's or the keyboard's (``A``
    switches); ``None`` when the script has run out."""
    if script is not None:
        action = next(script, None)
        return None if action is None else (action, "script")
    if session.state.policy_plays:
        return session.policy_action(), "policy"
    return _keyboard_action(pygame), "keys"


def _update_fps(state: PlayState, last_time: float) -> float:
    """Smooth the shown steps/s with this step (while playing, from the first step on); returns the step's time."""
    now = time.perf_counter()
    if not state.paused:
        rate = 1.0 / max(now - last_time, 1e-6)
        state.fps = rate if state.fps == 0 else 0.9 * state.fps + 0.1 * rate
    return now


def _save_and_close(session: PlaySession, summary: dict[str, object], record_store: str | None, seed: int,
                    recorder: MediaRecorder | None,
                    render: Callable[[list[tuple[str, np.ndarray]], str], np.ndarray]) -> None:
    """Write the played episodes (``--record-store``) and the recording (``--record``), noting them in ``summary``,
    then close the session.

    The played episodes come first, and each write is tried whatever the other did: a failure writing the video
    must not lose the episodes, nor the reverse.
    """
    session.state.archive_episode()
    try:
        if record_store is not None and session.state.finished_episodes:
            summary["episodes"] = _write_played_episodes(session, record_store, seed)
    finally:
        try:
            if recorder is not None and recorder.shown:
                summary["record"] = str(recorder.write(render))
        finally:
            session.close()


def play_upscaler(game: str, scale: int, upscale: bool | None = None, upscaler: str | None = None):
    """The :class:`~genie_gym.models.upscaler.FrameUpscaler` that draws the play window's panels at ``64 * scale``,
    or ``None`` for pixel-by-pixel panels.

    ``upscale``: draw through the super-resolution network ``None`` (default) when the game's shipped one is
    installed, ``True`` always (bicubic without a network), ``False`` never; ``upscaler``: an upscaler checkpoint or
    run directory to use instead of the shipped one."""
    if upscale is False:
        if upscaler is not None:
            raise ValueError("--upscaler DIR and --no-upscale contradict each other: pass one of them")
        return None
    if upscaler is not None:
        return FrameUpscaler.load(upscaler, game=game, size=64 * scale)
    if upscale is None and shipped_upscaler_dir(game) is None:
        return None  # nothing trained for this game: the pixels as they are, as before upscalers existed
    return FrameUpscaler.load("auto", game=game, size=64 * scale)


def _keyboard_action(pygame) -> int:
    keys = pygame.key.get_pressed()
    for key, action in ((pygame.K_SPACE, 4), (pygame.K_RIGHT, 0), (pygame.K_LEFT, 1), (pygame.K_DOWN, 3),
                        (pygame.K_UP, 2)):
        if keys[key]:
            return action
    return DEFAULT_ACTION


def _write_played_episodes(session: PlaySession, store_dir: str, seed: int) -> list[str]:
    game = session.real.unwrapped.game.name
    store = EpisodeStore(store_dir)
    written = []
    for frames, actions, players in session.state.finished_episodes:
        meta = {"agent": _agent_name(session, players), "seed": seed, "players": player_runs(players)}
        ref = store.write(game, store.next_index(game), frames, actions, meta=meta)
        written.append(str(ref.path))
    return written


def _agent_name(session: PlaySession, players: list[str]) -> str:
    """``human``, ``policy(PATH)`` or, when both played, ``human+policy(PATH)``."""
    if "policy" not in players:
        return "human"
    name = f"policy({getattr(session.policy, 'path', type(session.policy).__name__)})"
    return f"human+{name}" if {"keys", "script"} & set(players) else name


def player_runs(players: list[str]) -> list[list[object]]:
    """Run lengths of who chose each action, ``[["context", 1], ["policy", 40], ["keys", 12], ...]`` (they add up to
    the episode's actions)."""
    runs: list[list[object]] = []
    for player in players:
        if runs and runs[-1][0] == player:
            runs[-1][1] += 1
        else:
            runs.append([player, 1])
    return runs
