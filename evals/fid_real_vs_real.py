"""A scale for ``genie eval``'s FID: real frames against *other* real frames of the same held-out episodes.

``genie eval --max-sequences 40`` compares 400 predicted frames (40 sequences x 10) with their own 400 ground-truth
frames: a model that reproduced the ground truth would score 0. At 400 frames FID is also biased upwards, and what
a given number means is hard to read. This prints the FID of the evaluation's 400 ground-truth frames (the same
evenly spaced windows ``genie eval`` picks) against ``--repeats`` disjoint sets of as many *other* real windows of
the same episodes: what a model would score whose frames are real-looking but of the wrong moments.

    python evals/fid_real_vs_real.py --data data/smb_test --weights .cache/fid/default_1.pt   # make fid-weights
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from genie_gym.evaluation import EvalSettings, load_evaluation_data
from genie_gym.fid import frechet_distance, inception_features, load_fid_inception


def disjoint_windows(total: int, count: int, repeats: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """``(evaluated, others)``: the ``count`` evenly spaced window indices ``genie eval`` uses out of ``total``, and
    ``repeats`` further sets of ``count`` indices, each evenly spaced over the windows not evaluated, no two sharing
    an index."""
    evaluated = np.linspace(0, total - 1, count).round().astype(int)
    rest = np.setdiff1d(np.arange(total), evaluated)
    if len(rest) < count * repeats:
        raise SystemExit(f"only {total} windows: not enough for {repeats} other sets of {count}; "
                         "lower --repeats or --sequences")
    others = [rest[np.arange(count) * (len(rest) // count) + offset] for offset in range(repeats)]
    return evaluated, others


def main() -> None:
    """Parse the arguments and print the FIDs."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="held-out episode store (all of it is used, as --split all)")
    parser.add_argument("--weights", required=True, help="FID Inception-v3 weights file (see genie_gym/fid.py)")
    parser.add_argument("--sequences", type=int, default=40, help="sequences per set, as genie eval --max-sequences")
    parser.add_argument("--repeats", type=int, default=3, help="other sets to compare with (default 3)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers here")
    args = parser.parse_args()
    settings = EvalSettings()
    frames, _ = load_evaluation_data(args.data, settings, split="all")
    evaluated, others = disjoint_windows(len(frames), args.sequences, args.repeats)
    context = settings.context_frames
    inception = load_fid_inception(args.weights)

    def features(indices: np.ndarray) -> np.ndarray:
        return inception_features(inception, frames[indices, context:].reshape(-1, *frames.shape[2:]))

    reference = features(evaluated)
    values = [frechet_distance(reference, features(indices)) for indices in others]
    n = args.sequences * settings.predicted_frames
    print(f"{args.data}: {len(frames)} windows; FID of the {n} frames genie eval scores against {n} other real "
          f"frames of the same episodes ({args.repeats} disjoint sets): "
          + ", ".join(f"{value:.2f}" for value in values) + f"; mean {np.mean(values):.2f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({"data": args.data, "frames_per_set": n, "windows": len(frames), "fid_real_vs_real": values},
                      handle, indent=2)


if __name__ == "__main__":
    main()
