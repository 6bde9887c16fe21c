"""Resuming continues exactly: (train to step 20) + (resume to 40) has the loss curve of an uninterrupted 40 steps."""

from __future__ import annotations

from pathlib import Path

import torch
from test_training_loop import make_tiny_task, quiet_settings

from genie_gym.trainers.run_dir import RunDir
from genie_gym.trainers.training_loop import train

torch.set_num_threads(1)


def _losses(run: RunDir) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in run.read_metrics()]


def test_resume_reproduces_the_uninterrupted_loss_curve(tmp_path: Path) -> None:
    # Dropout draws from the torch RNG, the sampler wraps around the 24-clip dataset (several epochs), and gradient
    # accumulation splits each step: all three must continue exactly after a resume.
    settings = dict(steps=40, batch_size=4, grad_accum=2, checkpoint_every=7)
    straight = RunDir(tmp_path / "straight")
    full = train(make_tiny_task(dropout=0.2), quiet_settings(**settings), straight)

    split = RunDir(tmp_path / "split")
    first = train(make_tiny_task(dropout=0.2), quiet_settings(**settings, stop_at_step=20), split)
    assert first.step == 20 and split.checkpoint_steps() == [7, 14, 20]
    # A fresh model (different init) and a fresh process state: everything must come from the checkpoint.
    torch.manual_seed(1234)
    second = train(make_tiny_task(seed=99, dropout=0.2), quiet_settings(**settings), split, resume=True)
    assert second.step == 40 and [r["step"] for r in second.history] == list(range(21, 41))

    assert len(_losses(split)) == 40
    assert _losses(split) == _losses(straight)  # exact float equality, every step
    assert [r["lr"] for r in split.read_metrics()] == [r["lr"] for r in straight.read_metrics()]
    straight_state = RunDir.load_training_state(full.checkpoint)
    split_state = RunDir.load_training_state(second.checkpoint)
    assert straight_state["sampler"] == split_state["sampler"]


def test_resume_after_the_last_step_does_nothing(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    train(make_tiny_task(), quiet_settings(steps=3), run)
    again = train(make_tiny_task(), quiet_settings(steps=3), run, resume=True)
    assert again.step == 3 and again.history == [] and again.checkpoint == run.checkpoint_path(3)
    assert len(run.read_metrics()) == 3
