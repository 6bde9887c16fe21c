"""Per-model training setup: which model, which dataset and batch, how to save it and how to draw it.

``build_task(kind, ...)`` returns the :class:`~genie_gym.trainers.training_loop.TrainingTask` for

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

Models are initialised from ``seed`` so the same seed gives the same initial weights.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genie_gym.data.window_dataset import WindowDataset
from genie_gym.models.checkpoint_io import CheckpointError, load_pretrained, save_pretrained
from genie_gym.models.configs import TRAINING_ONLY_FIELDS, get_config
from genie_gym.models.image_ops import float_to_frames
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

TASK_KINDS: tuple[str, ...] = ("tokenizer", "lam", "dynamics", "genie-redux")
IMAGE_FRAMES = 8  # frames per row of an image grid
GRID_GAP = 2
IMAGE_SCALE = 2


def save_model(model: nn.Module, directory: Path) -> None:
    """Write ``model`` with ``save_pretrained`` (model.safetensors + config.json)."""
    save_pretrained(model, directory)


def load_model_weights(model: nn.Module, directory: Path) -> None:
    """Load a ``save_pretrained`` checkpoint of ``model``'s kind into ``model`` in place."""
    loaded = load_pretrained(directory, expected_kind=model.model_kind)
    if loaded.config.to_dict() != model.config.to_dict():
        raise CheckpointError(
            f"{directory} was trained with another {model.model_kind} config ({loaded.config}); "
            "resume with the run's own --config (see config.json in the run directory)"
        )
    model.load_state_dict(loaded.state_dict())


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
    frames = [row.cpu().numpy().repeat(scale, axis=1).repeat(scale, axis=2) for row in rows]
    height, width = frames[0].shape[1:3]
    columns = max(len(row) for row in frames)
    grid = np.full((len(frames) * (height + gap) + gap, columns * (width + gap) + gap, 3), 255, np.uint8)
    for r, row in enumerate(frames):
        for c, frame in enumerate(row):
            top, left = gap + r * (height + gap), gap + c * (width + gap)
            grid[top : top + height, left : left + width] = frame
    return grid


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
    generates from them and the true actions (MaskGIT, the config's steps), both decoded by the tokenizer."""

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


def _frame_windows(data_dir: str | os.PathLike, window: int, games: list[str] | None) -> WindowDataset:
    if not Path(data_dir).is_dir():
        raise FileNotFoundError(f"--data {data_dir} does not exist; collect an episode store with `genie collect`")
    return WindowDataset(data_dir, split="train", window=window, games=games)


def cache_tokens(
    windows: WindowDataset, tokenizer: nn.Module, checkpoint: Path, ctx: DistributedContext | None, progress: bool,
    hold_unchanged: bool = False,
) -> EpisodeArrayCache:
    """Token ids of every training episode, computed once with ``tokenizer``
    (see :mod:`genie_gym.trainers.token_cache`);
    with ``hold_unchanged``, unchanged patches keep their previous id across the whole episode
    (:func:`genie_gym.models.tokenizer.hold_unchanged_tokens`; a separate cache)."""
    settings: dict[str, Any] = {"chunk": DEFAULT_CHUNK}
    if hold_unchanged:
        settings["hold_unchanged"] = True
    cache = EpisodeArrayCache(
        windows.store.root,
        "tokens",
        model_fingerprint(checkpoint, settings),
        {"checkpoint": str(checkpoint.resolve()), **settings},
    )
    device = next(tokenizer.parameters()).device

    def encode(clips: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return tokenizer.encode(clips.to(device))

    def episode_tokens(frames: np.ndarray) -> np.ndarray:
        ids = encode_episode_tokens(frames, encode, DEFAULT_CHUNK)
        if hold_unchanged:
            from genie_gym.models.tokenizer import hold_unchanged_tokens

            ids = hold_unchanged_tokens(torch.from_numpy(ids)[None], np.asarray(frames)[None],
                                        tokenizer.config.patch_size)[0].numpy()
        return ids

    cache.build(windows.episodes, windows.lengths.tolist(), episode_tokens, ctx=ctx, progress=progress)
    return cache


def cache_latent_actions(
    windows: WindowDataset, lam: nn.Module, checkpoint: Path, ctx: DistributedContext | None, progress: bool
) -> EpisodeArrayCache:
    """LAM codes of every transition of every training episode, inferred once with ``lam``."""
    settings = {"chunk": DEFAULT_CHUNK}
    cache = EpisodeArrayCache(
        windows.store.root,
        "latent_actions",
        model_fingerprint(checkpoint, settings),
        {"checkpoint": str(checkpoint.resolve()), **settings},
    )
    device = next(lam.parameters()).device

    def infer(clips: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return lam.infer_actions(clips.to(device))

    cache.build(
        windows.episodes,
        windows.lengths.tolist(),
        lambda frames: infer_episode_actions(frames, infer, DEFAULT_CHUNK),
        expected_rows=lambda length: length - 1,
        ctx=ctx,
        progress=progress,
    )
    return cache


def build_task(
    kind: str,
    config: str,
    data_dir: str | os.PathLike,
    window: int = 16,
    games: list[str] | None = None,
    tokenizer: str | os.PathLike | None = None,
    lam: str | os.PathLike | None = None,
    seed: int = 0,
    ctx: DistributedContext | None = None,
    progress: bool = True,
    init: str | os.PathLike | None = None,
    decoder_only: bool = False,
    config_overrides: dict[str, Any] | None = None,
    decoder_held_ids: bool = False,
) -> TrainingTask:
    """The :class:`TrainingTask` for ``kind`` (one of :data:`TASK_KINDS`; see the module docstring).

    Args:
        kind: what to train.
        config: ``"small"``, ``"paper"`` or a JSON config file of that model.
        data_dir: the episode store; its ``train`` split is used, in clips of ``window`` frames.
        games: restrict to these games of the store.
        tokenizer: run directory or checkpoint of the trained tokenizer (``dynamics``, ``genie-redux``).
        lam: run directory or checkpoint of the trained LAM (``genie-redux``).
        seed: initialises the model.
        ctx: the distributed context (token caching is shared across ranks).
        progress: show tqdm bars while caching.
        init: start from the weights of this run directory or checkpoint of the same kind (fine-tuning).
        decoder_only: ``tokenizer`` only: freeze the encoder and codebook and train the decoder (the paper's decoder
            fine-tuning; token ids, and so any dynamics trained on them, stay valid).
        config_overrides: training-only config fields to change (``genie train --set``), also of an ``init`` model;
            see :data:`genie_gym.models.configs.TRAINING_ONLY_FIELDS`.
        decoder_held_ids: with ``decoder_only``: the decoder learns to decode ids in which unchanged patches hold
            their previous id, what a ``hold_unchanged_tokens`` dynamics model predicts.

    Raises ``ValueError`` for a missing ``--tokenizer``/``--lam`` and :class:`CheckpointError` for a checkpoint of
    the wrong kind.
    """
    ctx = ctx or DistributedContext()
    if kind not in TASK_KINDS:
        raise ValueError(f"unknown model {kind!r}; choose one of {', '.join(TASK_KINDS)}")
    if kind in ("dynamics", "genie-redux") and tokenizer is None:
        raise ValueError(f"training {kind} needs --tokenizer RUN_DIR (a trained tokenizer run or checkpoint directory)")
    if kind == "genie-redux" and lam is None:
        raise ValueError("training genie-redux needs --lam RUN_DIR (a trained latent action model run or checkpoint)")
    if decoder_only and kind != "tokenizer":
        raise ValueError("--decoder-only fine-tunes a tokenizer's decoder; it does not apply to " + kind)
    if decoder_held_ids and not decoder_only:
        raise ValueError("--decoder-held-ids goes with --decoder-only (the encoder and codebook must stay fixed)")
    overrides_allowed = TRAINING_ONLY_FIELDS.get("dynamics" if kind == "genie-redux" else kind, frozenset())
    config_overrides = dict(config_overrides or {})
    not_allowed = sorted(set(config_overrides) - overrides_allowed)
    if not_allowed:
        allowed = ", ".join(sorted(overrides_allowed)) or "none"
        raise ValueError(f"--set cannot change {', '.join(not_allowed)} of a {kind} model (training-only fields: "
                         f"{allowed}); architecture changes need a --config file and a new run")
    windows = _frame_windows(data_dir, window, games)
    common: dict[str, Any] = {"write_model": save_model, "load_weights": load_model_weights}

    if kind in ("tokenizer", "lam"):
        model_config = get_config(kind, config)
        torch.manual_seed(seed)
        if kind == "tokenizer":
            from genie_gym.models.tokenizer import VideoTokenizer

            model: nn.Module = VideoTokenizer(model_config) if init is None else _load_init(init, kind)
            render = _render_reconstruction
            if decoder_only:
                model.freeze_encoder()
                model.decode_held_ids = decoder_held_ids
        else:
            from genie_gym.models.lam import LatentActionModel

            model = LatentActionModel(model_config) if init is None else _load_init(init, kind)
            render = _render_lam
        description = {"model_kind": kind, "config": model.config.to_dict(), "data": _data_info(windows),
                       "init": str(init) if init is not None else None, "decoder_only": decoder_only,
                       "decoder_held_ids": decoder_held_ids}
        return TrainingTask(kind, model, windows, window, description, render_images=render, **common)

    frozen_tokenizer, tokenizer_dir = load_frozen(tokenizer, "tokenizer", ctx.device)
    hold = config_overrides.get("hold_unchanged_tokens")
    if hold is None:  # the run's own config, or the --init model's
        hold = (get_config("dynamics", config) if init is None else get_config(
            "dynamics", resolve_model_checkpoint(init) / "config.json")).hold_unchanged_tokens
    tokens = cache_tokens(windows, frozen_tokenizer, tokenizer_dir, ctx, progress, hold_unchanged=bool(hold))
    tok_config = frozen_tokenizer.config
    overrides: dict[str, Any] = {
        "num_codes": tok_config.num_codes,
        "latent_dim": tok_config.latent_dim,
        "grid_size": tok_config.grid_size,
    }
    latent_actions = None
    provenance = {"tokenizer": str(tokenizer_dir.resolve())}
    if kind == "genie-redux":
        frozen_lam, lam_dir = load_frozen(lam, "lam", ctx.device)
        latent_actions = cache_latent_actions(windows, frozen_lam, lam_dir, ctx, progress)
        overrides.update(action_source="latent", num_actions=frozen_lam.config.num_codes)
        provenance["lam"] = str(lam_dir.resolve())
        del frozen_lam
    dynamics_config = get_config("dynamics", config).replace(**overrides)

    from genie_gym.models.dynamics import Dynamics

    torch.manual_seed(seed)
    model = Dynamics(dynamics_config, codebook=frozen_tokenizer.codebook_vectors().detach().cpu())
    if init is not None:
        model = _load_init(init, "dynamics")
        if not torch.allclose(model.codebook.cpu(), frozen_tokenizer.codebook_vectors().detach().cpu(), atol=1e-3):
            raise CheckpointError(f"--init {init} was trained on another tokenizer's codebook than {tokenizer}")
        dynamics_config = model.config
    if config_overrides:
        dynamics_config = dynamics_config.replace(**config_overrides)
        model.config = dynamics_config
    dataset = TokenWindowDataset(windows, tokens, latent_actions)
    description = {
        "model_kind": "dynamics",
        "config": dynamics_config.to_dict(),
        "data": _data_info(windows),
        "token_cache": str(tokens.root),
        **provenance,
    }
    return TrainingTask(
        kind, model, dataset, window, description, render_images=_DynamicsRenderer(frozen_tokenizer), **common
    )


def _data_info(windows: WindowDataset) -> dict[str, Any]:
    return {
        "store": str(windows.store.root.resolve()),
        "split": windows.split,
        "games": windows.games,
        "window": windows.window,
        "episodes": len(windows.episodes),
        "windows": len(windows),
    }
