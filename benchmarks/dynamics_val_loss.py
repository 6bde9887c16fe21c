"""Validation loss of dynamics checkpoints: the first MaskGIT pass of a dream, teacher-forced, on held-out episodes.

For every window of ``--context + 1`` frames (stride ``--stride``) of the validation stores, the last frame is fully
masked and predicted from the fully visible real frames before it and the real actions, as the first step of a dream
does. Printed per checkpoint (one JSON line each, also appended to ``--json``):

- ``ce``: cross-entropy (nats/token) of the real next tokens; ``ce_static`` / ``ce_changed``: over the tokens that
  stay the same as in the last context frame / that change (a copying model is good on the first, bad on the
  second; a model that drifts on still screens is bad on the first);
- ``acc_static`` / ``acc_changed``: argmax accuracy on the same two sets;
- ``step`` and, from ``--flops-per-frame``, the training compute so far (``train_flops``: frames seen x FLOPs
  per frame, fwd + bwd, from ``benchmarks/train_throughput.py``).

Run directories are expanded to all their checkpoints (``checkpoints/step_*``), so one call gives a run's curve.

    python benchmarks/dynamics_val_loss.py --tokenizer checkpoints/genie-redux-g-smb/tokenizer \\
        --data data/val_sticky data/val_runner data/val_runstop --dynamics runs/scale_d128 runs/scale_d256
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from genie_gym.data.store import EpisodeStore
from genie_gym.models.checkpoint_io import load_pretrained
from trainers.run_dir import RunDir, resolve_model_checkpoint


def validation_windows(stores: list[str], tokenizer, context: int, stride: int, max_windows: int | None
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """Token windows int64 ``(N, context + 1, h, w)`` and their actions ``(N, context)`` of every episode."""
    tokens, actions = [], []
    for store in stores:
        for episode in EpisodeStore(store).iter_episodes(split="all"):
            frames = torch.from_numpy(np.array(episode.frames))
            with torch.no_grad():
                ids = torch.cat([tokenizer.encode(frames[None, i : i + 16])[0] for i in range(0, len(frames), 16)])
            for start in range(0, len(frames) - context, stride):
                tokens.append(ids[start : start + context + 1])
                actions.append(torch.from_numpy(episode.actions[start : start + context].astype(np.int64)))
    keep = np.arange(len(tokens))
    if max_windows is not None and max_windows < len(keep):
        keep = np.linspace(0, len(tokens) - 1, max_windows).round().astype(int)
    return torch.stack([tokens[i] for i in keep]), torch.stack([actions[i] for i in keep])


def first_pass_metrics(dynamics, tokens: torch.Tensor, actions: torch.Tensor, batch: int = 32) -> dict[str, float]:
    """CE and accuracy of the fully masked last frame, split into static and changed tokens."""
    sums = {"ce_static": 0.0, "ce_changed": 0.0, "acc_static": 0.0, "acc_changed": 0.0}
    counts = {"static": 0, "changed": 0}
    with torch.no_grad():
        for start in range(0, len(tokens), batch):
            window, acts = tokens[start : start + batch], actions[start : start + batch]
            inputs = window.clone()
            inputs[:, -1] = dynamics.mask_id
            logits = dynamics(inputs, acts)[:, -1].float()  # (B, h, w, codes)
            target = window[:, -1]
            ce = F.cross_entropy(logits.permute(0, 3, 1, 2), target, reduction="none")
            correct = (logits.argmax(-1) == target).float()
            static = target == window[:, -2]
            for name, pick in (("static", static), ("changed", ~static)):
                sums[f"ce_{name}"] += float(ce[pick].sum())
                sums[f"acc_{name}"] += float(correct[pick].sum())
                counts[name] += int(pick.sum())
    total = counts["static"] + counts["changed"]
    result = {key: value / max(counts[key.split("_")[1]], 1) for key, value in sums.items()}
    result["ce"] = (sums["ce_static"] + sums["ce_changed"]) / total
    result["changed_fraction"] = counts["changed"] / total
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
    parser.add_argument("--max-windows", type=int, default=600)
    parser.add_argument("--frames-per-step", type=int, default=64, help="training frames per step (batch x window)")
    parser.add_argument("--flops-per-frame", nargs="*", default=[], metavar="RUN=GFLOP",
                        help="training GFLOP per frame of each run (train_throughput.py's gflop_per_frame)")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--windows-cache", default=None,
                        help=".npz of the tokenized windows: written on the first call, read on later ones (delete it "
                             "if the data changes)")
    parser.add_argument("--json", default=None, help="append one JSON line per checkpoint here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    flops = dict(item.split("=") for item in args.flops_per_frame)
    tokenizer = load_pretrained(args.tokenizer, expected_kind="tokenizer").eval()
    cache = Path(args.windows_cache) if args.windows_cache else None
    if cache is not None and cache.is_file():  # the same stores and settings: tokenizing is the slow part
        with np.load(cache) as saved:
            tokens, actions = torch.from_numpy(saved["tokens"]), torch.from_numpy(saved["actions"])
    else:
        tokens, actions = validation_windows(args.data, tokenizer, args.context, args.stride, args.max_windows)
        if cache is not None:
            np.savez(cache, tokens=tokens.numpy(), actions=actions.numpy())
    print(f"{len(tokens)} validation windows from {', '.join(args.data)}")
    for run in args.dynamics:
        for step, checkpoint in checkpoints_of(run):
            dynamics = load_pretrained(checkpoint, expected_kind="dynamics").float().eval()
            row = {"run": run, "step": step, **first_pass_metrics(dynamics, tokens, actions)}
            if run in flops and step is not None:
                row["train_flops"] = float(flops[run]) * 1e9 * args.frames_per_step * step
            print(json.dumps({k: round(v, 5) if isinstance(v, float) else v for k, v in row.items()}))
            if args.json:
                with open(args.json, "a") as handle:
                    handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
