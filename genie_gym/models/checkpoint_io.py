"""Saving and loading model checkpoints: ``model.safetensors`` + ``config.json`` in one directory (never pickle).

``config.json`` holds ``{"format_version", "model_kind", "config", "num_parameters", "num_tensors", "dtype",
"weights_file", "weights_sha256"}``. :func:`save_pretrained` writes both files under temporary names and renames
them into place (weights first, then the config), so a reader never sees a half-written file. :func:`load_pretrained`
builds the right model class from ``model_kind`` and loads the tensors with safetensors; every problem it can detect
raises :class:`CheckpointError` with a message that says what is wrong and what to do.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from genie_gym.atomic import atomic_path, file_sha256

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
LATEST_POINTER = "latest"
"""A training run's file naming its newest checkpoint (``checkpoints/step_NNNNNNN``; see genie_gym.trainers.run_dir)."""
STEP_DIR_PATTERN = re.compile(r"^step_(\d{7,})$")


class CheckpointError(RuntimeError):
    """A checkpoint directory is missing, incomplete, corrupt, of the wrong kind or does not match its config."""


# ``model_kind -> class``, filled by :class:`PretrainedMixin` as each model class is defined, so this file-format
# module imports no model: a new model registers itself by subclassing the mixin with its own ``model_kind``.
# Importing any module of ``genie_gym.models`` runs the package's ``__init__``, which defines every model.
_MODEL_CLASSES: dict[str, type[nn.Module]] = {}


def model_classes() -> dict[str, type[nn.Module]]:
    """``model_kind -> class`` for every model that can be saved and loaded."""
    return dict(_MODEL_CLASSES)


def _write_atomically(path: Path, write: Any) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, fsync it and rename it over ``path``."""
    with atomic_path(path, fsync=True, mode=0o600) as tmp_path:  # 0o600: the mode these files always had (mkstemp's)
        write(tmp_path)


def save_pretrained(model: nn.Module, directory: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
    """Write ``model`` (a tokenizer, LAM or dynamics model) to ``directory``; return the directory.

    Args:
        model: a module with ``model_kind`` and ``config`` (with ``to_dict()``).
        directory: created if missing; existing checkpoint files in it are replaced.
        dtype: store floating-point tensors in this dtype (e.g. ``torch.float16`` halves the file; loading gives
            float32 back). ``None`` keeps float32.
    """
    kind = getattr(model, "model_kind", None)
    config = getattr(model, "config", None)
    if kind not in model_classes() or config is None:
        raise CheckpointError(f"cannot save {type(model).__name__}: it is not a genie-gym model (no model_kind/config)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().to("cpu")
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        tensors[name] = tensor.contiguous().clone()
    num_parameters = sum(p.numel() for p in model.parameters())
    _write_atomically(directory / WEIGHTS_FILE, lambda tmp: save_file(tensors, str(tmp), metadata={"model_kind": kind}))
    meta = {
        "format_version": FORMAT_VERSION,
        "model_kind": kind,
        "config": config.to_dict(),
        "num_parameters": num_parameters,
        "num_tensors": len(tensors),
        "dtype": str(dtype or torch.float32).removeprefix("torch."),
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": file_sha256(directory / WEIGHTS_FILE),
    }
    _write_atomically(directory / CONFIG_FILE, lambda tmp: tmp.write_text(json.dumps(meta, indent=2) + "\n"))
    return directory


def read_checkpoint_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``config.json`` of a checkpoint directory (checked for the keys loading needs)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(
            f"checkpoint directory {directory} does not exist; pass the folder written by save_pretrained"
        )
    path = directory / CONFIG_FILE
    if not path.is_file():
        raise CheckpointError(
            f"{directory} has no {CONFIG_FILE}: it is not a genie-gym checkpoint (or was not finished)"
        )
    try:
        meta = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc}); the checkpoint is corrupt, save it again") from exc
    missing = [key for key in ("format_version", "model_kind", "config") if key not in meta]
    if not isinstance(meta, dict) or missing:
        raise CheckpointError(f"{path} lacks {missing}; it is not a genie-gym checkpoint config")
    if meta["format_version"] != FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format_version {meta['format_version']}, this genie-gym reads version {FORMAT_VERSION}"
        )
    return meta


def _describe(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def load_pretrained(
    directory: str | os.PathLike, expected_kind: str | None = None, map_location: str | torch.device = "cpu"
) -> nn.Module:
    """Build the model saved in ``directory`` (its class chosen by ``model_kind``) and load its weights.

    Args:
        directory: a folder written by :func:`save_pretrained`.
        expected_kind: if given (``"tokenizer"``, ``"lam"``, ``"dynamics"``), a checkpoint of another kind is an error.
        map_location: device of the returned model.

    Returns the model in eval mode, float32, on ``map_location``. Raises :class:`CheckpointError` for a missing
    directory or file, a truncated or corrupt weights file, weights that do not match the config (missing or
    unexpected tensors, wrong shapes) and a wrong model kind.
    """
    directory = Path(directory)
    meta = read_checkpoint_config(directory)
    kind = meta["model_kind"]
    classes = model_classes()
    if expected_kind is not None and expected_kind not in classes:
        raise ValueError(f"expected_kind must be one of {sorted(classes)}, got {expected_kind!r}")
    if kind not in classes:
        raise CheckpointError(f"{directory} holds an unknown model kind {kind!r}; expected one of {sorted(classes)}")
    if expected_kind is not None and kind != expected_kind:
        raise CheckpointError(f"expected a {expected_kind} checkpoint but {directory} holds a {kind}")

    weights_path = directory / meta.get("weights_file", WEIGHTS_FILE)
    if not weights_path.is_file():
        raise CheckpointError(f"{directory} has no {weights_path.name}: the checkpoint is incomplete, save it again")
    expected_sha = meta.get("weights_sha256")
    if expected_sha is not None and file_sha256(weights_path) != expected_sha:
        raise CheckpointError(
            f"{weights_path} does not match the checksum in {CONFIG_FILE}: the file is truncated, corrupt or from "
            "another save; re-download or save the checkpoint again"
        )
    try:
        tensors = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{weights_path} is truncated or corrupt ({exc}); save the checkpoint again") from exc

    cls = classes[kind]
    try:
        config = cls.config_class.from_dict(meta["config"])  # type: ignore[attr-defined]
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{directory / CONFIG_FILE} has an invalid {kind} config: {exc}") from exc
    model = cls(config)
    expected = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    mismatched = [
        f"{name} {tuple(tensors[name].shape)} vs {expected[name]}"
        for name in sorted(set(expected) & set(tensors))
        if tuple(tensors[name].shape) != expected[name]
    ]
    if missing or unexpected or mismatched:
        problems = []
        if missing:
            problems.append(f"missing tensors: {_describe(missing)}")
        if unexpected:
            problems.append(f"unexpected tensors: {_describe(unexpected)}")
        if mismatched:
            problems.append(f"shape mismatch (file vs config): {_describe(mismatched)}")
        raise CheckpointError(
            f"the weights in {weights_path} do not match the {kind} config in {CONFIG_FILE} ({'; '.join(problems)}); "
            "the config was edited or the files come from different saves"
        )
    reference = model.state_dict()
    converted = {name: t.to(reference[name].dtype) for name, t in tensors.items()}
    model.load_state_dict(converted, strict=True)
    return model.to(map_location).eval()


class PretrainedMixin:
    """Adds ``save_pretrained(dir)`` and ``from_pretrained(dir)`` to a model class (delegating to this module).

    A subclass that sets its own ``model_kind`` (and ``config_class``) is registered under that kind, so
    :func:`load_pretrained` can build it from a ``config.json``.
    """

    model_kind: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("model_kind")  # only a class that names its own kind; subclasses inherit none
        if kind is not None:
            registered = _MODEL_CLASSES.get(kind)
            if registered is not None and registered.__qualname__ != cls.__qualname__:
                raise TypeError(f"model kind {kind!r} is already registered by {registered.__qualname__}; "
                                f"give {cls.__qualname__} another model_kind")
            _MODEL_CLASSES[kind] = cls  # type: ignore[assignment]

    def save_pretrained(self, directory: str | os.PathLike, dtype: torch.dtype | None = None) -> Path:
        """Write this model to ``directory`` (see :func:`save_pretrained`)."""
        return save_pretrained(self, directory, dtype=dtype)  # type: ignore[arg-type]

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, map_location: str | torch.device = "cpu") -> Any:
        """Load a checkpoint of this class's kind from ``directory`` (see :func:`load_pretrained`)."""
        return load_pretrained(directory, expected_kind=cls.model_kind, map_location=map_location)


def holds_model(directory: str | os.PathLike) -> bool:
    """True when ``directory`` is a model checkpoint: ``config.json`` next to ``*.safetensors``."""
    directory = Path(directory)
    return (directory / "config.json").is_file() and any(directory.glob("*.safetensors"))


def resolve_model_checkpoint(path: str | os.PathLike) -> Path:
    """The model directory that ``path`` names, for every command that loads a trained model.

    ``path`` is a checkpoint directory (``config.json`` + ``*.safetensors``) or a run directory: then the checkpoint
    its ``latest`` pointer names, or, when that pointer is missing or stale, its newest ``checkpoints/step_*``. A
    checkpoint without ``training_state.pt`` (weights only, e.g. copied back from another machine) counts: loading a
    model needs only the weights. Raises ``FileNotFoundError`` with what to pass instead when ``path`` is neither.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; pass a training run directory or a checkpoint directory")
    if holds_model(path):
        return path
    pointer = path / LATEST_POINTER
    if pointer.is_file() and holds_model(target := path / pointer.read_text(encoding="utf-8").strip()):
        return target
    by_step = {int(match.group(1)): child for child in (path / "checkpoints").glob("step_*")
               if (match := STEP_DIR_PATTERN.match(child.name)) and holds_model(child)}
    if by_step:
        return by_step[max(by_step)]
    raise FileNotFoundError(
        f"{path} holds no model checkpoint (no config.json + *.safetensors, no checkpoints/step_*); "
        "pass a run directory written by `genie train` or a checkpoint directory"
    )
