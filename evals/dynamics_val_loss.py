"""Validation figures of dynamics checkpoints: the first MaskGIT pass of a dream, teacher-forced, on held-out episodes.

Every window of ``--context + 1`` real frames (stride ``--stride``, at most ``--max-windows`` spread over all
episodes) is encoded as one clip, as a dream encodes its context (with unchanged patches holding their id for a
``hold_unchanged_tokens`` model). The last frame is fully masked and predicted from the real frames before it and the
real actions, as the first step of a dream does. Printed per checkpoint (one JSON line each, also appended to
``--json``):

- ``ce``: cross-entropy (nats/token) of the real next tokens; ``ce_static`` / ``ce_changed``: over the patches
  whose pixels stay the same as in the last context frame / that change; ``acc_static`` / ``acc_changed``: argmax
  accuracy on the same two sets (the token ids of a model's own convention);
- ``psnr_next``: PSNR (dB) of the argmax prediction, decoded, against the real next frame, and ``copy_psnr``: the
  last context frame's against it (the trivial baseline), with ``psnr_gain`` and its standard error (paired over
  windows): comparable across token conventions and model sizes; ``psnr_next_held`` / ``psnr_gain_held[_se]``:
  the same with the patches whose predicted id repeats the last context frame's copied from that frame's pixels
  (``hold_unchanged_pixels``, the dream's ``hold_pixels`` setting);
- ``visible_frames``: how many of the window's frames the dynamics was given (``--visible-frames``);
- ``step`` and, from ``--flops-per-frame``, the training compute so far (``train_flops``: frames seen x FLOPs per
  frame, fwd + bwd, from ``benchmarks/train_throughput.py``).

Run directories are expanded to all their checkpoints (``checkpoints/step_*``), so one call gives a run's curve.

    python evals/dynamics_val_loss.py --data data/val_sticky data/val_runner data/val_runstop \\
        --dynamics runs/campaign_d128 runs/campaign_d192 --json runs/val_curves.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genie_gym.data.store import EpisodeStore
from genie_gym.metrics import psnr_per_frame
from genie_gym.models.checkpoint_io import load_pretrained
from genie_gym.models.image_ops import float_to_frames, frames_to_float
from genie_gym.models.tokenizer import hold_unchanged_pixels, hold_unchanged_tokens
from genie_gym.summary import mean_and_se
from genie_gym.trainers.run_dir import RunDir, resolve_model_checkpoint


def validation_windows(stores: list[str], context: int, stride: int, max_windows: int | None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Frames uint8 ``(N, context + 1, 64, 64, 3)`` and actions int64 ``(N, context)`` of the stores' windows."""
    starts = []
    episodes = [episode for store in stores for episode in EpisodeStore(store).iter_episodes(split="all")]
    for index, episode in enumerate(episodes):
        starts += [(index, start) for start in range(0, len(episode.frames) - context, stride)]
    keep = np.arange(len(starts))
    if max_windows is not None and max_windows < len(keep):
        keep = np.linspace(0, len(starts) - 1, max_windows).round().astype(int)
    frames = np.stack([np.array(episodes[starts[i][0]].frames[starts[i][1] : starts[i][1] + context + 1])
                       for i in keep])
    actions = np.stack([np.asarray(episodes[starts[i][0]].actions[starts[i][1] : starts[i][1] + context],
                                   dtype=np.int64) for i in keep])
    return frames, actions


def encode_windows(tokenizer, frames: np.ndarray, batch: int = 32) -> torch.Tensor:
    """Encoder ids int64 ``(N, T, h, w)``, each window one clip."""
    with torch.no_grad():
        return torch.cat([tokenizer.encode(torch.from_numpy(frames[i : i + batch]))
                          for i in range(0, len(frames), batch)])


def first_pass_metrics(dynamics, tokenizer, tokens: torch.Tensor, frames: np.ndarray, actions: np.ndarray,
                       batch: int = 32) -> dict[str, float]:
    """CE / accuracy of the fully masked last frame (static and changed patches) and the decoded argmax's PSNR."""
    patch = tokenizer.config.patch_size
    pixels_same = (frames[:, -1] == frames[:, -2]).all(-1)  # (N, H, W)
    n, height, width = pixels_same.shape
    static_patch = torch.from_numpy(pixels_same.reshape(n, height // patch, patch, width // patch, patch)
                                    .all(axis=(2, 4)))
    sums = {"ce_static": 0.0, "ce_changed": 0.0, "acc_static": 0.0, "acc_changed": 0.0}
    counts = {"static": 0, "changed": 0}
    model_psnr, held_psnr = [], []
    target_f = frames_to_float(torch.from_numpy(frames[:, -1]))
    copy_psnr = psnr_per_frame(frames_to_float(torch.from_numpy(frames[:, -2])), target_f)
    with torch.no_grad():
        for start in range(0, len(tokens), batch):
            window = tokens[start : start + batch]
            acts = torch.from_numpy(actions[start : start + batch])
            inputs = window.clone()
            inputs[:, -1] = dynamics.mask_id
            logits = dynamics(inputs, acts)[:, -1].float()  # (B, h, w, codes)
            target = window[:, -1]
            ce = F.cross_entropy(logits.permute(0, 3, 1, 2), target, reduction="none")
            predicted = logits.argmax(-1)
            correct = (predicted == target).float()
            static = static_patch[start : start + batch]
            for name, pick in (("static", static), ("changed", ~static)):
                sums[f"ce_{name}"] += float(ce[pick].sum())
                sums[f"acc_{name}"] += float(correct[pick].sum())
                counts[name] += int(pick.sum())
            decoded = tokenizer.decode(torch.cat([window[:, :-1], predicted[:, None]], dim=1))[:, -1]
            model_psnr.append(psnr_per_frame(decoded, target_f[start : start + batch]))
            previous = torch.from_numpy(frames[start : start + batch, -2])
            held = hold_unchanged_pixels(previous, window[:, -2], float_to_frames(decoded), predicted, patch)
            held_psnr.append(psnr_per_frame(frames_to_float(held), target_f[start : start + batch]))
    model_psnr, held_psnr = torch.cat(model_psnr).numpy(), torch.cat(held_psnr).numpy()
    (gain, gain_se), (held_gain, held_gain_se) = (mean_and_se(model_psnr - copy_psnr.numpy()),
                                                  mean_and_se(held_psnr - copy_psnr.numpy()))
    total = counts["static"] + counts["changed"]
    result = {key: value / max(counts[key.split("_")[1]], 1) for key, value in sums.items()}
    result.update(ce=(sums["ce_static"] + sums["ce_changed"]) / total, changed_fraction=counts["changed"] / total,
                  psnr_next=float(model_psnr.mean()), copy_psnr=float(copy_psnr.mean()), psnr_gain=gain,
                  psnr_gain_se=float("nan") if gain_se is None else gain_se, psnr_next_held=float(held_psnr.mean()),
                  psnr_gain_held=held_gain, psnr_gain_held_se=float("nan") if held_gain_se is None else held_gain_se)
    return result


def checkpoints_of(path: str) -> list[tuple[int | None, Path]]:
    """``[(step, checkpoint dir)]``: every checkpoint of a run directory, or the one checkpoint directory given."""
    run = RunDir(path)
    steps = run.checkpoint_steps() if run.checkpoints_dir.is_dir() else []
    if steps:
        return [(step, run.checkpoint_path(step)) for step in steps]
    return [(None, resolve_model_checkpoint(path))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokenizer", default="checkpoints/genie-redux-g-smb/tokenizer")
    parser.add_argument("--data", nargs="+", required=True, help="validation episode stores (all their episodes)")
    parser.add_argument("--dynamics", nargs="+", required=True, help="run directories or checkpoint directories")
    parser.add_argument("--context", type=int, default=2)
    parser.add_argument("--stride", type=int, default=5)
    parser.add_argument("--visible-frames", type=int, nargs="*", default=[],
                        help="also score each window with only its last K frames given to the dynamics (the same "
                             "targets, encoded in the same clip: a paired test of how much context helps or hurts)")
    parser.add_argument("--max-windows", type=int, default=400)
    parser.add_argument("--steps", type=int, nargs="*", help="only these checkpoint steps of each run")
    parser.add_argument("--frames-per-step", type=int, default=64, help="training frames per step (batch x window)")
    parser.add_argument("--flops-per-frame", nargs="*", default=[], metavar="RUN=GFLOP",
                        help="training GFLOP per frame of each run (train_throughput.py's gflop_per_frame)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="append one JSON line per checkpoint here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    flops = dict(item.split("=") for item in args.flops_per_frame)
    tokenizer = load_pretrained(args.tokenizer, expected_kind="tokenizer").float().eval()
    frames, actions = validation_windows(args.data, args.context, args.stride, args.max_windows)
    plain = encode_windows(tokenizer, frames)
    held = hold_unchanged_tokens(plain, frames, tokenizer.config.patch_size)
    print(f"{len(frames)} validation windows from {', '.join(args.data)}", flush=True)
    for run in args.dynamics:
        for step, checkpoint in checkpoints_of(run):
            if args.steps and step not in args.steps:
                continue
            dynamics = load_pretrained(checkpoint, expected_kind="dynamics").float().eval()
            tokens = held if getattr(dynamics.config, "hold_unchanged_tokens", False) else plain
            for visible in [args.context + 1, *args.visible_frames]:
                row = {"run": run, "step": step, "visible_frames": visible,
                       **first_pass_metrics(dynamics, tokenizer, tokens[:, -visible:], frames[:, -visible:],
                                            actions[:, actions.shape[1] - visible + 1 :])}
                if run in flops and step is not None:
                    row["train_flops"] = float(flops[run]) * 1e9 * args.frames_per_step * step
                print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
                if args.json:
                    with open(args.json, "a") as handle:
                        handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
