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
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from genie_gym.allocator import release_freed_memory
from genie_gym.image_grid import write_png
from genie_gym.options import option
from genie_gym.trainers.distributed import DistributedContext, all_reduce_mean, any_rank, barrier
from genie_gym.trainers.lr_schedule import ScheduleSettings, build_scheduler, default_warmup_steps
from genie_gym.trainers.optim import OptimizerSettings, build_optimizer, clip_gradients
from genie_gym.trainers.run_dir import RunDir, capture_rng_state, restore_rng_state, step_dir_name

Batch = dict[str, torch.Tensor]


PRECISIONS: tuple[str, ...] = ("auto", "bf16", "fp32")
DIAGNOSTICS_FLAG = "diagnostics"
"""Name of a model's bool attribute that asks ``compute_loss`` for its costly extra metrics (set on logged steps)."""


NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""CPU flags (``/proc/cpuinfo``) of native bf16 matrix multiplies; without one, bf16 autocast is emulated."""


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags from ``/proc/cpuinfo``, ``None`` where there is none to read (not Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return {flag for line in text.splitlines() if line.startswith("flags") for flag in line.split(":", 1)[-1].split()}


def check_precision(precision: str, device: torch.device) -> None:
    """``ValueError`` for ``--precision bf16`` on a CPU without native bf16: there autocast is emulated, about 100x
    slower than fp32 (1.1 against 103 GFLOP/s for a 4096x256 by 256x1024 matmul, 2 threads, on an AVX2-only AMD
    EPYC VM), so a campaign that chose bf16 on one machine would crawl on the next."""
    if precision != "bf16" or device.type != "cpu":
        return
    flags = cpu_flags()
    if flags is not None and not flags & set(NATIVE_BF16_FLAGS):
        raise ValueError("--precision bf16: this CPU has no native bf16 (no avx512_bf16 or amx_bf16 in "
                         "/proc/cpuinfo), so bf16 autocast would run about 100x slower than fp32; pass "
                         "--precision fp32 (a resumed run takes it too: the weights are fp32 either way)")


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
class LoopSettings(OptimizerSettings, ScheduleSettings):
    """Settings of :func:`train`: the optimiser's and the schedule's (inherited), and the loop's. Each setting that
    ``genie train`` exposes declares its command-line option here (:func:`genie_gym.options.option`).

    ``batch_size`` is the global batch and the determinism contract is in the module docstring.
    ``precision``: ``"auto"`` (bf16 autocast on CUDA, fp32 on CPU), ``"bf16"`` (autocast on any device; weights,
    gradients and optimizer state stay fp32) or ``"fp32"``.
    ``stop_at_step`` ends this invocation early (with a checkpoint) without changing the schedule, which is
    defined by ``steps``; a later ``resume=True`` run continues from there.
    """

    steps: int = option(10000, "optimizer steps of the whole run (default %(default)s)")
    batch_size: int = option(8, "global clips per micro-step (default %(default)s)")
    grad_accum: int = option(1, "micro-steps per optimizer step (default %(default)s)")
    seed: int = option(0, "seed of the initial weights, data order and masks")
    checkpoint_every: int = option(1000, "steps between checkpoints (default %(default)s)")
    keep_checkpoints: int = option(3, "checkpoints kept (default: the last %(default)s)")
    log_every: int = option(10, "steps between logged metrics (default %(default)s)")
    image_every: int = option(500, "steps between image grids (0: none)")
    stop_at_step: int | None = option(
        None, "stop (with a checkpoint) after this step; the schedule still spans --steps", dest="stop_at",
        per_invocation=True,
    )
    precision: str = option(
        "auto", "autocast of the forward pass (default auto: bf16 on CUDA, fp32 on CPU); weights stay fp32",
        choices=PRECISIONS,
    )
    num_workers: int | None = option(
        None, "DataLoader workers per process (default: 0 on CPU, 4 on CUDA)", per_invocation=True
    )
    progress: bool = option(True, "no tqdm bars", per_invocation=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        at_least_one = {"steps": self.steps, "batch_size": self.batch_size, "grad_accum": self.grad_accum,
                        "keep_checkpoints": self.keep_checkpoints, "checkpoint_every": self.checkpoint_every,
                        "log_every": self.log_every}
        for name, value in at_least_one.items():
            if value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
        if self.num_workers is not None and self.num_workers < 0:
            raise ValueError(f"--num-workers must be >= 0, got {self.num_workers}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"--precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")

    def for_device(self, device: torch.device, world_size: int) -> LoopSettings:
        """These settings on ``device`` with ``world_size`` processes (``num_workers`` resolved); raises
        ``ValueError`` when the global batch cannot be split."""
        if self.batch_size % world_size:
            raise ValueError(
                f"--batch-size {self.batch_size} is the global batch and must be divisible by the "
                f"{world_size} processes"
            )
        workers = self.num_workers if self.num_workers is not None else (4 if device.type == "cuda" else 0)
        return replace(self, num_workers=workers)

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
    value = ((int(seed) * 1_000_003 + int(step)) * 1_009 + int(rank)) % (2**63 - 1)
    random.seed(value)
    np.random.seed(value % (2**32))
    torch.manual_seed(value)


def _to_device(batch: Batch, device: torch.device) -> Batch:
    return {
        key: value.to(device, non_blocking=True) if isinstance(value, torch.Tensor) else value
        for key, value in batch.items()
    }


class _Logger:
    """Rank-0 sinks of metrics: TensorBoard, ``metrics.jsonl`` and the tqdm bar."""

    def __init__(self, run_dir: RunDir, start_step: int, total_steps: int, progress: bool) -> None:
        # imported here: it costs every `genie` command 0.2 s of start-up (the CLI imports this module for its
        # settings), and only a training run needs it
        from torch.utils.tensorboard import SummaryWriter

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
        write_png(self.run_dir.images_dir / f"step_{step:07d}.png", image)
        self.writer.add_image("train/samples", image, step, dataformats="HWC")

    def close(self) -> None:
        self.bar.close()
        self.writer.flush()
        self.writer.close()


class _MetricWindow:
    """The metrics of the steps since the last log record, averaged over the steps that reported each one (a costly
    diagnostic is only computed on logged steps), plus frames/s over the window."""

    def __init__(self, frames_per_step: int) -> None:
        self.frames_per_step = frames_per_step
        self._reset()

    def _reset(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.steps, self.start = 0, time.perf_counter()

    def add(self, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
            self.counts[key] = self.counts.get(key, 0) + 1
        self.steps += 1

    def flush(self, ctx: DistributedContext) -> dict[str, float]:
        """The window's means over all ranks (a collective: every rank calls it), then a new window."""
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        keys = sorted(self.sums)
        means = all_reduce_mean(torch.tensor([self.sums[k] / self.counts[k] for k in keys], dtype=torch.float64), ctx)
        record = {k: float(v) for k, v in zip(keys, means.tolist(), strict=True)}
        record["frames_per_s"] = self.frames_per_step * self.steps / elapsed
        self._reset()
        return record


class _Trainer:
    """One :func:`train` call: the model, optimiser, schedule and data position, and the named steps of the loop
    (:meth:`restore`, :meth:`write_snapshot`, :meth:`optimizer_step`, :meth:`log`, :meth:`checkpoint`)."""

    def __init__(self, task: TrainingTask, settings: LoopSettings, run_dir: RunDir, ctx: DistributedContext) -> None:
        self.task, self.settings, self.run_dir, self.ctx = task, settings, run_dir, ctx
        self.model = task.model.to(ctx.device)
        self.model.train()
        self.optimizer = build_optimizer(self.model, settings)
        self.scheduler = build_scheduler(
            self.optimizer, settings.steps, settings.resolved_warmup(), settings.warmup_start_factor,
            settings.min_lr_ratio,
        )
        self.step, self.position = 0, 0
        self.end_step = settings.steps if settings.stop_at_step is None else min(settings.steps, settings.stop_at_step)
        self.window = _MetricWindow(settings.batch_size * settings.grad_accum * task.frames_per_item)
        self.logger: _Logger | None = None
        self.loss_module: nn.Module = _LossModule(self.model)
        self.autocast = mixed_precision_context(settings.precision, ctx.device)

    def restore(self, checkpoint: Path) -> None:
        """Continue from ``checkpoint``: weights, optimiser, schedule, step, data position and RNG states."""
        self.task.load_weights(self.model, checkpoint)
        self.model.to(self.ctx.device)
        state = RunDir.load_training_state(checkpoint)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.step = int(state["step"])
        self.position = int(state["sampler"]["position"])
        restore_rng_state(state["rng"])
        if self.ctx.is_main:
            self.run_dir.truncate_metrics(self.step)  # records logged after the checkpoint are logged again

    def write_snapshot(self, command_args: dict[str, Any]) -> None:
        """Rank 0 writes ``config.json`` and ``args.json``; every rank then waits, and DDP wraps the model."""
        if self.ctx.is_main:
            self.run_dir.create()
            snapshot = {"task": self.task.name, "model": self.task.config, "training": self.settings.to_dict()}
            snapshot["training"]["world_size"] = self.ctx.world_size
            self.run_dir.write_snapshot(snapshot, command_args)
            self.logger = _Logger(self.run_dir, self.step, self.settings.steps, self.settings.progress)
        barrier(self.ctx)
        if self.ctx.is_distributed:
            device = self.ctx.device
            device_ids = [device.index] if device.type == "cuda" else None
            self.loss_module = DistributedDataParallel(
                self.loss_module, device_ids=device_ids, find_unused_parameters=True
            )

    def batches(self) -> Iterator[Batch]:
        """The batches from the current data position on (this rank's share)."""
        settings, ctx = self.settings, self.ctx
        sampler = StepBatchSampler(
            len(self.task.dataset), settings.batch_size, settings.seed, ctx.rank, ctx.world_size, self.position
        )
        loader = DataLoader(
            self.task.dataset,
            batch_sampler=sampler,
            num_workers=settings.num_workers,
            collate_fn=self.task.collate,
            pin_memory=ctx.device.type == "cuda",
            worker_init_fn=_ignore_sigint_in_worker if settings.num_workers else None,
            generator=torch.Generator().manual_seed(settings.seed),
        )
        return iter(loader)

    def optimizer_step(self, batches: Iterator[Batch]) -> Batch:
        """One optimizer step over ``grad_accum`` micro-batches; its metrics go to the window. Returns the last
        micro-batch (for images)."""
        settings, model = self.settings, self.model
        seed_step(settings.seed, self.step, self.ctx.rank)
        self.optimizer.zero_grad(set_to_none=True)
        metrics: dict[str, float] = {}
        batch: Batch = {}
        if hasattr(model, DIAGNOSTICS_FLAG):
            setattr(model, DIAGNOSTICS_FLAG, self._logs_after(self.step + 1))
        for micro in range(settings.grad_accum):
            batch = _to_device(next(batches), self.ctx.device)
            last = micro == settings.grad_accum - 1
            # DDP all-reduces the gradients of the last micro-batch only
            sync = self.loss_module.no_sync() if self.ctx.is_distributed and not last else contextlib.nullcontext()
            with sync:
                with self.autocast:
                    loss, micro_metrics = self.loss_module(batch)
                (loss / settings.grad_accum).backward()
            self.position += settings.batch_size
            for key, value in {"loss": float(loss.detach()), **micro_metrics}.items():
                metrics[key] = metrics.get(key, 0.0) + float(value) / settings.grad_accum
        grad_norm = clip_gradients(model.parameters(), settings.grad_clip)
        lr = self.optimizer.param_groups[0]["lr"]
        self.optimizer.step()
        self.scheduler.step()
        maintenance = getattr(model, "maintenance_step", None)
        if maintenance is not None:
            for key, value in (maintenance(self.step) or {}).items():
                if isinstance(value, int | float):
                    metrics[key] = float(value)
        self.step += 1
        metrics.update(lr=lr, grad_norm=grad_norm)
        self.window.add(metrics)
        return batch

    def _logs_after(self, step: int) -> bool:
        return step % self.settings.log_every == 0 or step == self.end_step

    def log(self, batch: Batch) -> None:
        """After a step: the window's metrics on logged steps (all ranks reduce), the bar and images (rank 0)."""
        if self._logs_after(self.step):
            record = self.window.flush(self.ctx)
            if self.logger is not None:
                self.logger.log(self.step, record)
                self.logger.bar.set_postfix(loss=f"{record['loss']:.4f}", fps=f"{record['frames_per_s']:.1f}")
        if self.logger is not None:
            self.logger.bar.update(1)
            every = self.settings.image_every
            if self.task.render_images is not None and every > 0 and self.step % every == 0:
                _render(self.task, self.model, batch, self.logger, self.step)

    def checkpoint(self) -> Path | None:
        """Rank 0 writes checkpoint ``step`` (returns its directory; other ranks get ``None``); all ranks wait."""
        path = None
        if self.ctx.is_main:
            state = {
                "step": self.step,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "sampler": {"seed": self.settings.seed, "position": self.position,
                            "global_batch": self.settings.batch_size},
                "rng": capture_rng_state(),
                "world_size": self.ctx.world_size,
            }
            path = self.run_dir.save_checkpoint(
                self.step, lambda directory: self.task.write_model(self.model, directory), state
            )
        barrier(self.ctx)
        release_freed_memory()  # the heap of a long run would otherwise only grow (genie_gym.allocator)
        return path

    def close(self) -> list[dict[str, Any]]:
        """Close the logs; returns the records logged by this call (rank 0)."""
        if self.logger is None:
            return []
        self.logger.close()
        return self.logger.history


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
    settings = settings.for_device(ctx.device, ctx.world_size)
    if ctx.device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    run_dir.keep = settings.keep_checkpoints
    trainer = _Trainer(task, settings, run_dir, ctx)
    resume_from = run_dir.resume_point(resume)
    if resume_from is not None:
        trainer.restore(resume_from)
    start_step, last_checkpoint, interrupted = trainer.step, None, False
    trainer.write_snapshot(command_args or {})
    batches = trainer.batches()
    try:
        with _StopFlag() as stop_flag:
            while trainer.step < trainer.end_step:
                batch = trainer.optimizer_step(batches)
                trainer.log(batch)
                if any_rank(stop_flag.requested, ctx):
                    interrupted = True
                    break
                if trainer.step % settings.checkpoint_every == 0 and trainer.step < trainer.end_step:
                    last_checkpoint = trainer.checkpoint()
            step = trainer.step
            if step > start_step and (last_checkpoint is None or last_checkpoint.name != step_dir_name(step)):
                last_checkpoint = trainer.checkpoint()
            elif last_checkpoint is None:
                last_checkpoint = resume_from
    finally:
        del batches
        history = trainer.close()
    return TrainResult(step=trainer.step, interrupted=interrupted, checkpoint=last_checkpoint, history=history)


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
