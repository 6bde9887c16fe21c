"""Choose dynamics checkpoints and dream settings on the validation stores, along the dream's own path.

``genie eval`` is the paper's protocol (one MaskGIT pass over the 10 frames, 25 steps, plus the random-action
predictions for ΔPSNR): the figures for a report, and ~20 min per 100 sequences on one core of the 2-core VM. This
script asks the question a choice needs, at a fraction of the cost: from 2 real context frames, dream the next 10
frame by frame as the dream env does (the cached stream, the real actions, the world model's ``dream.json``'s
MaskGIT steps unless ``--maskgit-steps`` or a setting says otherwise) and score them against the real frames next
to the repeated last context frame, per motion stratum. Every (checkpoint, setting) pair sees the same sequences and
the same sampling noise. One JSON line per pair and store (also appended to ``--json``): ``maskgit_steps`` (those
used), ``psnr``, ``copy_psnr``, ``gain`` and ``gain_se`` (paired over sequences), ``gain_median`` and
``beats_copy`` (the share of sequences where the dream scores higher: the mean of per-sequence dB is dominated by the
few near-still sequences where the repeated frame scores 60-100 dB), and ``strata`` (still /
moving / scrolling: ``n``, ``psnr``, ``gain``, ``gain_se``); with ``--per-sequence`` also each sequence's PSNR, so
that candidates can be compared paired (``python campaign/compare_val.py RESULTS.jsonl``). ``changes`` says how
the dream moves against the game, per 4x4 patch and frame (pixels, so any model and setting compare): ``real``
and ``dream`` (the share of patches that differ from the previous frame), ``spurious`` (the game's patch stays,
the dream's changes) and ``missed`` (the game's changes, the dream's stays), also per stratum.

``--ceiling`` adds, per setting and store, the row a perfect dynamics model would reach with this tokenizer: the
real next frames' own token ids (held where their pixels repeat, as the dynamics was trained), decoded and composed
as the dream composes its own (``WorldModel.decode_held``). Its distance to the dream's row is what the dynamics
loses; its distance to the repeated frame is what the tokenizer leaves.

    python evals/dream_val.py --dynamics runs/campaign_d128_shipped/checkpoints/step_0001300 \\
        checkpoints/genie-redux-g-smb/dynamics --settings '{}' '{"hold_pixels": true, "hold_bias": 2}' \\
        --data data/val_runner data/val_sticky data/val_runstop --max-sequences 64

Never point it at the test stores while choosing (docs/WORLD_MODEL_CAMPAIGN.md, test-set rule): a store whose
folder name starts with ``test`` is refused unless ``--report`` says this is the one final report of a chosen model.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from genie_gym.evaluation import MOTION_STRATA, EvalSettings, load_evaluation_data, motion_strata
from genie_gym.metrics import psnr_per_frame
from genie_gym.models.checkpoint_io import load_pretrained
from genie_gym.models.configs import DreamSettings
from genie_gym.models.image_ops import frames_to_float
from genie_gym.models.tokenizer import unchanged_patches
from genie_gym.summary import mean_and_se
from genie_gym.world_model import WorldModel, read_dream_json


def sequence_psnr(prediction: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Mean PSNR (dB) over frames of each sequence: ``(N, T, 64, 64, 3)`` uint8 twice -> ``(N,)``."""
    n, t = target.shape[:2]
    scores = psnr_per_frame(frames_to_float(torch.from_numpy(prediction.reshape(n * t, *prediction.shape[2:]))),
                            frames_to_float(torch.from_numpy(target.reshape(n * t, *target.shape[2:]))))
    return scores.reshape(n, t).mean(dim=1).numpy()


def world_model_steps(dynamics: str, tokenizer: str) -> int | None:
    """``maskgit_steps`` of the world model's ``dream.json``: the one beside the dynamics (a world-model directory's
    ``dynamics/``), else the one beside the tokenizer (by default the shipped model's: 8); ``None`` if neither has
    it (then :class:`DreamSettings`' default)."""
    for checkpoint in (dynamics, tokenizer):
        steps = read_dream_json(Path(checkpoint).parent).get("maskgit_steps")
        if steps is not None:
            return int(steps)
    return None


def dream_frames(world_model: WorldModel, frames: np.ndarray, actions: np.ndarray, context: int,
                 sampling: DreamSettings, batch: int, seed: int) -> np.ndarray:
    """The dreamed frames after ``context`` real ones."""
    predicted = []
    for start in range(0, len(frames), batch):
        generator = torch.Generator().manual_seed(seed + start)
        out, _ = world_model.predict(frames[start : start + batch, :context], actions[start : start + batch],
                                     frames.shape[1] - context, mode="autoregressive", frames_per_step=1,
                                     sampling=sampling, generator=generator)
        predicted.append(out)
    return np.concatenate(predicted)


def ceiling_frames(world_model: WorldModel, frames: np.ndarray, context: int, sampling: DreamSettings,
                   batch: int) -> np.ndarray:
    """The frames after ``context`` as the dream would show them if its dynamics predicted the real ids."""
    out = []
    for start in range(0, len(frames), batch):
        clip = frames[start : start + batch]
        tokens = world_model.encode(clip)
        out.append(world_model.decode_held(clip[:, :context], tokens[:, :context], tokens[:, context:], sampling))
    return np.concatenate(out)


def change_rates(predicted: np.ndarray, frames: np.ndarray, context: int, strata: list[str], patch_size: int) -> dict:
    """How the dream's patches (the tokenizer's, ``patch_size`` pixels a side) change against the game's after the
    last context frame (``changes`` in the rows)."""
    real = ~unchanged_patches(frames[:, context - 1 :], patch_size).numpy()
    dreamed = np.concatenate([frames[:, context - 1 : context], predicted], axis=1)
    dream = ~unchanged_patches(dreamed, patch_size).numpy()
    labels = np.array(strata)

    def rates(pick: np.ndarray) -> dict:
        r, d = real[pick], dream[pick]
        return {"real": round(float(r.mean()), 4), "dream": round(float(d.mean()), 4),
                "spurious": round(float((d & ~r).mean()), 4), "missed": round(float((r & ~d).mean()), 4)}

    table = rates(np.ones(len(labels), dtype=bool))
    table["strata"] = {name: rates(labels == name) for name, _ in MOTION_STRATA if (labels == name).any()}
    return table


def summary(model: np.ndarray, copy: np.ndarray, strata: list[str]) -> dict:
    gain, gain_se = mean_and_se(model - copy)
    table = {}
    labels = np.array(strata)
    for name, _ in MOTION_STRATA:
        pick = labels == name
        if pick.sum() > 1:
            g, se = mean_and_se(model[pick] - copy[pick])
            table[name] = {"n": int(pick.sum()), "psnr": round(float(model[pick].mean()), 2), "gain": round(g, 2),
                           "gain_se": round(se, 2)}
    return {"psnr": round(float(model.mean()), 2), "copy_psnr": round(float(copy.mean()), 2), "gain": round(gain, 2),
            "gain_se": round(gain_se, 2), "gain_median": round(float(np.median(model - copy)), 2),
            "beats_copy": round(float(np.mean(model > copy)), 3), "strata": table}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dynamics", nargs="+", required=True, help="dynamics checkpoint directories")
    parser.add_argument("--tokenizer", default="checkpoints/genie-redux-g-smb/tokenizer")
    parser.add_argument("--settings", nargs="+", default=["{}"],
                        help="dream settings to try, each a JSON object over dream.json's keys")
    parser.add_argument("--data", nargs="+", required=True, help="validation episode stores (all episodes)")
    parser.add_argument("--max-sequences", type=int, default=64, help="per store, evenly spaced")
    parser.add_argument("--maskgit-steps", type=int, default=None,
                        help="MaskGIT steps per dreamed frame (default: a --settings object's maskgit_steps, else the "
                             "world model's dream.json's: beside the dynamics, else beside the tokenizer)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--json", default=None, help="append one JSON line per result here")
    parser.add_argument("--per-sequence", action="store_true",
                        help="also write each sequence's PSNR (`sequence_psnr`), for paired comparisons of candidates")
    parser.add_argument("--ceiling", action="store_true",
                        help="also the row of a perfect dynamics: the real next frames' ids, decoded as the dream's")
    parser.add_argument("--report", action="store_true",
                        help="allow test stores: the final report of models already chosen on validation")
    args = parser.parse_args()
    test_stores = [store for store in args.data if Path(store).name.startswith("test")]
    if test_stores and not args.report:
        parser.error(f"{', '.join(test_stores)} look like test stores: choose on validation stores; pass --report "
                     "only for the final report of a model already chosen")
    if args.threads:
        torch.set_num_threads(args.threads)
    protocol = EvalSettings(max_sequences=args.max_sequences)
    stores = {store: load_evaluation_data(store, protocol, split="all") for store in args.data}
    tokenizer = load_pretrained(args.tokenizer, expected_kind="tokenizer").float().eval()
    for dynamics_path in args.dynamics:
        dynamics = load_pretrained(dynamics_path, expected_kind="dynamics").float().eval()
        file_steps = world_model_steps(dynamics_path, args.tokenizer)
        for text in args.settings:
            settings = json.loads(text)
            world_model = WorldModel(tokenizer, dynamics, settings)
            steps = args.maskgit_steps if args.maskgit_steps is not None else settings.get("maskgit_steps", file_steps)
            sampling = world_model.dream_settings(maskgit_steps=steps)
            for store, (frames, actions) in stores.items():
                context = protocol.context_frames
                copy = sequence_psnr(np.repeat(frames[:, context - 1 : context], frames.shape[1] - context, axis=1),
                                     frames[:, context:])
                strata = motion_strata(frames[:, context - 1], frames[:, context:])
                runs = {str(Path(dynamics_path)): dream_frames(world_model, frames, actions, context, sampling,
                                                                args.batch_size, args.seed)}
                if args.ceiling:
                    runs["ceiling (the real next ids)"] = ceiling_frames(world_model, frames, context, sampling,
                                                                         args.batch_size)
                for name, predicted in runs.items():
                    model = sequence_psnr(predicted, frames[:, context:])
                    row = {"dynamics": name, "settings": settings, "data": store,
                           "maskgit_steps": sampling.maskgit_steps, **summary(model, copy, strata),
                           "changes": change_rates(predicted, frames, context, strata,
                                                   tokenizer.config.patch_size)}
                    if args.per_sequence:
                        row["sequence_psnr"] = [round(float(value), 3) for value in model]
                    print(json.dumps(row), flush=True)
                    if args.json:
                        with open(args.json, "a") as handle:
                            handle.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
