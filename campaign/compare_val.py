"""Paired comparison of dream candidates on the validation stores, from ``evals/dream_val.py --per-sequence``.

Every candidate in one ``dream_val.py`` run sees the same sequences with the same sampling noise, so the difference
of two candidates is best judged per sequence: its mean and standard error are far tighter than the gap between two
means each with its own spread over sequences. Prints, per store, each candidate's gain over the repeated frame and
its paired difference from the first candidate (the reference, e.g. the shipped dynamics).

    python campaign/compare_val.py runs/eval_s32/dream_val.jsonl [--reference checkpoints/genie-redux-g-smb/dynamics]
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np

from genie_gym.summary import mean_and_se


def compare(rows: list[dict], reference: str | None = None) -> dict[str, list[tuple[dict, float, float]]]:
    """Per store, each row with ``sequence_psnr`` and its paired difference from the reference row of that store
    (``reference``: a dynamics path; default the store's first row): ``{store: [(row, mean, se), ...]}``."""
    rows = [row for row in rows if "sequence_psnr" in row]
    if not rows:
        raise SystemExit("no per-sequence rows: run evals/dream_val.py with --per-sequence")
    by_store: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        by_store[row["data"]].append(row)
    result = {}
    for store, candidates in by_store.items():
        reference_path = reference or candidates[0]["dynamics"]
        base_row = next((row for row in candidates if row["dynamics"] == reference_path), None)
        if base_row is None:
            raise SystemExit(f"no row of {reference_path} for {store}")
        base = np.asarray(base_row["sequence_psnr"])
        result[store] = []
        for row in candidates:
            ours = np.asarray(row["sequence_psnr"])
            if len(ours) != len(base):
                raise SystemExit(f"{row['dynamics']}: {len(ours)} sequences of {store}, the reference {len(base)}")
            result[store].append((row, *mean_and_se(ours - base)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="JSON lines of dream_val.py --per-sequence")
    parser.add_argument("--reference", default=None, help="dynamics path of the reference (default: the first row's)")
    args = parser.parse_args()
    rows = [json.loads(line) for line in open(args.results) if line.strip()]
    for store, compared in compare(rows, args.reference).items():
        print(f"{store} ({len(compared[0][0]['sequence_psnr'])} sequences; difference paired against "
              f"{args.reference or compared[0][0]['dynamics']})")
        for row, difference, se in compared:
            print(f"  {row['dynamics']:<60} {json.dumps(row['settings']):<45} gain over repeated frame "
                  f"{row['gain']:+.2f} +- {row['gain_se']:.2f}   vs reference {difference:+.2f} +- "
                  f"{'n/a' if se is None else f'{se:.2f}'} dB")


if __name__ == "__main__":
    main()
