"""``WorldModel``: a tokenizer and a GenieRedux-G dynamics model that dream together.

A world-model checkpoint is a directory::

    <dir>/tokenizer/   model.safetensors + config.json   (genie_gym.models.checkpoint_io layout)
    <dir>/dynamics/    model.safetensors + config.json
    <dir>/dream.json   {"game": "SMB", "context_frames": 2, "maskgit_steps": ..., "temperature": ..., ...}
                       (:data:`DREAM_DEFAULTS`; the sampling settings are :class:`DreamSettings`)
    <dir>/lam/         (GenieRedux only) the latent action model whose codes the dynamics was trained on
    <dir>/MODEL_CARD.md
    <dir>/games/<Game>/dream.json   a world model of several games (``dream.json``'s ``games``): one game view per
                       game, ``{"world_model": "../..", "game": "<Game>"}``, the checkpoint of its dream
                       (``GenieDream-<Game>-v0`` resets from that game's real frames; :func:`game_checkpoint`)

A GenieRedux-G dynamics model takes the real actions; a GenieRedux one (``action_source="latent"``) takes latent action
ids, which :meth:`WorldModel.infer_actions` reads off frames with the packed LAM (the paper's evaluation of GenieRedux).

Frames at this boundary are RGB uint8 ``(..., 64, 64, 3)``; actions are int64 in the shared ``Discrete(5)`` order.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genie_gym.atomic import atomic_write_text
from genie_gym.conventions import NUM_ACTIONS, validate_frames
from genie_gym.games import select_games
from genie_gym.models.checkpoint_io import CheckpointError, load_pretrained, save_pretrained
from genie_gym.models.configs import DreamSettings
from genie_gym.models.image_ops import float_to_frames
from genie_gym.models.maskgit import DynamicsStream
from genie_gym.models.tokenizer import DecoderStream, hold_unchanged_pixels, hold_unchanged_tokens

SHIPPED_CHECKPOINTS = {"smb": "genie-redux-g-smb"}
_SAMPLING = DreamSettings().to_dict()
DREAM_DEFAULTS: dict[str, Any] = {
    "game": "SMB",
    "context_frames": _SAMPLING["context_frames"],
    "context_window": 16,
    "decode_window": 4,
    "maskgit_steps": _SAMPLING["maskgit_steps"],
    "temperature": _SAMPLING["temperature"],
    "action_guidance": _SAMPLING["action_guidance"],
    "dreams_per_pass": None,
    "hold_pixels": _SAMPLING["hold_pixels"],
    "hold_tolerance": _SAMPLING["hold_tolerance"],
    "hold_bias": _SAMPLING["hold_bias"],
    "change_temperature": _SAMPLING["change_temperature"],
}
"""The keys of ``dream.json`` and their defaults: the sampling settings' are :class:`DreamSettings`' (their one
place, listed here in the order ``dream.json`` is written); ``game`` is the real game a dream resets from (a world
model of several games also has ``games``, the games it was trained on, ``game`` among them: :data:`GAMES_KEY`), and
``context_window`` / ``decode_window`` / ``dreams_per_pass`` say how the engine runs (past frames the dynamics /
the decoder attend to, dreams per forward pass: :attr:`WorldModel.dreams_per_pass`)."""
GAMES_KEY = "games"
"""``dream.json``'s list of the games a world model was trained on (absent: ``[game]``)."""
GAMES_DIR = "games"
"""The folder of a multi-game world model that holds one game view per game (``games/<Game>/dream.json``)."""
VIEW_KEY = "world_model"
"""The key of a game view's ``dream.json`` that points (relative path) to the world model it views."""
CPU_DREAMS_PER_PASS = 16
"""Dreams one forward pass steps on a CPU (``dreams_per_pass`` unset). Measured on the 2-core VM, 1 MaskGIT step:
64 dreams in passes of 16 (or 8) dream 27 frames/s against 21 in one pass of 64, whose tensors (over 32 MB) are
mapped fresh from the OS on every allocation; a CPU is compute-bound from ~8 dreams on, so nothing is lost."""


INSTALLED_CHECKPOINTS = Path("share") / "genie-gym" / "checkpoints"


def checkpoint_search_paths() -> list[Path]:
    """Where shipped checkpoints are looked for, first match wins.

    1. ``$GENIE_GYM_CHECKPOINTS`` when set (only there);
    2. the source tree's ``checkpoints/`` (a clone, or an editable install);
    3. ``<prefix>/share/genie-gym/checkpoints``, where ``pip install genie-gym`` (a wheel) puts them
       (``[options.data_files]`` of setup.cfg), for the environment's and the user's install schemes.
    """
    env = os.environ.get("GENIE_GYM_CHECKPOINTS")
    if env:
        return [Path(env)]
    paths = [Path(__file__).resolve().parent.parent / "checkpoints"]
    for scheme in (None, f"{os.name}_user"):
        try:
            data = sysconfig.get_path("data", scheme) if scheme else sysconfig.get_path("data")
        except KeyError:
            continue
        paths.append(Path(data) / INSTALLED_CHECKPOINTS)
    paths.append(Path(sys.prefix) / INSTALLED_CHECKPOINTS)
    return list(dict.fromkeys(paths))


def checkpoints_root() -> Path:
    """The first of :func:`checkpoint_search_paths` that holds the shipped checkpoints (else the first one)."""
    paths = checkpoint_search_paths()
    for path in paths:
        if all((path / name).is_dir() for name in SHIPPED_CHECKPOINTS.values()):
            return path
    return paths[0]


def resolve_checkpoint(name_or_path: str | os.PathLike) -> Path:
    """Turn a shipped checkpoint name (``"smb"``) or a directory path into an existing directory."""
    text = str(name_or_path)
    path = checkpoints_root() / SHIPPED_CHECKPOINTS[text.lower()] if text.lower() in SHIPPED_CHECKPOINTS \
        else Path(text)
    if not path.is_dir():
        shipped = ", ".join(SHIPPED_CHECKPOINTS)
        searched = ", ".join(str(p) for p in checkpoint_search_paths())
        raise CheckpointError(f"world-model checkpoint {text!r} not found at {path}; pass a directory holding "
                              f"tokenizer/ and dynamics/ or one of the shipped names: {shipped} (searched: "
                              f"{searched}; set GENIE_GYM_CHECKPOINTS to the folder that holds them)")
    return path


def read_dream_json(directory: str | os.PathLike) -> dict[str, Any]:
    """``<directory>/dream.json`` as a dict (``{}`` when there is none); a clear error when it is not a JSON object."""
    path = Path(directory) / "dream.json"
    if not path.is_file():
        return {}
    try:
        settings = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); repack the world model") from exc
    if not isinstance(settings, dict):
        raise CheckpointError(f"{path} must hold a JSON object of dream settings, got {type(settings).__name__}")
    return settings


def settings_games(settings: dict[str, Any]) -> list[str]:
    """The games of a world model's settings: ``games`` if set, else ``[game]`` (``"SMB"`` by default)."""
    games = settings.get(GAMES_KEY) or [settings.get("game") or DREAM_DEFAULTS["game"]]
    return [str(game) for game in games]


def _view_base(directory: Path, view: dict[str, Any]) -> Path:
    base = (directory / str(view[VIEW_KEY])).resolve()
    if not ((base / "tokenizer").is_dir() and (base / "dynamics").is_dir()):
        raise CheckpointError(f"{directory} is a game view of the world model at {base}, which has no tokenizer/ and "
                              "dynamics/: keep games/<Game>/ inside the world-model directory `genie world-model "
                              "pack` wrote")
    return base


def world_model_games(name_or_path: str | os.PathLike) -> list[str]:
    """The games of a world-model directory (or shipped name), without loading its weights: ``dream.json``'s
    ``games`` (``[game]`` for a one-game model); for a game view (``games/<Game>/``), its one game."""
    directory = resolve_checkpoint(name_or_path)
    settings = read_dream_json(directory)
    if VIEW_KEY in settings:
        return [str(settings["game"])]
    return settings_games(settings)


def game_checkpoint(name_or_path: str | os.PathLike, game: str) -> Path:
    """The checkpoint whose dream resets from ``game``'s real frames: the directory itself when ``game`` is its
    (default) game and it has no game views, else its game view ``games/<Game>/``. ``game`` may be any spelling
    :func:`genie_gym.games.get_game` knows; one it was not trained on raises ``UnknownGameError`` naming its games."""
    directory = resolve_checkpoint(name_or_path)
    settings = read_dream_json(directory)
    if VIEW_KEY in settings:
        directory = _view_base(directory, settings)
        settings = read_dream_json(directory)
    games = settings_games(settings)
    chosen = select_games(game, games, f"the world model {directory}", option="game")[0]
    view = directory / GAMES_DIR / chosen
    if (view / "dream.json").is_file():
        return view
    if len(games) > 1:
        raise CheckpointError(f"{directory} has no game view {GAMES_DIR}/{chosen}/: repack it with `genie world-model "
                              "pack`, which writes one per game")
    return directory


@dataclass
class DreamState:
    """The running state of a batch of dreams, kept as consecutive groups of dreams that step one group per pass.

    Attributes:
        streams: per group, a :class:`~genie_gym.models.maskgit.DynamicsStream` (past frames' dynamics activations).
        decoders: per group, a :class:`~genie_gym.models.tokenizer.DecoderStream` (past frames' decoder activations).
        batch_size: number of dreams ``B`` (over all groups, in order).
        last_frames: uint8 ``(B, 64, 64, 3)`` the latest frame of each dream (real context, then dreamed).
        last_ids: int64 ``(B, h, w)`` its token ids (what ``hold_pixels`` compares the next ids with).
        steps: frames dreamed so far.
    """

    streams: list[DynamicsStream]
    decoders: list[DecoderStream]
    batch_size: int
    last_frames: np.ndarray
    last_ids: torch.Tensor
    steps: int = 0

    @property
    def group_sizes(self) -> list[int]:
        """Dreams in each group (they sum to :attr:`batch_size`)."""
        return [stream.batch_size for stream in self.streams]


class WorldModel:
    """Tokenizer + dynamics with a batch dreaming API.

    Args:
        tokenizer: a trained ``genie_gym.models.tokenizer.Tokenizer``.
        dynamics: a trained ``genie_gym.models.dynamics.Dynamics``: GenieRedux-G (real actions) or GenieRedux
            (latent actions).
        settings: ``dream.json``'s keys (see :data:`DREAM_DEFAULTS`; missing ones take their defaults).
        device: torch device for the models.
        lam: the latent action model a GenieRedux dynamics was trained with (needed to infer its actions).
    """

    def __init__(self, tokenizer: torch.nn.Module, dynamics: torch.nn.Module, settings: dict[str, Any] | None = None,
                 device: str | torch.device = "cpu", lam: torch.nn.Module | None = None) -> None:
        self.device = torch.device(device)
        self.tokenizer = tokenizer.to(self.device).eval()
        self.dynamics = dynamics.to(self.device).eval()
        self.lam = lam.to(self.device).eval() if lam is not None else None
        self.settings = {**DREAM_DEFAULTS, **(settings or {})}
        if self.settings.get(GAMES_KEY) is not None:
            games = settings_games(self.settings)
            if not games or len(set(games)) != len(games) or str(self.settings["game"]) not in games:
                raise ValueError(f"dream settings: 'games' must be distinct game names with 'game' among them, got "
                                 f"games={self.settings[GAMES_KEY]!r}, game={self.settings['game']!r}")
        _check_compatible(self.tokenizer, self.dynamics)
        if self.lam is not None and self.lam.config.num_codes != self.num_actions:
            raise CheckpointError(f"the LAM has {self.lam.config.num_codes} latent actions but the dynamics model "
                                  f"takes {self.num_actions}; pack the LAM the dynamics was trained with")

    @property
    def action_source(self) -> str:
        """``"ground_truth"`` (GenieRedux-G: the game's ``Discrete(5)`` actions) or ``"latent"`` (GenieRedux)."""
        return str(self.dynamics.config.action_source)

    @property
    def num_actions(self) -> int:
        """Number of action ids the dynamics takes (5 real actions, or the LAM's codebook size)."""
        return int(self.dynamics.config.num_actions)

    @torch.no_grad()
    def infer_actions(self, frames: np.ndarray) -> np.ndarray:
        """Latent action ids int64 ``(B, T-1)`` of uint8 frames ``(B, T, 64, 64, 3)``, read by the packed LAM."""
        if self.lam is None:
            raise CheckpointError("this world model has no latent action model: pack one with "
                                  "`genie world-model pack ... --lam LAM_RUN` (the LAM its dynamics was trained with)")
        frames = validate_frames(frames, "frames")
        tensor = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)
        return self.lam.infer_actions(tensor).cpu().numpy().astype(np.int64)

    @property
    def games(self) -> list[str]:
        """The games this world model was trained on (``dream.json``'s ``games``; ``[game]`` for one game)."""
        return settings_games(self.settings)

    @property
    def game(self) -> str:
        """The real game its dreams reset from (``dream.json``'s ``game``)."""
        return str(self.settings["game"])

    def for_game(self, game: str) -> WorldModel:
        """The same model (weights shared, not copied) dreaming ``game``: its dreams reset from that game's real
        frames. ``game`` must be one of :attr:`games` (any spelling ``get_game`` knows)."""
        chosen = select_games(game, self.games, "this world model", option="game")[0]
        view = copy.copy(self)
        view.settings = {**self.settings, "game": chosen}
        return view

    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike, device: str | torch.device = "cpu",
                        game: str | None = None) -> WorldModel:
        """Load ``<dir>/tokenizer``, ``<dir>/dynamics`` and ``<dir>/dream.json`` (clear error when any is bad).

        ``name_or_path`` may also be a game view ``<dir>/games/<Game>`` of a multi-game world model: the model of
        ``<dir>`` whose dreams reset from ``<Game>``. ``game`` picks one of a multi-game model's games the same way.
        """
        directory = resolve_checkpoint(name_or_path)
        settings = read_dream_json(directory)
        if VIEW_KEY in settings:  # a game view: the world model it points to, with the view's game (and settings)
            view = {key: value for key, value in settings.items() if key != VIEW_KEY}
            directory = _view_base(directory, settings)
            settings = {**read_dream_json(directory), **view}
        tokenizer = load_pretrained(directory / "tokenizer", expected_kind="tokenizer")
        dynamics = load_pretrained(directory / "dynamics", expected_kind="dynamics")
        lam = load_pretrained(directory / "lam", expected_kind="lam") if (directory / "lam").exists() else None
        model = cls(tokenizer, dynamics, settings, device, lam=lam)
        return model.for_game(game) if game is not None else model

    def save_pretrained(self, directory: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
        """Write the tokenizer, the dynamics and ``dream.json`` into ``directory``; a model of several games also gets
        one game view per game, ``games/<Game>/dream.json`` (views of games it no longer has are removed)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        kwargs = {} if dtype is None else {"dtype": dtype}
        save_pretrained(self.tokenizer, directory / "tokenizer", **kwargs)
        save_pretrained(self.dynamics, directory / "dynamics", **kwargs)
        if self.lam is not None:
            save_pretrained(self.lam, directory / "lam", **kwargs)
        atomic_write_text(directory / "dream.json", json.dumps(self.settings, indent=2) + "\n")
        games = self.games if len(self.games) > 1 else []
        views = directory / GAMES_DIR
        for old in sorted(views.iterdir()) if views.is_dir() else []:
            if old.name not in games and VIEW_KEY in read_dream_json(old):
                (old / "dream.json").unlink()
                if not any(old.iterdir()):
                    old.rmdir()
        for game in games:
            view = {VIEW_KEY: "../..", "game": game}
            (views / game).mkdir(parents=True, exist_ok=True)
            atomic_write_text(views / game / "dream.json", json.dumps(view, indent=2) + "\n")
        if views.is_dir() and not any(views.iterdir()):
            views.rmdir()
        return directory

    @torch.no_grad()
    def encode(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 ``(B, T, 64, 64, 3)`` → token ids int64 ``(B, T, h, w)``, as the dynamics model reads them (with
        unchanged patches holding their previous id where it was trained so: ``hold_unchanged_tokens``)."""
        frames = validate_frames(frames, "context frames")
        ids = self.tokenizer.encode(torch.from_numpy(np.ascontiguousarray(frames)).to(self.device))
        if getattr(self.dynamics.config, "hold_unchanged_tokens", False):
            ids = hold_unchanged_tokens(ids, frames, self.tokenizer.config.patch_size)
        return ids

    @torch.no_grad()
    def decode(self, tokens: torch.Tensor) -> np.ndarray:
        """token ids ``(B, T, h, w)`` → uint8 frames ``(B, T, 64, 64, 3)``."""
        return float_to_frames(self.tokenizer.decode(tokens.to(self.device))).cpu().numpy()

    @torch.no_grad()
    def start(self, frames: np.ndarray, actions: np.ndarray) -> DreamState:
        """Begin dreams from real context.

        Args:
            frames: uint8 ``(B, Tc, 64, 64, 3)``, ``Tc >= 1``.
            actions: int64 ``(B, Tc - 1)``; ``actions[:, t]`` led from ``frames[:, t]`` to ``frames[:, t + 1]``.
        """
        frames = validate_frames(frames, "context frames")
        if frames.ndim != 5:
            raise ValueError(f"context frames must be (B, T, 64, 64, 3), got shape {frames.shape}")
        actions = self._validate_actions(actions, frames.shape[0], frames.shape[1] - 1)
        tokens = self.encode(frames)
        action_ids = torch.from_numpy(actions).to(self.device)
        streams, decoders = [], []
        group = self.dreams_per_pass
        for first in range(0, frames.shape[0], group):
            rows = slice(first, first + group)
            streams.append(self.dynamics.start_stream(tokens[rows], action_ids[rows],
                                                      max_context_frames=int(self.settings["context_window"])))
            decoders.append(DecoderStream(self.tokenizer, tokens[rows],
                                          max_context_frames=int(self.settings["decode_window"])))
        return DreamState(streams=streams, decoders=decoders, batch_size=int(frames.shape[0]),
                          last_frames=np.array(frames[:, -1]), last_ids=tokens[:, -1].clone())

    @property
    def dreams_per_pass(self) -> int:
        """How many dreams one forward pass steps: ``dream.json``'s ``dreams_per_pass``, else
        :data:`CPU_DREAMS_PER_PASS` on a CPU and all of them on a GPU."""
        setting = self.settings.get("dreams_per_pass")
        if setting is not None:
            if int(setting) < 1:
                raise ValueError(f"dreams_per_pass must be >= 1 or null, got {setting}")
            return int(setting)
        return CPU_DREAMS_PER_PASS if self.device.type == "cpu" else 1 << 30

    @torch.no_grad()
    def step(self, state: DreamState, actions: np.ndarray, sampling: DreamSettings | None = None,
             generator: torch.Generator | None = None) -> tuple[np.ndarray, torch.Tensor]:
        """Dream one frame per batch element.

        Args:
            actions: int ``(B,)`` in ``[0, 5)``.
            sampling: how to draw it (``None``: ``dream.json``'s; ``world_model.dream_settings(temperature=0)``
                overrides some of them).
        Returns:
            ``(frames uint8 (B, 64, 64, 3), uncertainty float (B, h, w) in [0, 1])``.
        """
        actions = self._validate_actions(np.asarray(actions).reshape(-1, 1), state.batch_size, 1)[:, 0]
        action_ids = torch.from_numpy(actions).to(self.device)
        sampling = sampling or self.dream_settings()
        frames, ids, entropies, first = [], [], [], 0
        for stream, decoder in zip(state.streams, state.decoders, strict=True):  # one pass per group, in order
            tokens, entropy = stream.next_frame(action_ids[first : first + stream.batch_size], sampling, generator)
            frames.append(float_to_frames(decoder.next_frame(tokens)).cpu().numpy())
            ids.append(tokens)
            entropies.append(entropy.float().cpu())
            first += stream.batch_size
        frames, ids = np.concatenate(frames), torch.cat(ids)
        if sampling.hold_pixels:
            frames = self._hold_pixels(state.last_frames, state.last_ids, frames, ids, sampling.hold_tolerance)
        state.last_frames, state.last_ids = frames, ids
        state.steps += 1
        return frames, torch.cat(entropies)

    def _hold_pixels(self, previous: np.ndarray, previous_ids: torch.Tensor, decoded: np.ndarray,
                     ids: torch.Tensor, tolerance: int) -> np.ndarray:
        """``hold_pixels``: patches whose id repeats the previous frame's, or whose pixels come within ``tolerance``
        (``hold_tolerance``) of it, keep its pixels (hold_unchanged_pixels)."""
        held = hold_unchanged_pixels(torch.from_numpy(previous), previous_ids.cpu(), torch.from_numpy(decoded),
                                     ids.cpu(), self.tokenizer.config.patch_size, tolerance)
        return held.numpy()


    @torch.no_grad()
    def predict(self, frames: np.ndarray, actions: np.ndarray, num_frames: int, mode: str = "single",
                frames_per_step: int = 1, sampling: DreamSettings | None = None,
                generator: torch.Generator | None = None) -> tuple[np.ndarray, torch.Tensor]:
        """Predict ``num_frames`` future frames from context frames and all actions (the evaluation protocol).

        Args:
            frames: uint8 ``(B, Tc, 64, 64, 3)`` context.
            actions: int ``(B, Tc + num_frames - 1)``; ``actions[:, t]`` leads from frame t to frame t + 1.
            mode: ``"single"`` (all future frames in one MaskGIT pass) or ``"autoregressive"``
                (``frames_per_step`` frames at a time given all previous).
            sampling: how to draw them (``None``: ``dream.json``'s; :meth:`dream_settings`).
        Returns:
            ``(frames uint8 (B, num_frames, 64, 64, 3), uncertainty float (B, num_frames, h, w))``.
        """
        frames = validate_frames(frames, "context frames")
        batch, context = frames.shape[:2]
        actions = self._validate_actions(actions, batch, context + num_frames - 1)
        tokens = self.encode(frames)
        action_ids = torch.from_numpy(actions).to(self.device)
        sampling = sampling or self.dream_settings()
        if mode == "autoregressive" and frames_per_step == 1:
            # the cached stream gives the same tokens as a full recompute (tested), at a fraction of the cost
            stream = self.dynamics.start_stream(tokens, action_ids[:, : context - 1], max_context_frames=None)
            predicted, uncertainty = [], []
            for index in range(num_frames):
                ids, entropy = stream.next_frame(action_ids[:, context - 1 + index], sampling, generator)
                predicted.append(ids)
                uncertainty.append(entropy)
            predicted_tokens, entropies = torch.stack(predicted, dim=1), torch.stack(uncertainty, dim=1)
        else:
            result = self.dynamics.generate(tokens, action_ids, num_frames=num_frames, mode=mode,
                                            frames_per_step=frames_per_step, sampling=sampling, generator=generator)
            predicted_tokens, entropies = result.tokens, result.entropy
        return self.decode_held(frames, tokens, predicted_tokens, sampling), entropies.float().cpu()

    @torch.no_grad()
    def decode_held(self, frames: np.ndarray, tokens: torch.Tensor, predicted_tokens: torch.Tensor,
                    sampling: DreamSettings | None = None) -> np.ndarray:
        """The frames of predicted token ids, decoded after the context and composed as a dream composes them.

        Args:
            frames: uint8 ``(B, Tc, 64, 64, 3)`` the real context frames.
            tokens: int64 ``(B, Tc, h, w)`` their ids (:meth:`encode`).
            predicted_tokens: int64 ``(B, N, h, w)`` the ids of the frames after them: the dynamics' (:meth:`predict`)
                or, for the ceiling a perfect dynamics would reach with this tokenizer, the real next frames' own.
            sampling: ``hold_pixels`` and ``hold_tolerance`` say which patches keep the previous frame's pixels.
        Returns:
            uint8 ``(B, N, 64, 64, 3)``.
        """
        sampling = sampling or self.dream_settings()
        context = tokens.shape[1]
        decoded = self.decode(torch.cat([tokens, predicted_tokens], dim=1))[:, context:]
        if sampling.hold_pixels:
            previous, previous_ids = frames[:, -1], tokens[:, -1]
            for index in range(decoded.shape[1]):
                decoded[:, index] = self._hold_pixels(previous, previous_ids, decoded[:, index],
                                                      predicted_tokens[:, index], sampling.hold_tolerance)
                previous, previous_ids = decoded[:, index], predicted_tokens[:, index]
        return decoded

    def _validate_actions(self, actions: np.ndarray, batch: int, length: int) -> np.ndarray:
        return _validate_actions(actions, batch, length, self.num_actions, self.action_source)

    def dream_settings(self, **arguments: Any) -> DreamSettings:
        """The sampling settings: each argument of :class:`DreamSettings` given (not ``None``), else ``dream.json``'s,
        else the default (:meth:`DreamSettings.resolve`)."""
        return DreamSettings.resolve(self.settings, **arguments)

    def require_ground_truth_actions(self) -> None:
        """Raise one clear error unless the dynamics takes the game's real actions (what a dream env feeds it)."""
        if self.action_source != "ground_truth":
            raise ValueError("a dream env takes the game's Discrete(5) actions and needs a GenieRedux-G world model "
                             "(ground-truth actions); this one is GenieRedux (latent actions): evaluate it with "
                             "`genie eval`, or predict with WorldModel.predict and WorldModel.infer_actions")

    @torch.no_grad()
    def reconstruct(self, frames: np.ndarray) -> np.ndarray:
        """Tokenizer round trip: uint8 ``(B, T, 64, 64, 3)`` → uint8 ``(B, T, 64, 64, 3)``."""
        return self.decode(self.encode(frames))


def _validate_actions(actions: np.ndarray, batch: int, length: int, num_actions: int = NUM_ACTIONS,
                      action_source: str = "ground_truth") -> np.ndarray:
    actions = np.asarray(actions)
    if actions.shape != (batch, length) or not np.issubdtype(actions.dtype, np.integer):
        raise ValueError(f"actions must be integers of shape ({batch}, {length}), got {actions.dtype} {actions.shape}")
    if actions.size and (actions.min() < 0 or actions.max() >= num_actions):
        meaning = ("0 RIGHT, 1 LEFT, 2 UP, 3 DOWN, 4 JUMP" if action_source == "ground_truth"
                   else "latent action ids of this GenieRedux model's LAM; WorldModel.infer_actions reads them")
        raise ValueError(f"actions must lie in [0, {num_actions}) ({meaning}), "
                         f"got values {sorted(set(actions.ravel().tolist()))}")
    return actions.astype(np.int64)


def _check_compatible(tokenizer: torch.nn.Module, dynamics: torch.nn.Module) -> None:
    codebook = tokenizer.codebook_vectors().detach().cpu()
    dynamics_codebook = dynamics.codebook.detach().cpu()
    if codebook.shape != dynamics_codebook.shape or not torch.allclose(codebook, dynamics_codebook, atol=1e-3):
        raise CheckpointError("the dynamics model was trained on another tokenizer's codebook; use the tokenizer it "
                              "was trained with (see its run directory)")
