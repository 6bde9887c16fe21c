"""The shared training loop: schedule shape, weight-decay groups, gradient accumulation, run directory, interrupts.

The loop is exercised with a tiny model that follows the ``compute_loss`` contract of the real models (the real
tokenizer and dynamics run through the loop in ``test_train_cli.py``). ``make_tiny_task`` is shared with
``test_resume.py`` and ``test_ddp.py``.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import Dataset

from genie_gym.trainers.distributed import DistributedContext
from genie_gym.trainers.lr_schedule import build_scheduler, default_warmup_steps, warmup_cosine_factor
from genie_gym.trainers.optim import OptimizerSettings, build_optimizer, weight_decay_groups
from genie_gym.trainers.run_dir import RunDir
from genie_gym.trainers.training_loop import LoopSettings, StepBatchSampler, TrainingTask, train

torch.set_num_threads(1)

# Weights after an Adam step are compared to 1% of one lr=3e-3 step: Adam divides by sqrt(v), so a parameter whose
# gradient is ~0 can turn a float-rounding-sized gradient difference into a visible update (CI saw 1e-5 on one of
# 12,576 weights). The gradient itself is compared to rel 1e-5 (logged grad norm) where this tolerance is used.
ADAM_STEP_ATOL = 3e-5


class TinyClipDataset(Dataset):
    """``num_items`` fixed random uint8 clips ``(frames, 8, 8, 3)`` with actions, like ``WindowDataset`` items."""

    def __init__(self, num_items: int = 24, frames: int = 4, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.frames = torch.from_numpy(rng.integers(0, 256, (num_items, frames, 8, 8, 3), dtype=np.uint8))
        self.actions = torch.from_numpy(rng.integers(0, 5, (num_items, frames - 1)))

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict:
        return {"frames": self.frames[index], "actions": self.actions[index], "game_index": 0}


class TinyAutoencoder(nn.Module):
    """A small autoencoder with the real models' ``compute_loss`` contract; ``dropout > 0`` makes it use the RNG.

    ``signal_at_call``: sends SIGTERM to this process on that ``compute_loss`` call (1-based), like a user's kill.
    """

    model_kind = "tiny"

    def __init__(self, dropout: float = 0.0, signal_at_call: int | None = None) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(192, 32), nn.LayerNorm(32), nn.GELU())
        self.decoder = nn.Linear(32, 192)
        self.dropout = nn.Dropout(dropout)
        self.signal_at_call = signal_at_call
        self.calls = 0
        self.maintenance_calls: list[int] = []

    def compute_loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        self.calls += 1
        if self.signal_at_call is not None and self.calls == self.signal_at_call:
            os.kill(os.getpid(), signal.SIGTERM)
        x = batch["frames"].float().div(255.0).flatten(2)
        recon = self.decoder(self.dropout(self.encoder(x)))
        loss = nn.functional.mse_loss(recon, x)
        return loss, {"psnr": float(-10 * torch.log10(loss.detach()))}

    def maintenance_step(self, step: int) -> dict:
        self.maintenance_calls.append(step)
        return {"maintenance_calls": len(self.maintenance_calls)}


def _write_tiny(model: nn.Module, directory: Path) -> None:
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(directory / "model.safetensors"))
    (directory / "config.json").write_text(json.dumps({"model_kind": "tiny", "config": {}}))


def _load_tiny(model: nn.Module, directory: Path) -> None:
    model.load_state_dict(load_file(str(directory / "model.safetensors")))


def _render_tiny(model: nn.Module, batch: dict) -> np.ndarray:
    return batch["frames"][0, 0].cpu().numpy()


def make_tiny_task(seed: int = 0, dropout: float = 0.0, signal_at_call: int | None = None) -> TrainingTask:
    """A ``TrainingTask`` around :class:`TinyAutoencoder` (initialised from ``seed``) and :class:`TinyClipDataset`."""
    torch.manual_seed(seed)
    model = TinyAutoencoder(dropout, signal_at_call)
    return TrainingTask(
        name="tiny",
        model=model,
        dataset=TinyClipDataset(),
        frames_per_item=4,
        config={"model_kind": "tiny"},
        write_model=_write_tiny,
        load_weights=_load_tiny,
        render_images=_render_tiny,
    )


def quiet_settings(**changes) -> LoopSettings:
    """Loop settings for tests: no progress bar, frequent logs, big learning rate so the loss visibly moves."""
    values = dict(steps=6, batch_size=4, lr=3e-3, log_every=1, checkpoint_every=100, image_every=0, progress=False)
    values.update(changes)
    return LoopSettings(**values)


# -- schedule -----------------------------------------------------------------------------------------------------
def test_schedule_warms_up_from_half_and_anneals_to_min_ratio() -> None:
    total, warmup = 1000, 100
    factors = [warmup_cosine_factor(s, total, warmup) for s in range(total + 1)]
    assert factors[0] == pytest.approx(0.5)
    assert factors[warmup // 2] == pytest.approx(0.75)
    assert factors[warmup] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(factors[:warmup], factors[1 : warmup + 1], strict=True))  # linear rise
    assert all(a >= b for a, b in zip(factors[warmup:-1], factors[warmup + 1 :], strict=True))  # cosine fall
    assert factors[(warmup + total) // 2] == pytest.approx(0.75)  # half-way down the cosine
    assert factors[total] == pytest.approx(0.5)  # 5e-5 / 1e-4

    optimizer = torch.optim.AdamW([nn.Parameter(torch.zeros(2, 2))], lr=1e-4)
    scheduler = build_scheduler(optimizer, total_steps=200)  # default warm-up scaled down to 20 steps
    lrs = []
    for _ in range(200):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    lrs.append(optimizer.param_groups[0]["lr"])
    assert lrs[0] == pytest.approx(5e-5) and lrs[20] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(5e-5)
    assert default_warmup_steps(200) == 20 and default_warmup_steps(10**6) == 5000 and default_warmup_steps(5) == 0


def test_weight_decay_only_on_matrices() -> None:
    model = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 4), nn.LayerNorm(4), nn.Conv1d(4, 4, 3))
    groups = weight_decay_groups(model, 1e-4)
    decayed, plain = groups
    assert decayed["weight_decay"] == 1e-4 and plain["weight_decay"] == 0.0
    assert sorted(decayed["names"]) == ["0.weight", "1.weight", "3.weight"]
    assert sorted(plain["names"]) == ["1.bias", "2.bias", "2.weight", "3.bias"]
    optimizer = build_optimizer(model, OptimizerSettings(lr=1e-4))
    assert optimizer.defaults["betas"] == (0.9, 0.99)
    # A decayed weight shrinks with zero gradient; an undecayed one does not move.
    for param in model.parameters():
        param.grad = torch.zeros_like(param)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer.step()
    after = dict(model.named_parameters())
    assert torch.allclose(after["1.weight"], before["1.weight"] * (1 - 1e-4 * 1e-4))
    assert torch.equal(after["2.weight"], before["2.weight"])


# -- sampler ------------------------------------------------------------------------------------------------------
def test_sampler_is_a_function_of_seed_and_position_and_shards_ranks() -> None:
    full = StepBatchSampler(10, global_batch=4, seed=3)
    batches = [b for b, _ in zip(full, range(5), strict=False)]
    flat = [i for b in batches for i in b]
    assert sorted(flat[:10]) == list(range(10)) and sorted(flat[10:20]) == list(range(10))  # epochs are permutations
    resumed = StepBatchSampler(10, global_batch=4, seed=3, start_position=8)
    assert next(iter(resumed)) == batches[2]
    rank0 = StepBatchSampler(10, global_batch=4, seed=3, rank=0, world_size=2)
    rank1 = StepBatchSampler(10, global_batch=4, seed=3, rank=1, world_size=2)
    for b, r0, r1 in zip(batches, rank0, rank1, strict=False):
        assert r0 + r1 == b  # disjoint halves of the same global batch
    assert [b for b, _ in zip(StepBatchSampler(10, 4, seed=4), range(5), strict=False)] != batches


# -- the loop -----------------------------------------------------------------------------------------------------
def test_loop_trains_and_fills_the_run_directory(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    task = make_tiny_task()
    settings = quiet_settings(steps=12, checkpoint_every=4, keep_checkpoints=2, image_every=5, log_every=3)
    result = train(task, settings, run, command_args={"steps": 12})
    assert result.step == 12 and not result.interrupted
    assert run.checkpoint_steps() == [8, 12]  # step 4 pruned (keep 2)
    assert run.latest_checkpoint() == run.checkpoint_path(12) == result.checkpoint
    assert (tmp_path / "run" / "latest").read_text().strip() == "checkpoints/step_0000012"
    state = RunDir.load_training_state(result.checkpoint)
    assert state["step"] == 12 and state["sampler"]["position"] == 12 * 4
    records = run.read_metrics()
    assert [r["step"] for r in records] == [3, 6, 9, 12]
    assert {"loss", "lr", "grad_norm", "frames_per_s", "psnr", "maintenance_calls"} <= set(records[0])
    assert records[-1]["loss"] < records[0]["loss"]
    assert task.model.maintenance_calls == list(range(12))
    assert sorted(p.name for p in run.images_dir.iterdir()) == ["step_0000005.png", "step_0000010.png"]
    assert list(run.tensorboard_dir.glob("events.out.tfevents.*"))
    snapshot = run.read_config()
    assert snapshot["training"]["steps"] == 12 and snapshot["training"]["resolved_warmup_steps"] == 1
    assert json.loads((tmp_path / "run" / "args.json").read_text())["args"] == {"steps": 12}
    assert not list(run.checkpoints_dir.glob(".tmp*"))


def test_gradient_accumulation_matches_one_big_batch(tmp_path: Path) -> None:
    params, grad_norms = [], []
    for name, batch, accum in (("big", 4, 1), ("accumulated", 2, 2)):
        task = make_tiny_task()
        run = RunDir(tmp_path / name)
        train(task, quiet_settings(steps=2, batch_size=batch, grad_accum=accum), run)
        params.append(torch.cat([p.detach().flatten() for p in task.model.parameters()]))
        grad_norms.append([r["grad_norm"] for r in run.read_metrics()])
    # The gradient itself (before Adam) must match: a missing 1/accum scale or a dropped micro-batch shows here.
    assert grad_norms[0] == pytest.approx(grad_norms[1], rel=1e-5)
    torch.testing.assert_close(params[0], params[1], rtol=0, atol=ADAM_STEP_ATOL)


class DiagnosedAutoencoder(TinyAutoencoder):
    """Reports a costly extra metric only when the loop asks for it (the dynamics' action gain works this way)."""

    def __init__(self) -> None:
        super().__init__()
        self.diagnostics = True
        self.diagnosed_calls: list[int] = []

    def compute_loss(self, batch: dict) -> tuple[torch.Tensor, dict[str, float]]:
        loss, metrics = super().compute_loss(batch)
        if self.diagnostics:
            self.diagnosed_calls.append(self.calls)
            metrics["extra"] = float(self.calls)
        return loss, metrics


def test_costly_diagnostics_run_on_the_logged_steps_only(tmp_path: Path) -> None:
    task = make_tiny_task()
    task.model = DiagnosedAutoencoder()
    run = RunDir(tmp_path / "run")
    train(task, quiet_settings(steps=7, log_every=3), run)
    assert task.model.diagnosed_calls == [3, 6, 7]  # the steps that write a log record (and the last one)
    records = run.read_metrics()
    assert [record["step"] for record in records] == [3, 6, 7]
    assert [record["extra"] for record in records] == [3.0, 6.0, 7.0]  # averaged over the steps that reported it


def test_existing_run_needs_resume(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    train(make_tiny_task(), quiet_settings(steps=2), run)
    with pytest.raises(ValueError, match="--resume"):
        train(make_tiny_task(), quiet_settings(steps=2), run)


def test_sigterm_writes_a_checkpoint_and_stops(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    task = make_tiny_task(signal_at_call=3)
    result = train(task, quiet_settings(steps=50), run)
    assert result.interrupted and result.step == 3
    assert run.checkpoint_steps() == [3]
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored
    resumed = train(make_tiny_task(), quiet_settings(steps=5), run, resume=True)
    assert resumed.step == 5 and run.checkpoint_steps() == [3, 5]


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="divisible"):
        train(make_tiny_task(), quiet_settings(batch_size=3), RunDir(tmp_path / "a"), DistributedContext(world_size=2))
    with pytest.raises(ValueError, match="--grad-accum"):
        train(make_tiny_task(), quiet_settings(grad_accum=0), RunDir(tmp_path / "b"))
