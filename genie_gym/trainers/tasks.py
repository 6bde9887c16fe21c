"""Per-model training setup: which model, which dataset and batch, how to save it and how to draw it.

``build_task(TaskSettings(model, ...))`` returns the :class:`~genie_gym.trainers.training_loop.TrainingTask` for

- ``tokenizer``: the VQ-VAE on clips of frames (``WindowDataset`` items ``{"frames"}``); images: input vs
  reconstruction.
- ``lam``: the latent action model on clips of frames; images: the clip vs the LAM decoder's prediction of each
  next frame from the actions it inferred.
- ``dynamics`` (GenieRedux-G): MaskGIT over token ids with the recorded actions. The ids come from a trained
  tokenizer (``--tokenizer``), computed once per episode and cached next to the store
  (:mod:`genie_gym.trainers.token_cache`);
  the dynamics config takes ``num_codes`` / ``latent_dim`` / ``grid_size`` from that tokenizer, and the model gets
  its codebook. Images: the ground-truth clip vs the frames generated from its first 2 frames and the true actions,
  both decoded by the tokenizer.
- ``genie-redux`` (GenieRedux): the same dynamics with ``action_source="latent"``: the actions are the codes a
  trained LAM (``--lam``) infers for each transition (cached like the tokens), ``num_actions`` = the LAM's codebook.
- ``upscaler``: the super-resolution U-Net on the 64x64 / 256x256 frame pairs of a ``genie collect --hires`` store
  (:mod:`genie_gym.trainers.upscaler_task`); ``--window`` does not apply.

The first two train on frames (:func:`build_frame_task`), the last two on cached token ids
(:func:`build_token_task`). Models are initialised from ``seed`` so the same seed gives the same initial weights.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genie_gym.atomic import atomic_write_text
from genie_gym.data.store import EpisodeStore
from genie_gym.data.window_dataset import WindowDataset
from genie_gym.games import select_games
from genie_gym.image_grid import image_grid
from genie_gym.models.checkpoint_io import CONFIG_FILE, CheckpointError, load_pretrained, save_pretrained
from genie_gym.models.configs import (
    SAMPLING_KEYS_BEFORE_SPLIT,
    SETTABLE_FIELDS,
    TRAINING_OPTION_CLASSES,
    TRAINING_OPTIONS_FILE,
    get_config,
    get_training_options,
)
from genie_gym.models.dynamics import Dynamics
from genie_gym.models.image_ops import float_to_frames
from genie_gym.models.lam import LatentActionModel
from genie_gym.models.tokenizer import VideoTokenizer, hold_unchanged_tokens
from genie_gym.options import option
from genie_gym.trainers.distributed import DistributedContext
from genie_gym.trainers.run_dir import resolve_model_checkpoint
from genie_gym.trainers.token_cache import (
    DEFAULT_CHUNK,
    EpisodeArrayCache,
    TokenWindowDataset,
    encode_episode_tokens,
    infer_episode_actions,
    model_fingerprint,
)
from genie_gym.trainers.training_loop import Batch, TrainingTask
from genie_gym.trainers.upscaler_task import build_upscaler_task

FRAME_MODELS: tuple[str, ...] = ("tokenizer", "lam")
TOKEN_MODELS: tuple[str, ...] = ("dynamics", "genie-redux")
PAIR_MODELS: tuple[str, ...] = ("upscaler",)
MODEL_KINDS: tuple[str, ...] = FRAME_MODELS + TOKEN_MODELS + PAIR_MODELS
"""What ``genie train`` trains (see the module docstring)."""
IMAGE_FRAMES = 8  # frames per row of an image grid
GRID_GAP = 2
IMAGE_SCALE = 2


def parse_config_overrides(items: list[str]) -> dict[str, Any]:
    """``["tdce_lambda=1", ...]`` -> ``{"tdce_lambda": 1}`` (values parsed as JSON, else text)."""
    overrides: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        try:
            overrides[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            overrides[key.strip()] = text
    return overrides


@dataclass
class TaskSettings:
    """What to train and on what: the inputs of :func:`build_task`, checked when the settings are built. Each
    setting that ``genie train`` exposes declares its command-line option here."""

    model: str = option(positional=True, choices=MODEL_KINDS, help="what to train")
    config: str = option("small", "model config: small (CPU), paper (GPU) or a JSON file (upscaler: also "
                                  "paper-large, tiny)")
    data: str | None = option(None, "episode store directory (its train split is used; required unless --resume)")
    tokenizer: str | None = option(None, "dynamics/genie-redux: trained tokenizer run dir or checkpoint dir")
    lam: str | None = option(None, "genie-redux: trained latent action model run dir or checkpoint dir")
    init: str | None = option(
        None, "fine-tune: start from this run or checkpoint of the same model kind (its config replaces --config)"
    )
    config_set: list[str] = option(
        default_factory=list, flag="--set", action="append", metavar="KEY=VALUE",
        help="change a training option, also of an --init model (tokenizer, lam: "
             f"{', '.join(sorted(SETTABLE_FIELDS['tokenizer']))}; dynamics: "
             f"{', '.join(sorted(SETTABLE_FIELDS['dynamics']))}); repeatable",
    )
    decoder_only: bool = option(
        False, "tokenizer: freeze the encoder and codebook, train the decoder (token ids stay valid)"
    )
    decoder_held_ids: bool = option(
        False, "tokenizer --decoder-only: decode ids in which unchanged patches hold their previous id, as a "
               "hold_unchanged_tokens dynamics model predicts them"
    )
    games: list[str] | None = option(None, "train on these games of the store only: names, groups (platformers) or "
                                           "comma-separated mixes (default: all its games)")
    window: int = option(16, "frames per training clip (default %(default)s)")
    seed: int = 0  # of the initial weights; the command line sets it with the loop's --seed

    def __post_init__(self) -> None:
        if self.model not in MODEL_KINDS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(MODEL_KINDS)}")
        if self.data is None:
            raise ValueError("--data DIR is required (or --resume --out RUN_DIR of a run that recorded it)")
        if not Path(self.data).is_dir():
            raise FileNotFoundError(f"--data {self.data} does not exist; collect an episode store with `genie collect`")
        if self.games is not None:  # names, groups or comma-separated mixes, checked against the store's games
            self.games = select_games(self.games, EpisodeStore(self.data).games(), f"the store {self.data}")
        if self.model in TOKEN_MODELS and not self.tokenizer:
            raise ValueError(f"training {self.model} needs --tokenizer RUN_DIR (a trained tokenizer run or checkpoint)")
        if self.model == "genie-redux" and not self.lam:
            raise ValueError(
                "training genie-redux needs --lam RUN_DIR (a trained latent action model run or checkpoint)"
            )
        if self.model in FRAME_MODELS + PAIR_MODELS and (self.tokenizer or self.lam):
            raise ValueError(f"--tokenizer/--lam are inputs of dynamics/genie-redux, not of {self.model}")
        if self.decoder_only and self.model != "tokenizer":
            raise ValueError("--decoder-only fine-tunes a tokenizer's decoder; it does not apply to " + self.model)
        if self.decoder_held_ids and not self.decoder_only:
            raise ValueError("--decoder-held-ids goes with --decoder-only (the encoder and codebook must stay fixed)")
        if self.window < 2:
            raise ValueError(f"--window must be >= 2 frames, got {self.window}")
        allowed = SETTABLE_FIELDS.get("dynamics" if self.model in TOKEN_MODELS else self.model, frozenset())
        not_allowed = sorted(set(self.config_overrides) - allowed)
        if not_allowed:
            sampling = sorted(set(not_allowed) & SAMPLING_KEYS_BEFORE_SPLIT)
            hint = (f"; {', '.join(sampling)} are sampling settings: set them in a world model's dream.json or "
                    "pass them to genie eval / genie play") if sampling else ""
            raise ValueError(f"--set cannot change {', '.join(not_allowed)} of a {self.model} model (training "
                             f"options: {', '.join(sorted(allowed)) or 'none'}){hint}; architecture changes need a "
                             "--config file and a new run")

    @property
    def config_overrides(self) -> dict[str, Any]:
        """The ``--set KEY=VALUE`` changes as ``{field: value}``."""
        return parse_config_overrides(self.config_set)

    def windows(self) -> WindowDataset:
        """The training clips of the store."""
        return WindowDataset(self.data, split="train", window=self.window, games=self.games)


def save_model(model: nn.Module, directory: Path) -> None:
    """Write a checkpoint of the run: the model (``save_pretrained``: the architecture in ``config.json``) and the
    training options it trains with (``training_options.json``), which ``--init`` and ``--resume`` read."""
    save_pretrained(model, directory)
    options = json.dumps(model.training_options.to_dict(), indent=2) + "\n"
    atomic_write_text(directory / TRAINING_OPTIONS_FILE, options)


def load_model_weights(model: nn.Module, directory: Path) -> None:
    """Load a checkpoint of the run into ``model`` in place; it must hold the same architecture, trained with the
    same training options (a changed option needs a new run: ``--init`` the checkpoint)."""
    kind = model.model_kind
    saved = get_training_options(kind, directory / CONFIG_FILE).to_dict()
    wanted = model.training_options.to_dict()
    changed = ", ".join(f"{key} {value!r} (now {wanted[key]!r})" for key, value in saved.items()
                        if wanted[key] != value)
    if changed:
        raise CheckpointError(f"{directory} was trained with other training options: {changed}; resume with the "
                              "run's own --set options, or start a new run with --init from this checkpoint")
    loaded = load_pretrained(directory, expected_kind=kind)
    if loaded.config.to_dict() != model.config.to_dict():
        raise CheckpointError(
            f"{directory} was trained with another {kind} config ({loaded.config}); "
            "resume with the run's own --config (see config.json in the run directory)"
        )
    model.load_state_dict(loaded.state_dict())


def run_training_options(settings: TaskSettings, kind: str) -> Any:
    """The training options of the run: ``--init``'s (else ``--config``'s), changed by ``--set``."""
    source: str | Path = settings.config
    if settings.init is not None:
        source = resolve_model_checkpoint(settings.init) / CONFIG_FILE
    names = TRAINING_OPTION_CLASSES[kind].field_names()
    changes = {key: value for key, value in settings.config_overrides.items() if key in names}
    return get_training_options(kind, source).replace(**changes)


def _load_init(path: str | os.PathLike, kind: str) -> nn.Module:
    """The trainable model of ``kind`` (weights and config) that ``--init`` names; ``--config`` is ignored then."""
    return load_pretrained(resolve_model_checkpoint(path), expected_kind=kind).train()


def load_frozen(path: str | os.PathLike, kind: str, device: torch.device) -> tuple[nn.Module, Path]:
    """A trained model of ``kind`` from a run directory or checkpoint directory, frozen, in eval mode on ``device``.

    Raises :class:`CheckpointError` (naming the kind found) when the checkpoint holds another kind of model.
    """
    directory = resolve_model_checkpoint(path)
    model = load_pretrained(directory, expected_kind=kind, map_location=device)
    model.requires_grad_(False)
    return model.eval(), directory


def image_rows(rows: list[torch.Tensor], gap: int = GRID_GAP, scale: int = IMAGE_SCALE) -> np.ndarray:
    """Stack rows of frames (each uint8 ``(T, H, W, 3)``) into one uint8 grid, frames upscaled ``scale`` times
    (nearest neighbour) and separated by ``gap`` white pixels."""
    return image_grid([row.cpu().numpy() for row in rows], scale=scale, gap=gap)


def _render_reconstruction(model: nn.Module, batch: Batch) -> np.ndarray:
    """Tokenizer image: row 1 the first clip's frames, row 2 their reconstruction."""
    frames = batch["frames"][:1, :IMAGE_FRAMES]
    reconstruction = float_to_frames(model.reconstruct(frames))
    return image_rows([frames[0], reconstruction[0]])


def _render_lam(model: nn.Module, batch: Batch) -> np.ndarray:
    """LAM image: row 1 the clip, row 2 frame 0 then the LAM's predictions of frames 1.. from its inferred actions."""
    frames = batch["frames"][:1, :IMAGE_FRAMES]
    predicted = float_to_frames(model.predict_next_frames(frames, model.infer_actions(frames)))
    return image_rows([frames[0], torch.cat([frames[0, :1], predicted[0]])])


class _DynamicsRenderer:
    """Dynamics image: row 1 the ground-truth clip, row 2 the same 2 context frames followed by the frames the model
    generates from them and the true actions (MaskGIT, the default sampling settings), both decoded by the
    tokenizer."""

    context_frames = 2

    def __init__(self, tokenizer: nn.Module) -> None:
        self.tokenizer = tokenizer

    def __call__(self, model: nn.Module, batch: Batch) -> np.ndarray:
        tokens = batch["tokens"][:1, :IMAGE_FRAMES]
        actions = batch["actions"][:1, : tokens.shape[1] - 1]
        context = tokens[:, : min(self.context_frames, tokens.shape[1] - 1)]
        generator = torch.Generator(tokens.device).manual_seed(0)
        predicted = model.generate(context, actions, tokens.shape[1] - context.shape[1], generator=generator).tokens
        truth = float_to_frames(self.tokenizer.decode(tokens))[0]
        guess = float_to_frames(self.tokenizer.decode(torch.cat([context, predicted], dim=1)))[0]
        return image_rows([truth, guess])


def _frozen_inference(model: nn.Module, method: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """``model.<method>(clips)`` with the clips moved to the model's device, without gradients."""
    device = next(model.parameters()).device
    apply = getattr(model, method)

    def run(clips: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return apply(clips.to(device))

    return run


def _cache_episode_arrays(
    kind: str,
    windows: WindowDataset,
    checkpoint: Path,
    settings: dict[str, Any],
    compute: Callable[[np.ndarray], np.ndarray],
    ctx: DistributedContext | None,
    progress: bool,
    expected_rows: Callable[[int], int] = lambda length: length,
) -> EpisodeArrayCache:
    """The cache ``kind`` of every training episode, made once by ``compute(frames)`` with the model saved in
    ``checkpoint`` and ``settings`` (both name the cache; see :mod:`genie_gym.trainers.token_cache`)."""
    cache = EpisodeArrayCache(
        windows.store.root,
        kind,
        model_fingerprint(checkpoint, settings),
        {"checkpoint": str(checkpoint.resolve()), **settings},
    )
    cache.build(windows.episodes, windows.lengths.tolist(), compute, expected_rows=expected_rows, ctx=ctx,
                progress=progress)
    return cache


def cache_tokens(
    windows: WindowDataset, tokenizer: nn.Module, checkpoint: Path, ctx: DistributedContext | None, progress: bool,
    hold_unchanged: bool = False,
) -> EpisodeArrayCache:
    """Token ids of every training episode, computed once with ``tokenizer``;
    with ``hold_unchanged``, unchanged patches keep their previous id across the whole episode
    (:func:`genie_gym.models.tokenizer.hold_unchanged_tokens`; a separate cache)."""
    settings: dict[str, Any] = {"chunk": DEFAULT_CHUNK}
    if hold_unchanged:
        settings["hold_unchanged"] = True
    encode = _frozen_inference(tokenizer, "encode")

    def episode_tokens(frames: np.ndarray) -> np.ndarray:
        ids = encode_episode_tokens(frames, encode, DEFAULT_CHUNK)
        if hold_unchanged:
            ids = hold_unchanged_tokens(torch.from_numpy(ids)[None], np.asarray(frames)[None],
                                        tokenizer.config.patch_size)[0].numpy()
        return ids

    return _cache_episode_arrays("tokens", windows, checkpoint, settings, episode_tokens, ctx, progress)


def cache_latent_actions(
    windows: WindowDataset, lam: nn.Module, checkpoint: Path, ctx: DistributedContext | None, progress: bool
) -> EpisodeArrayCache:
    """LAM codes of every transition of every training episode, inferred once with ``lam``."""
    infer = _frozen_inference(lam, "infer_actions")
    return _cache_episode_arrays(
        "latent_actions", windows, checkpoint, {"chunk": DEFAULT_CHUNK},
        lambda frames: infer_episode_actions(frames, infer, DEFAULT_CHUNK), ctx, progress,
        expected_rows=lambda length: length - 1,
    )


def build_task(settings: TaskSettings, ctx: DistributedContext | None = None, progress: bool = True) -> TrainingTask:
    """The :class:`TrainingTask` that ``settings`` describe (see the module docstring).

    ``ctx``: the distributed context (token caching is shared across ranks); ``progress``: tqdm bars while caching.
    Raises :class:`CheckpointError` for a ``--tokenizer``/``--lam``/``--init`` checkpoint of the wrong kind.
    """
    if settings.model in FRAME_MODELS:
        return build_frame_task(settings)
    if settings.model in PAIR_MODELS:
        return build_upscaler_task(settings)
    return build_token_task(settings, ctx or DistributedContext(), progress)


def build_frame_task(settings: TaskSettings) -> TrainingTask:
    """The tokenizer or LAM task: the model (new, or ``--init``'s) trained on clips of frames."""
    kind, init = settings.model, settings.init
    windows = settings.windows()
    model_config = get_config(kind, settings.config)  # checked even when --init brings its own
    options = run_training_options(settings, kind)
    torch.manual_seed(settings.seed)
    if kind == "tokenizer":
        model: nn.Module = VideoTokenizer(model_config, options) if init is None else _load_init(init, kind)
        render = _render_reconstruction
        if settings.decoder_only:
            model.freeze_encoder()
            model.decode_held_ids = settings.decoder_held_ids
    else:
        model = LatentActionModel(model_config, options) if init is None else _load_init(init, kind)
        render = _render_lam
    model.training_options = options
    description = {"model_kind": kind, "config": model.config.to_dict(),
                   "training_options": model.training_options.to_dict(), "data": _data_info(windows),
                   "init": str(init) if init is not None else None, "decoder_only": settings.decoder_only,
                   "decoder_held_ids": settings.decoder_held_ids}
    return TrainingTask(kind, model, windows, settings.window, description, save_model, load_model_weights,
                        render_images=render)


def build_token_task(settings: TaskSettings, ctx: DistributedContext, progress: bool) -> TrainingTask:
    """The dynamics or genie-redux task: MaskGIT dynamics on token ids cached with the frozen ``--tokenizer``
    (with ``genie-redux``, on the actions the frozen ``--lam`` infers)."""
    windows = settings.windows()
    config_overrides = settings.config_overrides
    frozen_tokenizer, tokenizer_dir = load_frozen(settings.tokenizer, "tokenizer", ctx.device)
    hold = config_overrides.get("hold_unchanged_tokens")
    if hold is None:  # the run's own config, or the --init model's
        hold = _dynamics_config(settings).hold_unchanged_tokens
    tokens = cache_tokens(windows, frozen_tokenizer, tokenizer_dir, ctx, progress, hold_unchanged=bool(hold))
    tok_config = frozen_tokenizer.config
    overrides: dict[str, Any] = {
        "num_codes": tok_config.num_codes,
        "latent_dim": tok_config.latent_dim,
        "grid_size": tok_config.grid_size,
    }
    latent_actions = None
    provenance = {"tokenizer": str(tokenizer_dir.resolve())}
    if settings.model == "genie-redux":
        frozen_lam, lam_dir = load_frozen(settings.lam, "lam", ctx.device)
        latent_actions = cache_latent_actions(windows, frozen_lam, lam_dir, ctx, progress)
        overrides.update(action_source="latent", num_actions=frozen_lam.config.num_codes)
        provenance["lam"] = str(lam_dir.resolve())
        del frozen_lam
    model = dynamics_model(settings, frozen_tokenizer.codebook_vectors().detach().cpu(), overrides)
    description = {
        "model_kind": "dynamics",
        "config": model.config.to_dict(),
        "training_options": model.training_options.to_dict(),
        "data": _data_info(windows),
        "token_cache": str(tokens.root),
        **provenance,
    }
    return TrainingTask(settings.model, model, TokenWindowDataset(windows, tokens, latent_actions), settings.window,
                        description, save_model, load_model_weights,
                        render_images=_DynamicsRenderer(frozen_tokenizer))


def dynamics_model(settings: TaskSettings, codebook: torch.Tensor, inputs: dict[str, Any]) -> Dynamics:
    """The dynamics model the run trains, with its training options: ``--init``'s model (else a new one of
    ``--config``'s architecture with ``inputs``, the fields the tokenizer and LAM fix, initialised from ``seed``),
    and ``--init``'s (else ``--config``'s) training options, both changed by ``--set``."""
    torch.manual_seed(settings.seed)
    model = Dynamics(get_config("dynamics", settings.config).replace(**inputs), codebook=codebook)
    if settings.init is not None:
        model = _load_init(settings.init, "dynamics")
        if not torch.allclose(model.codebook.cpu(), codebook, atol=1e-3):
            raise CheckpointError(f"--init {settings.init} was trained on another tokenizer's codebook than "
                                  f"{settings.tokenizer}")
    architecture = set(model.config.field_names())
    set_architecture = {key: value for key, value in settings.config_overrides.items() if key in architecture}
    if set_architecture:  # hold_unchanged_tokens: no weight depends on it
        model.config = model.config.replace(**set_architecture)
    model.training_options = run_training_options(settings, "dynamics")
    return model


def _dynamics_config(settings: TaskSettings) -> Any:
    """The dynamics config the run starts from: ``--init``'s, else ``--config``'s."""
    if settings.init is None:
        return get_config("dynamics", settings.config)
    return get_config("dynamics", resolve_model_checkpoint(settings.init) / CONFIG_FILE)


def _data_info(windows: WindowDataset) -> dict[str, Any]:
    return {
        "store": str(windows.store.root.resolve()),
        "split": windows.split,
        "games": windows.games,
        "window": windows.window,
        "episodes": len(windows.episodes),
        "windows": len(windows),
    }
