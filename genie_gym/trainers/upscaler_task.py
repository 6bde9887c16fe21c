"""``genie train upscaler``: the super-resolution U-Net (``genie_gym.models.upscaler``) as a task of the shared
training loop.

The data are the ``(64x64, 256x256)`` frame pairs of a store collected with ``genie collect --hires`` (its train
split; every frame of every episode is one item). The loss is the MSE at 256x256 (the paper's appendix B); the
logged metrics add bicubic's MSE on the same batch and both PSNRs, so the log says from the first step how far above
bicubic the model is. ``--config`` names an upscaler preset (``small``, ``paper``, ``paper-large``, ``tiny``) or a
JSON file; ``--init`` fine-tunes an upscaler checkpoint; ``--resume`` continues exactly, as for the other models.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from genie_gym.image_grid import image_grid
from genie_gym.models.checkpoint_io import CheckpointError, load_pretrained, save_pretrained
from genie_gym.models.upscaler import (
    UPSCALER_KIND,
    HiresPairDataset,
    Upscaler,
    bicubic,
    float_to_uint8,
    frames_to_input,
    get_upscaler_config,
)
from genie_gym.trainers.run_dir import resolve_model_checkpoint
from genie_gym.trainers.training_loop import Batch, TrainingTask

IMAGE_PAIRS = 3  # frames shown per image grid


def render_upscaler(model: Upscaler, batch: Batch) -> np.ndarray:
    """Image grid: one column per frame; rows bicubic, the upscaler, the real 256x256 frame."""
    low = frames_to_input(batch["low"][:IMAGE_PAIRS]).to(next(model.parameters()).device)
    rows = [
        float_to_uint8(bicubic(low, model.config.output_size)),
        float_to_uint8(model(low)),
        batch["high"][:IMAGE_PAIRS].cpu().numpy(),
    ]
    return image_grid(rows, gap=2)


def save_upscaler(model: Upscaler, directory: Path) -> None:
    """Write ``model`` with ``save_pretrained`` (model.safetensors + config.json)."""
    save_pretrained(model, directory)


def load_upscaler_weights(model: Upscaler, directory: Path) -> None:
    """Load an upscaler checkpoint into ``model`` in place (resume); another architecture is an error."""
    loaded = load_pretrained(directory, expected_kind=UPSCALER_KIND)
    if loaded.config.to_dict() != model.config.to_dict():
        raise CheckpointError(f"{directory} holds an upscaler of another config ({loaded.config}); resume with the "
                              "run's own --config (see config.json in the run directory)")
    model.load_state_dict(loaded.state_dict())


def build_upscaler_task(settings: Any) -> TrainingTask:
    """The upscaler task that ``settings`` (a :class:`genie_gym.trainers.tasks.TaskSettings`: ``config``, ``data``,
    ``games``, ``init``, ``seed``) describe."""
    config = get_upscaler_config(settings.config)  # checked even when --init brings its own
    dataset = HiresPairDataset(settings.data, split="train", games=settings.games, size=config.output_size)
    torch.manual_seed(settings.seed)
    model = Upscaler(config) if settings.init is None else load_pretrained(
        resolve_model_checkpoint(settings.init), expected_kind=UPSCALER_KIND).train()
    if model.config.output_size != config.output_size:
        raise ValueError(f"--init {settings.init} upscales to {model.config.output_size}, --config to "
                         f"{config.output_size}")
    data = {"store": str(dataset.store.root.resolve()), "split": dataset.split, "games": settings.games,
            "episodes": len(dataset.refs), "frames": len(dataset), "hires_size": dataset.size}
    description = {"model_kind": UPSCALER_KIND, "config": model.config.to_dict(), "data": data,
                   "init": str(settings.init) if settings.init is not None else None, "loss": "mse"}
    return TrainingTask(UPSCALER_KIND, model, dataset, 1, description, save_upscaler, load_upscaler_weights,
                        render_images=render_upscaler)
