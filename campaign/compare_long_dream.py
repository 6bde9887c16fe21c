"""Paired comparison of two long-dream probes (``genie probe long-dream`` output, one ``seed N: ...`` line per run):
per seed, the candidate's dream scroll at the end of the run minus the reference's (the shipped model's,
``campaign/long_dream_shipped.txt``), its mean and standard error over the seeds both ran.

The gate's earlier check compared the mean scroll of the 6 runs that reach step 200 with a fixed number; three of
the eight runs never scroll in any model so far and the rest spread over 30-160 px, so that mean moves by ~10 px
between models that dream alike. Paired per seed, the same real runs and actions, the spread is far smaller.
The check fails when the candidate scrolls less than the reference by more than two standard errors.

    python campaign/compare_long_dream.py CANDIDATE.txt [--reference campaign/long_dream_shipped.txt]
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np

from genie_gym.summary import mean_and_se

SEED_LINE = re.compile(r"^seed (\d+): .*dream scroll (\d+) px, Mario in (\d+)% of the dreamed frames")


def per_seed(text: str) -> dict[int, tuple[int, int]]:
    """``{seed: (dream scroll px, Mario's share of dreamed frames in %)}`` from a long-dream probe's output."""
    runs = {}
    for line in text.splitlines():
        match = SEED_LINE.match(line)
        if match:
            runs[int(match[1])] = (int(match[2]), int(match[3]))
    return runs


def compare(candidate: str, reference: str) -> dict[str, float]:
    """Paired differences (candidate − reference) of scroll and Mario's visibility over the seeds both ran."""
    ours, theirs = per_seed(candidate), per_seed(reference)
    seeds = sorted(ours.keys() & theirs.keys())
    if len(seeds) < 2:
        raise SystemExit(f"the two probes share {len(seeds)} seed(s); run both with the same --seeds (at least 2)")
    scroll, scroll_se = mean_and_se([ours[s][0] - theirs[s][0] for s in seeds])
    mario, mario_se = mean_and_se([ours[s][1] - theirs[s][1] for s in seeds])
    return {"seeds": len(seeds), "scroll": float(np.mean([ours[s][0] for s in seeds])),
            "reference_scroll": float(np.mean([theirs[s][0] for s in seeds])),
            "scroll_diff": scroll, "scroll_diff_se": scroll_se, "mario_diff": mario, "mario_diff_se": mario_se}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("candidate", type=Path)
    parser.add_argument("--reference", type=Path, default=Path(__file__).parent / "long_dream_shipped.txt")
    args = parser.parse_args()
    r = compare(args.candidate.read_text(), args.reference.read_text())
    worse = r["scroll_diff"] + 2 * r["scroll_diff_se"] < 0
    print(f"long dream, {r['seeds']} seeds paired: scroll {r['scroll']:.0f} px (reference {r['reference_scroll']:.0f}),"
          f" difference {r['scroll_diff']:+.1f} ± {r['scroll_diff_se']:.1f} px; Mario in the dream"
          f" {r['mario_diff']:+.1f} ± {r['mario_diff_se']:.1f} points: "
          + ("FAILS (scrolls less by more than 2 standard errors)" if worse else "passes"))
    raise SystemExit(1 if worse else 0)


if __name__ == "__main__":
    main()
