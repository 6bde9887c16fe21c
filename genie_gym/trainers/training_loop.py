"""The training loop shared by every world-model component (tokenizer, LAM, dynamics), single process or DDP.

What it trains is a :class:`TrainingTask`: a model with ``compute_loss(batch) -> (loss, metrics)`` (and optionally
``maintenance_step(step) -> dict``, called after every optimizer step), a map-style dataset of dict items, and how to
save/load/draw the model. :func:`train` adds the optimiser (:mod:`genie_gym.trainers.optim`), the schedule
(:mod:`genie_gym.trainers.lr_schedule`), gradient accumulation, bf16 autocast (by default on CUDA; ``precision``), DDP,
logging (TensorBoard, ``metrics.jsonl``, tqdm), image grids, atomic checkpoints and exact resume
(:mod:`genie_gym.trainers.run_dir`).

Determinism: the data order and all training randomness are functions of ``(seed, step)``. Clip ``i`` of the run is
``permutation_e(seed)[i mod N]`` with ``e = i // N`` (:class:`StepBatchSampler`), and at the start of every optimizer
step the Python, NumPy and torch generators are re-seeded from ``(seed, step, rank)``. A run resumed from a
checkpoint therefore reproduces the uninterrupted run's losses exactly (same device and thread count).

``batch_size`` is the *global* number of clips per micro-step, split evenly across ranks; an optimizer step sees
``batch_size * grad_accum`` clips. The same ``batch_size`` gives the same clips per step whatever the world size.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Sampler

from genie_gym.allocator import release_freed_memory
from genie_gym.trainers.distributed import DistributedContext, all_reduce_mean, any_rank, barrier
from genie_gym.trainers.lr_schedule import MIN_LR_RATIO, WARMUP_START_FACTOR, build_scheduler, default_warmup_steps
from genie_gym.trainers.optim import (
    DEFAULT_BETAS,
    DEFAULT_GRAD_CLIP,
    DEFAULT_LR,
    DEFAULT_WEIGHT_DECAY,
    OptimizerSettings,
    build_optimizer,
    clip_gradients,
)
from genie_gym.trainers.run_dir import RunDir, capture_rng_state, restore_rng_state, step_dir_name

Batch = dict[str, torch.Tensor]


PRECISIONS: tuple[str, ...] = ("auto", "bf16", "fp32")
DIAGNOSTICS_FLAG = "diagnostics"
"""Name of a model's bool attribute that asks ``compute_loss`` for its costly extra metrics (set on logged steps)."""


def mixed_precision_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast context of a forward pass: bf16 for ``"bf16"``, and for ``"auto"`` on CUDA; else a no-op."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@dataclass
class TrainingTask:
    """What :func:`train` trains.

    Attributes:
        name: ``"tokenizer"``, ``"lam"``, ``"dynamics"``, ``"genie-redux"`` (or a test's name).
        model: an ``nn.Module`` with ``compute_loss(batch) -> (loss: scalar Tensor, metrics: dict[str, float])`` and
            optionally ``maintenance_step(step: int) -> dict`` (e.g. the tokenizer's dead-code revival) and a bool
            attribute named :data:`DIAGNOSTICS_FLAG`, which the loop sets to ``True`` only on the steps it logs, so
            extra metrics that cost compute (the dynamics' action gain) are computed for the log, not every step.
        dataset: map-style dataset of dict items (tensors); the default collate stacks them into the batch.
        frames_per_item: frames one item stands for (the clip length), for frames/s and MFU.
        config: JSON-ready description of the model and data (written to ``RUN_DIR/config.json``).
        write_model: ``write_model(model, directory)`` writes the model files (``save_pretrained``).
        load_weights: ``load_weights(model, directory)`` loads them back into ``model`` in place.
        render_images: optional ``render_images(model, batch) -> uint8 (H, W, 3)`` image grid for ``images/``.
        collate: optional collate function (default: ``torch.utils.data.default_collate``).
    """

    name: str
    model: nn.Module
    dataset: Dataset
    frames_per_item: int
    config: dict[str, Any]
    write_model: Callable[[nn.Module, Path], None]
    load_weights: Callable[[nn.Module, Path], None]
    render_images: Callable[[nn.Module, Batch], np.ndarray] | None = None
    collate: Callable[[list[dict]], Batch] | None = None


@dataclass
class LoopSettings:
    """Settings of :func:`train` (see the module docstring for ``batch_size`` and the determinism contract).

    ``warmup_steps=None`` means ``min(5000, steps // 10)``
    (:func:`genie_gym.trainers.lr_schedule.default_warmup_steps`).
    ``precision``: ``"auto"`` (bf16 autocast on CUDA, fp32 on CPU), ``"bf16"`` (autocast on any device; weights,
    gradients and optimizer state stay fp32) or ``"fp32"``.
    ``stop_at_step`` ends this invocation early (with a checkpoint) without changing the schedule, which is
    defined by ``steps``; a later ``resume=True`` run continues from there.
    """

    steps: int = 1000
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = DEFAULT_LR
    betas: tuple[float, float] = DEFAULT_BETAS
    weight_decay: float = DEFAULT_WEIGHT_DECAY
    grad_clip: float = DEFAULT_GRAD_CLIP
    warmup_steps: int | None = None
    warmup_start_factor: float = WARMUP_START_FACTOR
    min_lr_ratio: float = MIN_LR_RATIO
    seed: int = 0
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 10
    image_every: int = 500
    num_workers: int = 0
    stop_at_step: int | None = None
    progress: bool = True
    precision: str = "auto"

    def validate(self, world_size: int = 1) -> None:
        """Raise ``ValueError`` with the offending setting when the settings cannot run."""
        positive = {"steps": self.steps, "batch_size": self.batch_size, "grad_accum": self.grad_accum}
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if self.batch_size % world_size:
            raise ValueError(
                f"--batch-size {self.batch_size} is the global batch and must be divisible by the "
                f"{world_size} processes"
            )
        if self.lr <= 0:
            raise ValueError(f"--lr must be > 0, got {self.lr}")
        if self.num_workers < 0:
            raise ValueError(f"--num-workers must be >= 0, got {self.num_workers}")
        if self.keep_checkpoints < 1:
            raise ValueError(f"--keep-checkpoints must be >= 1, got {self.keep_checkpoints}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def resolved_warmup(self) -> int:
        """The warm-up length actually used."""
        return default_warmup_steps(self.steps) if self.warmup_steps is None else int(self.warmup_steps)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy, with the resolved warm-up."""
        data = asdict(self)
        data["resolved_warmup_steps"] = self.resolved_warmup()
        return data


@dataclass
class TrainResult:
    """What :func:`train` did: the last completed ``step``, whether it was ``interrupted`` by a signal,
    the ``checkpoint`` written last, and the logged ``history`` of this invocation (rank 0 only)."""

    step: int
    interrupted: bool
    checkpoint: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)


class StepBatchSampler(Sampler[list[int]]):
    """Endless per-rank batches of dataset indices, a pure function of ``(seed, global sample position)``.

    Global sample ``i`` (counting clips over the whole run, all ranks) is ``perm_e[i mod N]`` where ``perm_e`` is the
    seeded permutation of epoch ``e = i // N``. A micro-step takes the next ``global_batch`` positions; rank ``r``
    takes its disjoint slice ``[r * B/W, (r + 1) * B/W)`` of them. Starting at ``start_position`` resumes the order.
    """

    def __init__(
        self, num_items: int, global_batch: int, seed: int, rank: int = 0, world_size: int = 1, start_position: int = 0
    ) -> None:
        if num_items < 1:
            raise ValueError("the dataset is empty: no training clips to sample")
        self.num_items = int(num_items)
        self.global_batch = int(global_batch)
        self.per_rank = self.global_batch // world_size
        self.seed = int(seed)
        self.rank = int(rank)
        self.start_position = int(start_position)
        self._cached_epoch = -1
        self._cached_perm: list[int] = []

    def _permutation(self, epoch: int) -> list[int]:
        if epoch != self._cached_epoch:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._cached_perm = torch.randperm(self.num_items, generator=generator).tolist()
            self._cached_epoch = epoch
        return self._cached_perm

    def index_at(self, position: int) -> int:
        """Dataset index of global sample ``position``."""
        epoch, offset = divmod(position, self.num_items)
        return self._permutation(epoch)[offset]

    def __iter__(self) -> Iterator[list[int]]:
        position = self.start_position
        while True:
            first = position + self.rank * self.per_rank
            yield [self.index_at(first + i) for i in range(self.per_rank)]
            position += self.global_batch


class _LossModule(nn.Module):
    """Routes ``forward`` to ``model.compute_loss`` so DDP's gradient hooks see the call."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, float]]:
        return self.model.compute_loss(batch)


class _StopFlag:
    """Turns the first SIGINT/SIGTERM into a "checkpoint and stop" request; a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _StopFlag:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)


def _ignore_sigint_in_worker(worker_id: int) -> None:
    """DataLoader workers leave Ctrl-C to the main process, which checkpoints before stopping."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def seed_step(seed: int, step: int, rank: int = 0) -> None:
    """Seed Python, NumPy and torch (CPU + CUDA) from ``(seed, step, rank)``; called before every optimizer step."""
    import random

    value = ((int(seed) * 1_000_003 + int(step)) * 1_009 + int(rank)) % (2**63 - 1)
    random.seed(value)
    np.random.seed(value % (2**32))
    torch.manual_seed(value)


def _to_device(batch: Batch, device: torch.device) -> Batch:
    return {
        key: value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value
        for key, value in batch.items()
    }


def _save_png(image: np.ndarray, path: Path) -> None:
    from PIL import Image

    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(path)


class _Logger:
    """Rank-0 sinks of metrics: TensorBoard, ``metrics.jsonl`` and the tqdm bar."""

    def __init__(self, run_dir: RunDir, start_step: int, total_steps: int, progress: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter
        from tqdm import tqdm

        self.run_dir = run_dir
        self.writer = SummaryWriter(log_dir=str(run_dir.tensorboard_dir), purge_step=start_step + 1)
        self.bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", disable=not progress)
        self.history: list[dict[str, Any]] = []

    def log(self, step: int, record: dict[str, float]) -> None:
        for key, value in record.items():
            self.writer.add_scalar(f"train/{key}", value, step)
        entry = {"step": step, **record}
        self.run_dir.append_metrics(entry)
        self.history.append(entry)

    def image(self, step: int, image: np.ndarray) -> None:
        _save_png(image, self.run_dir.images_dir / f"step_{step:07d}.png")
        self.writer.add_image("train/samples", image, step, dataformats="HWC")

    def close(self) -> None:
        self.bar.close()
        self.writer.flush()
        self.writer.close()


def train(
    task: TrainingTask,
    settings: LoopSettings,
    run_dir: RunDir,
    ctx: DistributedContext | None = None,
    resume: bool = False,
    command_args: dict[str, Any] | None = None,
) -> TrainResult:
    """Train ``task.model`` for ``settings.steps`` optimizer steps (or up to ``stop_at_step``) into ``run_dir``.

    With ``resume=True`` the run continues from ``run_dir``'s latest checkpoint (model, optimizer, scheduler, sampler
    position, RNG states); without a checkpoint it starts from scratch. Without ``resume``, a run directory that
    already holds checkpoints is refused. A SIGINT/SIGTERM finishes the current step, writes a checkpoint and returns
    with ``interrupted=True``. Only rank 0 writes files; ``command_args`` goes to ``RUN_DIR/args.json``.
    """
    ctx = ctx or DistributedContext()
    settings.validate(ctx.world_size)
    device = ctx.device
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    run_dir.keep = settings.keep_checkpoints

    raw_model = task.model.to(device)
    raw_model.train()
    optimizer = build_optimizer(raw_model, OptimizerSettings(settings.lr, settings.betas, settings.weight_decay))
    scheduler = build_scheduler(
        optimizer, settings.steps, settings.resolved_warmup(), settings.warmup_start_factor, settings.min_lr_ratio
    )

    start_step, position = 0, 0
    latest = run_dir.latest_checkpoint()
    if latest is not None and not resume:
        raise ValueError(
            f"{run_dir.root} already holds checkpoints (latest: {latest.name}); pass --resume to continue that run "
            "or choose a new --out directory"
        )
    if resume and latest is not None:
        task.load_weights(raw_model, latest)
        raw_model.to(device)
        state = RunDir.load_training_state(latest)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_step = int(state["step"])
        position = int(state["sampler"]["position"])
        restore_rng_state(state["rng"])
        if ctx.is_main:
            run_dir.truncate_metrics(start_step)
    if ctx.is_main:
        run_dir.create()
        snapshot = {"task": task.name, "model": task.config, "training": settings.to_dict()}
        snapshot["training"]["world_size"] = ctx.world_size
        run_dir.write_snapshot(snapshot, command_args or {})
    barrier(ctx)

    loss_module: nn.Module = _LossModule(raw_model)
    if ctx.is_distributed:
        device_ids = [device.index] if device.type == "cuda" else None
        loss_module = DistributedDataParallel(loss_module, device_ids=device_ids, find_unused_parameters=True)

    sampler = StepBatchSampler(
        len(task.dataset), settings.batch_size, settings.seed, ctx.rank, ctx.world_size, start_position=position
    )
    loader = DataLoader(
        task.dataset,
        batch_sampler=sampler,
        num_workers=settings.num_workers,
        collate_fn=task.collate,
        pin_memory=device.type == "cuda",
        worker_init_fn=_ignore_sigint_in_worker if settings.num_workers else None,
        generator=torch.Generator().manual_seed(settings.seed),
    )
    autocast = mixed_precision_context(settings.precision, device)
    end_step = settings.steps if settings.stop_at_step is None else min(settings.steps, settings.stop_at_step)
    frames_per_step = settings.batch_size * settings.grad_accum * task.frames_per_item
    maintenance = getattr(raw_model, "maintenance_step", None)

    def write_checkpoint(step: int) -> Path | None:
        path = None
        if ctx.is_main:
            state = {
                "step": step,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "sampler": {"seed": settings.seed, "position": position, "global_batch": settings.batch_size},
                "rng": capture_rng_state(),
                "world_size": ctx.world_size,
            }
            path = run_dir.save_checkpoint(step, lambda directory: task.write_model(raw_model, directory), state)
        barrier(ctx)
        release_freed_memory()  # the heap of a long run would otherwise only grow (genie_gym.allocator)
        return path

    logger = _Logger(run_dir, start_step, settings.steps, settings.progress) if ctx.is_main else None
    window: dict[str, float] = {}
    window_counts: dict[str, int] = {}  # steps that reported each metric (diagnostics: the logged steps only)
    window_steps, window_start = 0, time.perf_counter()
    step, last_checkpoint, interrupted = start_step, None, False
    batches = iter(loader)
    try:
        with _StopFlag() as stop_flag:
            while step < end_step:
                seed_step(settings.seed, step, ctx.rank)
                optimizer.zero_grad(set_to_none=True)
                step_metrics: dict[str, float] = {}
                batch: Batch = {}
                if hasattr(raw_model, DIAGNOSTICS_FLAG):
                    setattr(raw_model, DIAGNOSTICS_FLAG, (step + 1) % settings.log_every == 0 or step + 1 == end_step)
                for micro in range(settings.grad_accum):
                    batch = _to_device(next(batches), device)
                    sync = (
                        loss_module.no_sync()
                        if ctx.is_distributed and micro < settings.grad_accum - 1
                        else contextlib.nullcontext()
                    )
                    with sync:
                        with autocast:
                            loss, metrics = loss_module(batch)
                        (loss / settings.grad_accum).backward()
                    position += settings.batch_size
                    for key, value in {"loss": float(loss.detach()), **metrics}.items():
                        step_metrics[key] = step_metrics.get(key, 0.0) + float(value) / settings.grad_accum
                grad_norm = clip_gradients(raw_model.parameters(), settings.grad_clip)
                lr = optimizer.param_groups[0]["lr"]
                optimizer.step()
                scheduler.step()
                if maintenance is not None:
                    for key, value in (maintenance(step) or {}).items():
                        if isinstance(value, int | float):
                            step_metrics[key] = float(value)
                step += 1
                step_metrics.update(lr=lr, grad_norm=grad_norm)
                for key, value in step_metrics.items():
                    window[key] = window.get(key, 0.0) + value
                    window_counts[key] = window_counts.get(key, 0) + 1
                window_steps += 1

                if step % settings.log_every == 0 or step == end_step:
                    elapsed = max(time.perf_counter() - window_start, 1e-9)
                    keys = sorted(window)
                    means = all_reduce_mean(
                        torch.tensor([window[k] / window_counts[k] for k in keys], dtype=torch.float64), ctx
                    )
                    record = {k: float(v) for k, v in zip(keys, means.tolist(), strict=True)}
                    record["frames_per_s"] = frames_per_step * window_steps / elapsed
                    if logger is not None:
                        logger.log(step, record)
                        logger.bar.set_postfix(loss=f"{record['loss']:.4f}", fps=f"{record['frames_per_s']:.1f}")
                    window, window_counts, window_steps, window_start = {}, {}, 0, time.perf_counter()
                if logger is not None:
                    logger.bar.update(1)
                    if task.render_images is not None and settings.image_every > 0 and step % settings.image_every == 0:
                        _render(task, raw_model, batch, logger, step)
                stop = any_rank(stop_flag.requested, ctx)
                if stop:
                    interrupted = True
                    break
                if step % settings.checkpoint_every == 0 and step < end_step:
                    last_checkpoint = write_checkpoint(step)
            if step > start_step and (last_checkpoint is None or last_checkpoint.name != step_dir_name(step)):
                last_checkpoint = write_checkpoint(step)
            elif last_checkpoint is None:
                last_checkpoint = latest
    finally:
        del batches
        if logger is not None:
            logger.close()
    history = logger.history if logger is not None else []
    return TrainResult(step=step, interrupted=interrupted, checkpoint=last_checkpoint, history=history)


def _render(task: TrainingTask, model: nn.Module, batch: Batch, logger: _Logger, step: int) -> None:
    """Draw ``task.render_images`` for ``batch`` without touching the training RNG streams or train mode."""
    assert task.render_images is not None
    devices = sorted({p.device.index or 0 for p in model.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        was_training = model.training
        model.eval()
        try:
            image = task.render_images(model, batch)
        finally:
            model.train(was_training)
    logger.image(step, image)
