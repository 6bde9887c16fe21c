"""Annotation clips: short real-game clips of each of the 5 shared actions, to check the annotation table by eye.

For one game (RetroAct-style, paper §3): reset the real env, run a warm-up, save the emulator state, then for each
action (``RIGHT, LEFT, UP, DOWN, JUMP``) and for a no-press baseline restore that same state and hold the action for
``steps`` agent steps. Every clip therefore starts from the identical frame, and the only difference between two rows
is the buttons held. The module writes, per game:

- ``<game>/<ACTION>.png``: a strip of full-resolution frames every ``every`` steps, labelled with the action, its
  buttons and the step number (plus ``<game>/NOPRESS.png`` for the baseline);
- ``<game>.png``: the 5 action strips stacked (one row per action) so a person can check each mapping at a glance;
- ``<game>/summary.json``: the per-action motion numbers printed by :func:`format_summary`.

Motion numbers (how different holding the action is from pressing nothing, same start state):

- ``pixel_diff``: mean absolute difference (0-255) between the action's frames and the no-press frames, averaged over
  all recorded steps and pixels;
- ``changed_pct``: the largest percentage, over the recorded steps, of pixels that differ from the no-press frame;
- ``ram_bytes``: number of RAM bytes that differ from the no-press run at the last step.

An action whose three numbers are all zero did nothing observable in that game from that state. The frames are the
env's own (the last emulator frame of each agent step), so something drawn only on skipped frames (Asteroids' ship)
is invisible here exactly as it is to an agent. ``probes`` hold other button combinations from the same state, to find
out what a button does before annotating it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from genie_gym.conventions import ACTION_NAMES
from genie_gym.envs.retro_env import GenieRetroEnv
from genie_gym.games import Game, get_game
from genie_gym.image_grid import image_grid, write_png
from genie_gym.options import option

NO_PRESS = "NOPRESS"
WARMUP_TOKENS: tuple[str, ...] = ("noop", *ACTION_NAMES)
WARMUP_ALIASES: dict[str, str] = {
    "alternate": "RIGHT,LEFT",
    # taps fire and nudges right then left: starts every annotated game that waits for input after reset (Solaris
    # waits for fire, BeamRider / Hero / PrivateEye for a direction) and leaves a walking character where it began
    "start": "JUMP,noop,RIGHT,noop,LEFT,noop",
}

_LABEL_WIDTH = 150  # px of the label column on the left of each strip
_HEADER_HEIGHT = 14  # px of the step-number band above each frame
_GAP = 4  # px between frames
_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class ClipSettings:
    """How clips are recorded.

    Attributes:
        steps: agent steps each action is held for (each step is ``frame_skip`` emulator frames).
        warmup_steps: agent steps run after ``reset`` before the state is saved.
        warmup_action: what the warm-up presses, one entry per step, cycled: a comma-separated list of ``noop``
            (no button) and action names, or an alias. ``"start"`` (the default, = ``"JUMP,noop,RIGHT,noop,LEFT,noop"``)
            makes every annotated game playable (see :data:`WARMUP_ALIASES`); ``"noop"`` presses nothing (shows which
            games wait on a start screen); ``"alternate"`` (= ``"RIGHT,LEFT"``) keeps a walking character near where
            it started.
        every: a frame is put in the PNG strip every ``every`` steps (step 0, the saved state, is always first).
        seed: seed of ``reset`` (which also picks the number of no-op frames at reset).
        probes: extra button combinations to hold from the same state (``"B"``, ``"A+C"``), to find out what a
            button does before annotating it; written as ``<game>/probe_<buttons>.png`` and in the summary.

    Each field is also an option of ``genie annotate clips`` (see :mod:`genie_gym.options`).
    """

    steps: int = option(24, "agent steps each action is held")
    warmup_steps: int = option(60, "agent steps run before the state is saved", flag="--warmup", metavar="WARMUP")
    warmup_action: str = option("start", "what the warm-up presses, one entry per step, cycled: comma list of noop, "
                                "RIGHT, LEFT, UP, DOWN, JUMP, or an alias: 'start' (default; = JUMP,noop,RIGHT,noop,"
                                "LEFT,noop, starts every annotated game), 'alternate' (= RIGHT,LEFT); 'noop' shows "
                                "which games wait on a start screen", metavar="SEQ")
    every: int = option(4, "put a frame in the strip every N steps")
    seed: int = option(0, "reset seed")
    probes: tuple[str, ...] = option((), "also hold this emulator button combination (e.g. B or A+C) to see what it "
                                     "does; repeatable", flag="--probe", metavar="BUTTONS", action="append")

    def __post_init__(self) -> None:
        if self.steps < 1 or self.warmup_steps < 0 or self.every < 1:
            raise ValueError("steps and every must be >= 1 and warmup_steps >= 0")
        warmup_sequence(self.warmup_action)  # validates


def warmup_sequence(spec: str) -> list[int | None]:
    """Parse a warm-up spec (``"start"``, ``"noop"``, ``"JUMP,noop"``) into action indices; ``None`` = no button."""
    tokens = [t.strip() for t in WARMUP_ALIASES.get(spec, spec).split(",") if t.strip()]
    if not tokens or any(t not in WARMUP_TOKENS for t in tokens):
        raise ValueError(
            f"warm-up must be a comma-separated list of {', '.join(WARMUP_TOKENS)} or one of "
            f"{', '.join(WARMUP_ALIASES)}; got {spec!r}"
        )
    return [None if t == "noop" else ACTION_NAMES.index(t) for t in tokens]


@dataclass
class ActionClip:
    """One held action (or the no-press baseline) from the saved state.

    Attributes:
        action: action name (``"RIGHT"``) or :data:`NO_PRESS`.
        buttons: emulator buttons the action presses (empty for the baseline).
        frames: ``steps + 1`` full-resolution RGB uint8 ``(H, W, 3)`` frames; ``frames[0]`` is the saved state.
        ram: the emulator RAM after the last step, uint8.
        pixel_diff, changed_pct, ram_bytes: motion numbers against the baseline (see the module docstring).
    """

    action: str
    buttons: tuple[str, ...]
    frames: list[np.ndarray]
    ram: np.ndarray
    pixel_diff: float = 0.0
    changed_pct: float = 0.0
    ram_bytes: int = 0


@dataclass
class GameClips:
    """All clips of one game from one saved state: the no-press baseline and one clip per shared action."""

    game: Game
    settings: ClipSettings
    baseline: ActionClip
    actions: list[ActionClip] = field(default_factory=list)
    probes: list[ActionClip] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The motion numbers as a JSON-ready dict: ``{"game", "settings", "actions": {name: {...}}, "probes"}``."""

        def numbers(clip: ActionClip) -> dict[str, Any]:
            return {
                "buttons": "+".join(clip.buttons),
                "pixel_diff": round(clip.pixel_diff, 3),
                "changed_pct": round(clip.changed_pct, 3),
                "ram_bytes": clip.ram_bytes,
            }

        return {
            "game": self.game.name,
            "settings": _settings_json(self.settings),
            "actions": {clip.action: numbers(clip) for clip in self.actions},
            "probes": {clip.action: numbers(clip) for clip in self.probes},
        }


def _settings_json(settings: ClipSettings) -> dict[str, Any]:
    return json.loads(json.dumps(asdict(settings)))


class _EmulatorAccess:
    """State save/restore and no-press stepping for a :class:`GenieRetroEnv`.

    ``GenieRetroEnv`` has no public API for these; this keeps the reach into its stable-retro emulator in one place.
    """

    def __init__(self, env: Any) -> None:
        self.env = env

    def _retro(self) -> Any:
        return self.env._emulator()

    def save(self) -> bytes:
        return self._retro().em.get_state()

    def restore(self, state: bytes) -> None:
        retro = self._retro()
        retro.em.set_state(state)
        retro.data.update_ram()

    def step_buttons(self, buttons: Sequence[str] = ()) -> np.ndarray:
        """One agent step (``frame_skip`` emulator frames) holding ``buttons`` (none by default); returns the frame."""
        retro = self._retro()
        names = self.env.buttons
        vector = np.zeros(len(names), dtype=np.int8)
        for name in buttons:
            if name not in names:
                raise ValueError(f"{self.env.game.platform} has no button {name!r}; buttons: {[b for b in names if b]}")
            vector[names.index(name)] = 1
        frame = None
        for _ in range(self.env.frame_skip):
            frame = retro.step(vector)[0]
        return frame

    def ram(self) -> np.ndarray:
        return np.array(self._retro().get_ram(), dtype=np.uint8)


def record_game_clips(game: str | Game, settings: ClipSettings | None = None) -> GameClips:
    """Record the no-press baseline and the 5 action clips of ``game`` from one saved state.

    Uses the process's single emulator: a ``GenieRetroEnv`` holding it is suspended and resumes when next used.
    Every clip, the baseline included, starts with a restore of the saved state: for a few Atari games (Pong,
    Breakout, Qbert, MontezumaRevenge, Jamesbond) stable-retro's restore is not bit-exact with an uninterrupted
    run, but restores of the same state replay identically, so the clips stay comparable.
    """
    settings = settings or ClipSettings()
    game = game if isinstance(game, Game) else get_game(game)
    env = GenieRetroEnv(game.name, max_episode_steps=2**31 - 1)  # truncation is irrelevant here
    try:
        access = _EmulatorAccess(env)
        env.reset(seed=settings.seed)
        start_frame = env.full_frame.copy()
        sequence = warmup_sequence(settings.warmup_action)
        for t in range(settings.warmup_steps):
            action = sequence[t % len(sequence)]
            if action is None:
                start_frame = access.step_buttons().copy()
            else:
                env.step(action)
                start_frame = env.full_frame.copy()
        start_state = access.save()

        access.restore(start_state)  # the baseline replays from a restore too (see the docstring)
        frames = [start_frame] + [access.step_buttons().copy() for _ in range(settings.steps)]
        baseline = ActionClip(NO_PRESS, (), frames, access.ram())

        clips = []
        for index, name in enumerate(ACTION_NAMES):
            access.restore(start_state)
            frames = [start_frame]
            for _ in range(settings.steps):
                env.step(index)
                frames.append(env.full_frame.copy())
            clips.append(ActionClip(name, game.buttons[index], frames, access.ram()))

        probes = []
        for combo in settings.probes:
            buttons = tuple(b.strip() for b in combo.split("+") if b.strip())
            access.restore(start_state)
            frames = [start_frame] + [access.step_buttons(buttons).copy() for _ in range(settings.steps)]
            probes.append(ActionClip("probe " + "+".join(buttons), buttons, frames, access.ram()))
    finally:
        env.close()
    for clip in clips + probes:
        _score_against(clip, baseline)
    return GameClips(game, settings, baseline, clips, probes)


def _score_against(clip: ActionClip, baseline: ActionClip) -> None:
    """Fill ``clip``'s motion numbers by comparing it with ``baseline`` step by step."""
    ours = np.stack(clip.frames[1:]).astype(np.int16)
    theirs = np.stack(baseline.frames[1:]).astype(np.int16)
    clip.pixel_diff = float(np.abs(ours - theirs).mean())
    clip.changed_pct = float(100.0 * np.any(ours != theirs, axis=-1).mean(axis=(1, 2)).max())
    clip.ram_bytes = int(np.count_nonzero(clip.ram != baseline.ram))


def _put_text(image: np.ndarray, text: str, origin: tuple[int, int], scale: float = 0.4) -> None:
    cv2.putText(image, text, origin, _FONT, scale, (255, 255, 255), 1, cv2.LINE_AA)


def render_strip(clip: ActionClip, every: int, show_numbers: bool = True) -> np.ndarray:
    """One row: a label column, then full-resolution frames at steps ``0, every, 2*every, ...``; RGB uint8."""
    steps = list(range(0, len(clip.frames), every))
    if steps[-1] != len(clip.frames) - 1:
        steps.append(len(clip.frames) - 1)
    height, width = clip.frames[0].shape[:2]
    row = np.zeros((height + _HEADER_HEIGHT, _LABEL_WIDTH + len(steps) * (width + _GAP), 3), dtype=np.uint8)
    row[:, :_LABEL_WIDTH] = (40, 40, 60)
    _put_text(row, clip.action, (6, 30), 0.7)
    _put_text(row, "+".join(clip.buttons) or "(no button)", (6, 52))
    if show_numbers and clip.action != NO_PRESS:
        _put_text(row, f"pix {clip.pixel_diff:.2f}", (6, 78))
        _put_text(row, f"chg {clip.changed_pct:.1f}%", (6, 96))
        _put_text(row, f"ram {clip.ram_bytes}", (6, 114))
    for i, step in enumerate(steps):
        _put_text(row, f"t={step}", (_LABEL_WIDTH + i * (width + _GAP) + 2, _HEADER_HEIGHT - 3), 0.35)
    frames = image_grid([[clip.frames[step] for step in steps]], gap=_GAP, margin=0, fill=0)
    row[_HEADER_HEIGHT:, _LABEL_WIDTH : _LABEL_WIDTH + frames.shape[1]] = frames
    return row


def render_combined(clips: GameClips) -> np.ndarray:
    """The 5 action strips stacked, one row per action in ``ACTION_NAMES`` order, under a title band; RGB uint8."""
    rows = [render_strip(clip, clips.settings.every) for clip in clips.actions]
    title = np.zeros((22, rows[0].shape[1], 3), dtype=np.uint8)
    s = clips.settings
    _put_text(title, f"{clips.game.name} ({clips.game.retro_game})  warm-up {s.warmup_steps} x {s.warmup_action}, "
                     f"hold {s.steps} steps, seed {s.seed}", (6, 16), 0.45)
    return np.concatenate([title, image_grid([[row] for row in rows], gap=_GAP, margin=0, fill=90)], axis=0)


def write_game_clips(clips: GameClips, out_dir: Path) -> list[Path]:
    """Write the strips, the combined PNG and ``summary.json`` of one game under ``out_dir``; returns the paths."""
    out_dir = Path(out_dir)
    game_dir = out_dir / clips.game.name
    written = []
    for clip in [clips.baseline, *clips.actions, *clips.probes]:
        path = game_dir / f"{clip.action.replace(' ', '_').replace('+', '_')}.png"
        write_png(path, render_strip(clip, clips.settings.every))
        written.append(path)
    if clips.probes:
        path = game_dir / "probes.png"
        strips = [render_strip(clip, clips.settings.every) for clip in [clips.baseline, *clips.probes]]
        write_png(path, image_grid([[strip] for strip in strips]))
        written.append(path)
    summary_path = game_dir / "summary.json"
    summary_path.write_text(json.dumps(clips.summary(), indent=1))
    written.append(summary_path)
    combined = out_dir / f"{clips.game.name}.png"  # written last: its presence marks the game as done
    write_png(combined, render_combined(clips))
    written.append(combined)
    return written


def load_summary(out_dir: Path, game: Game, settings: ClipSettings) -> dict[str, Any] | None:
    """The stored summary of ``game`` under ``out_dir`` if it was recorded with ``settings`` and is complete."""
    path = Path(out_dir) / game.name / "summary.json"
    if not (path.exists() and (Path(out_dir) / f"{game.name}.png").exists()):
        return None
    try:
        summary = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return summary if summary.get("settings") == _settings_json(settings) else None


def format_summary(summaries: Sequence[dict[str, Any]]) -> str:
    """A plain-text table of the motion numbers: one line per game, ``pix/chg%/ram`` for each action."""
    header = f"{'game':<17}" + "".join(f"{name:>22}" for name in ACTION_NAMES)
    lines = [header, f"{'':<17}" + "".join(f"{'pix  chg%  ram':>22}" for _ in ACTION_NAMES)]
    for summary in summaries:
        cells = []
        for name in ACTION_NAMES:
            a = summary["actions"][name]
            cells.append(f"{a['pixel_diff']:>8.2f} {a['changed_pct']:>6.1f} {a['ram_bytes']:>5d}")
        lines.append(f"{summary['game']:<17}" + "".join(f"{c:>22}" for c in cells))
        for name, a in summary.get("probes", {}).items():
            lines.append(f"{'':<17}{name:>22}{a['pixel_diff']:>8.2f} {a['changed_pct']:>6.1f} {a['ram_bytes']:>5d}")
    lines.append("pix: mean |frame - no-press frame| (0-255); chg%: most pixels differing at one step; "
                 "ram: RAM bytes differing at the last step. All zero = the action did nothing visible.")
    return "\n".join(lines)


def make_clips(
    games: Iterable[Game], out_dir: Path, settings: ClipSettings, force: bool = False, progress: bool = True
) -> list[dict[str, Any]]:
    """Record and write clips for each game; games already done with the same settings are skipped (resumable).

    Returns the summaries in game order.
    """
    games = list(games)
    summaries = []
    bar = tqdm(games, desc="annotation clips", unit="game", disable=not progress)
    for game in bar:
        bar.set_postfix_str(game.name)
        summary = None if force else load_summary(out_dir, game, settings)
        if summary is None:
            clips = record_game_clips(game, settings)
            write_game_clips(clips, out_dir)
            summary = clips.summary()
        summaries.append(summary)
    return summaries
