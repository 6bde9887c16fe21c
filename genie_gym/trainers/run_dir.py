"""The run directory of one training run: config snapshot, metrics, images, atomic checkpoints, resume.

Layout::

    RUN_DIR/
      config.json            model config + training settings of the run (written at the start)
      args.json              the command line (argv and the parsed arguments)
      metrics.jsonl          one JSON line per logged step (also in TensorBoard)
      tb/                    TensorBoard event files
      images/                PNG image grids (step_XXXXXXX.png)
      checkpoints/step_XXXXXXX/
        config.json, *.safetensors   the model (``save_pretrained``)
        training_state.pt    optimizer, scheduler, step, sampler position, RNG states (loads with weights_only=True)
      latest                 text pointer: "checkpoints/step_XXXXXXX"

A checkpoint is written into a hidden temporary directory and renamed into place, then ``latest`` is replaced
atomically, so a crash never leaves a half-written checkpoint behind ``latest``. Only the newest ``keep`` checkpoints
are kept.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genie_gym.atomic import atomic_write_text
from genie_gym.models.checkpoint_io import (  # noqa: F401  (holds_model, resolve_model_checkpoint: re-exported)
    LATEST_POINTER,
    STEP_DIR_PATTERN,
    holds_model,
    resolve_model_checkpoint,
)

TRAINING_STATE_FILE = "training_state.pt"


def step_dir_name(step: int) -> str:
    """``step_0000123`` for step 123."""
    return f"step_{int(step):07d}"


def capture_rng_state() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) RNG states as tensors, lists and ints (``weights_only``-loadable)."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=False)
    state: dict[str, Any] = {
        "python": {"version": version, "internal": list(internal), "gauss": gauss},
        "numpy": {
            "bit_generator": np_state["bit_generator"],
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(py["internal"]), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": npy["bit_generator"],
            "state": {"key": npy["key"].numpy().astype(np.uint32), "pos": npy["pos"]},
            "has_gauss": npy["has_gauss"],
            "gauss": npy["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = state["cuda"][: torch.cuda.device_count()]
        torch.cuda.set_rng_state_all(cuda_states)


class RunDir:
    """Paths and files of one run directory (see the module docstring for the layout).

    Args:
        root: the run directory (created if missing).
        keep: how many of the newest checkpoints to keep (``>= 1``).
    """

    def __init__(self, root: str | os.PathLike, keep: int = 3) -> None:
        if keep < 1:
            raise ValueError(f"keep must be >= 1 checkpoint, got {keep}")
        self.root = Path(root)
        self.keep = int(keep)

    # -- layout --------------------------------------------------------------------------------------------------
    @property
    def checkpoints_dir(self) -> Path:
        """``RUN_DIR/checkpoints``."""
        return self.root / "checkpoints"

    @property
    def images_dir(self) -> Path:
        """``RUN_DIR/images``."""
        return self.root / "images"

    @property
    def tensorboard_dir(self) -> Path:
        """``RUN_DIR/tb``."""
        return self.root / "tb"

    @property
    def metrics_path(self) -> Path:
        """``RUN_DIR/metrics.jsonl``."""
        return self.root / "metrics.jsonl"

    def create(self) -> None:
        """Create the directory tree (idempotent)."""
        for path in (self.root, self.checkpoints_dir, self.images_dir, self.tensorboard_dir):
            path.mkdir(parents=True, exist_ok=True)

    # -- snapshot and metrics -------------------------------------------------------------------------------------
    def write_snapshot(self, config: dict[str, Any], args: dict[str, Any]) -> None:
        """Write ``config.json`` (model + training settings) and ``args.json`` (argv + parsed arguments)."""
        self.create()
        payload = {"argv": list(sys.argv), "args": args}
        for name, data in (("config.json", config), ("args.json", payload)):
            text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
            atomic_write_text(self.root / name, text, fsync=True)

    def read_config(self) -> dict[str, Any]:
        """The ``config.json`` snapshot of this run."""
        return json.loads((self.root / "config.json").read_text(encoding="utf-8"))

    def append_metrics(self, record: dict[str, Any]) -> None:
        """Append one JSON line to ``metrics.jsonl``."""
        with open(self.metrics_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")

    def read_metrics(self) -> list[dict[str, Any]]:
        """Every record of ``metrics.jsonl`` (empty when there is none)."""
        if not self.metrics_path.exists():
            return []
        lines = self.metrics_path.read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]

    def truncate_metrics(self, after_step: int) -> None:
        """Drop metric records of steps ``> after_step`` (logged after the checkpoint a run resumes from)."""
        records = [r for r in self.read_metrics() if int(r.get("step", 0)) <= after_step]
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in records)
        atomic_write_text(self.metrics_path, text, fsync=True)

    # -- checkpoints ----------------------------------------------------------------------------------------------
    def checkpoint_steps(self) -> list[int]:
        """Steps of the complete checkpoints on disk, ascending."""
        if not self.checkpoints_dir.is_dir():
            return []
        steps = []
        for child in self.checkpoints_dir.iterdir():
            match = STEP_DIR_PATTERN.match(child.name)
            if match and (child / TRAINING_STATE_FILE).is_file():
                steps.append(int(match.group(1)))
        return sorted(steps)

    def checkpoint_path(self, step: int) -> Path:
        """``RUN_DIR/checkpoints/step_XXXXXXX``."""
        return self.checkpoints_dir / step_dir_name(step)

    def latest_checkpoint(self) -> Path | None:
        """The checkpoint ``latest`` points at (or, if that pointer is missing or stale, the newest complete one)."""
        pointer = self.root / LATEST_POINTER
        if pointer.is_file():
            target = self.root / pointer.read_text(encoding="utf-8").strip()
            if (target / TRAINING_STATE_FILE).is_file():
                return target
        steps = self.checkpoint_steps()
        return self.checkpoint_path(steps[-1]) if steps else None

    def resume_point(self, resume: bool) -> Path | None:
        """The checkpoint a run continues from: with ``resume`` the latest one (``None`` when there is none yet: a
        fresh start), else ``None``. Without ``resume`` a directory that holds checkpoints is refused
        (``ValueError``): a new run would overwrite them."""
        latest = self.latest_checkpoint()
        if latest is not None and not resume:
            raise ValueError(
                f"{self.root} already holds checkpoints (latest: {latest.name}); pass --resume to continue that run "
                "or choose a new --out directory"
            )
        return latest if resume else None

    def save_checkpoint(self, step: int, write_model: Callable[[Path], None], training_state: dict[str, Any]) -> Path:
        """Write checkpoint ``step`` atomically, point ``latest`` at it and prune to the newest ``keep``.

        ``write_model(directory)`` writes the model files (``save_pretrained``); ``training_state`` is saved with
        ``torch.save`` next to them. Returns the checkpoint directory.
        """
        self.create()
        final = self.checkpoint_path(step)
        tmp = self.checkpoints_dir / f".tmp_{step_dir_name(step)}_{os.getpid()}"
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        write_model(tmp)
        state_path = tmp / TRAINING_STATE_FILE
        with open(state_path, "wb") as handle:
            torch.save(training_state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        if final.exists():  # the same step written twice (e.g. a final checkpoint right after a periodic one)
            trash = self.checkpoints_dir / f".old_{final.name}_{os.getpid()}"
            os.rename(final, trash)
            os.rename(tmp, final)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(tmp, final)
        atomic_write_text(self.root / LATEST_POINTER, f"checkpoints/{final.name}\n", fsync=True)
        self.prune()
        return final

    def prune(self) -> None:
        """Delete all but the newest ``keep`` checkpoints (never the one ``latest`` points at)."""
        latest = self.latest_checkpoint()
        for step in self.checkpoint_steps()[: -self.keep]:
            path = self.checkpoint_path(step)
            if latest is None or path.resolve() != latest.resolve():
                shutil.rmtree(path, ignore_errors=True)

    @staticmethod
    def load_training_state(checkpoint: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        """``training_state.pt`` of ``checkpoint``, loaded with ``weights_only=True`` (never unpickles code)."""
        path = Path(checkpoint) / TRAINING_STATE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{checkpoint} is not a training checkpoint: {TRAINING_STATE_FILE} is missing")
        return torch.load(path, map_location=map_location, weights_only=True)
