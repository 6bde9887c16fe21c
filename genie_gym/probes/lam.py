"""Does a trained latent action model (LAM) carry the change to the next frame? Measured on held-out real episodes.

For ``--windows`` clips of ``--window`` frames from the held-out store, the LAM infers one latent action per
transition and its decoder predicts each next frame:
- with the inferred latent action, and with each of the other 6 (same past frames);
- ``MSE ratio`` = MSE with the inferred action / the lowest MSE with another one (1.0: the latent is ignored;
  lower is better), overall and on the transitions where the real camera or Mario moved;
- how the codes are used, and the mutual information (bits) between the code and the real action of the same step
  (the store records it): 0 when the codes say nothing about the buttons pressed.

    genie probe lam --lam runs/lam --data data/smb_test
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import torch

from genie_gym.conventions import ACTION_NAMES
from genie_gym.data.store import EpisodeStore
from genie_gym.models import frames_to_float
from genie_gym.options import from_args, option
from genie_gym.trainers.tasks import load_frozen


def held_out_clips(store: EpisodeStore, window: int, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Consecutive non-overlapping clips of every episode: frames uint8 ``(N, window, 64, 64, 3)`` and actions int64
    ``(N, window - 1)`` (``actions[:, t]`` produced frame ``t + 1``)."""
    frames, actions = [], []
    for episode in store.iter_episodes():
        for start in range(0, episode.length - window + 1, window):
            frames.append(np.asarray(episode.frames[start : start + window]))
            actions.append(np.asarray(episode.actions[start : start + window - 1]))
            if len(frames) == limit:
                return np.stack(frames), np.stack(actions)
    if not frames:
        raise ValueError(f"no episodes of {window}+ frames in {store.root}; collect some with `genie collect` or "
                         "pass a shorter --window")
    return np.stack(frames), np.stack(actions)


def mutual_information(codes: np.ndarray, labels: np.ndarray) -> float:
    """Mutual information in bits between two integer arrays of the same shape."""
    joint = np.zeros((codes.max() + 1, labels.max() + 1))
    np.add.at(joint, (codes.ravel(), labels.ravel()), 1.0)
    joint /= joint.sum()
    outer = joint.sum(1, keepdims=True) @ joint.sum(0, keepdims=True)
    nonzero = joint > 0
    return float((joint[nonzero] * np.log2(joint[nonzero] / outer[nonzero])).sum())


@torch.no_grad()
def probe(lam: torch.nn.Module, frames: np.ndarray, batch: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inferred codes int ``(N, T-1)``, per-transition MSE with them ``(N, T-1)`` and the lowest per-transition MSE
    over the other codes ``(N, T-1)``."""
    num_codes = lam.config.num_codes
    codes, mse_inferred, mse_other = [], [], []
    for start in range(0, len(frames), batch):
        clips = torch.from_numpy(frames[start : start + batch])
        target = frames_to_float(clips[:, 1:])
        ids = lam.infer_actions(clips)

        def error(action_ids: torch.Tensor, clips=clips, target=target) -> torch.Tensor:
            return (lam.predict_next_frames(clips, action_ids) - target).pow(2).mean(dim=(2, 3, 4))

        others = torch.stack([error((ids + k) % num_codes) for k in range(1, num_codes)])  # (C-1, B, T-1)
        codes.append(ids.numpy())
        mse_inferred.append(error(ids).numpy())
        mse_other.append(others.min(dim=0).values.numpy())
    return np.concatenate(codes), np.concatenate(mse_inferred), np.concatenate(mse_other)


@dataclass(kw_only=True)
class LamSettings:
    """The options of ``genie probe lam``."""

    lam: str = option(help="LAM training run or checkpoint directory")
    data: str = option("data/smb_test", "held-out episode store")
    window: int = option(8)
    windows: int = option(200)
    batch: int = option(16)


def run(args: argparse.Namespace) -> int:
    """Probe the LAM on held-out clips, print the table."""
    settings = from_args(LamSettings, args)
    lam, path = load_frozen(settings.lam, "lam", torch.device("cpu"))
    frames, actions = held_out_clips(EpisodeStore(settings.data), settings.window, settings.windows)
    started = time.perf_counter()
    codes, mse_inferred, mse_other = probe(lam, frames, settings.batch)
    moving = np.abs(frames[:, 1:].astype(np.int16) - frames[:, :-1].astype(np.int16)).mean(axis=(2, 3, 4)) > 1.0
    print(f"LAM {path}: {len(frames)} held-out clips of {settings.window} frames from {settings.data} "
          f"({time.perf_counter() - started:.0f} s)")
    print(f"  MSE ratio (inferred / best other code): all {mse_inferred.mean() / mse_other.mean():.3f}, "
          f"transitions with motion ({moving.mean():.0%}) {mse_inferred[moving].mean() / mse_other[moving].mean():.3f}")
    print(f"  PSNR of the next frame: {-10 * np.log10(mse_inferred.mean()):.2f} dB with the inferred code, "
          f"{-10 * np.log10(mse_other.mean()):.2f} dB with the best other code")
    usage = np.bincount(codes.ravel(), minlength=lam.config.num_codes) / codes.size
    print("  code usage: " + " ".join(f"{u:.2f}" for u in usage))
    print(f"  mutual information code ; real action: {mutual_information(codes, actions):.3f} bits "
          f"(real actions: {np.log2(len(ACTION_NAMES)):.2f} bits at most)")
    table = np.zeros((lam.config.num_codes, len(ACTION_NAMES)), dtype=int)
    np.add.at(table, (codes.ravel(), actions.ravel()), 1)
    print("  code x real action counts: " + " ".join(f"{name:>6}" for name in ACTION_NAMES))
    for code, row in enumerate(table):
        print(f"  {code:>25} " + " ".join(f"{v:>6}" for v in row))
    return 0
