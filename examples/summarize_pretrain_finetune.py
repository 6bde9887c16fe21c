"""The summary of ``examples/pretrain_finetune.sh``: pretrained + fine-tuned against from scratch, per test set.

``summarize_pretrain_finetune.py OUT --set NAME LABEL [--set ...] [--modes single ...]`` reads the evaluation JSONs
``OUT/eval/<model>_<NAME>_<mode>.json`` (``model``: ``finetuned``, ``scratch``; written by ``genie eval --json``)
and prints one markdown table per mode (also written to ``OUT/summary.md``; the numbers to ``OUT/summary.json``):
per test set, the number of sequences, each model's PSNR +- its standard error over sequences, the repeated last
context frame's PSNR on the same sequences, and the fine-tuned - scratch PSNR difference paired per sequence
(``psnr_per_sequence``: both models were evaluated on the same sequences with the same seed) +- its standard error.
The standard errors treat the sequences as independent (sequences cut from one episode are not quite): read them as
a lower bound of the uncertainty.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from genie_gym.summary import mean_and_se, run_script, write_summary

MODELS = (("finetuned", "pretrained → fine-tuned"), ("scratch", "from scratch"))


def fmt(mean: float | None, se: float | None = None, sign: bool = False) -> str:
    if mean is None or not math.isfinite(mean):
        return "-"
    text = f"{mean:+.2f}" if sign else f"{mean:.2f}"
    return text if se is None else f"{text} ± {se:.2f}"


def read_eval(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run examples/pretrain_finetune.sh to the end first")
    return json.loads(path.read_text())


def paired(a: dict, b: dict, where: str) -> dict:
    """The per-sequence PSNR difference ``a - b``: mean, standard error, number of sequences."""
    first, second = a.get("psnr_per_sequence") or [], b.get("psnr_per_sequence") or []
    if len(first) != len(second):
        raise ValueError(f"{where}: the two models were evaluated on {len(first)} and {len(second)} sequences; "
                         "a paired difference needs the same sequences (same test store, --max-sequences, --seed)")
    mean, se = mean_and_se([x - y for x, y in zip(first, second, strict=True)])
    return {"mean": mean if first else None, "se": se, "n": len(first)}


def summarize(out: Path, sets: list[tuple[str, str]], modes: list[str]) -> dict:
    """Read the evaluations, print and write the tables; returns what ``OUT/summary.json`` holds."""
    result: dict = {"modes": {}}
    lines = ["# Pretrained on many platformers, fine-tuned on SMB 1-1, against from scratch on SMB 1-1", ""]
    for mode in modes:
        lines += [f"## {mode} (PSNR in dB, ± standard error over sequences)", "",
                  "| test set | sequences | " + " | ".join(name for _, name in MODELS)
                  + " | repeated frame | fine-tuned − scratch (paired) |", "|---" * 6 + "|"]
        rows = {}
        for name, label in sets:
            evals = {model: read_eval(out / "eval" / f"{model}_{name}_{mode}.json") for model, _ in MODELS}
            finetuned, scratch = evals["finetuned"], evals["scratch"]
            if finetuned.get("num_sequences") != scratch.get("num_sequences"):
                raise ValueError(f"{name} ({mode}): the models saw {finetuned.get('num_sequences')} and "
                                 f"{scratch.get('num_sequences')} sequences")
            difference = paired(finetuned, scratch, f"{name} ({mode})")
            row = {"label": label, "sequences": finetuned.get("num_sequences"),
                   **{model: {"psnr": evals[model]["psnr"], "psnr_se": evals[model].get("psnr_se"),
                              "gain_over_copy": evals[model].get("psnr_gain_over_copy"),
                              "gain_over_copy_se": evals[model].get("psnr_gain_over_copy_se")}
                      for model, _ in MODELS},
                   "repeated_frame_psnr": finetuned.get("copy_psnr"), "finetuned_minus_scratch": difference}
            rows[name] = row
            lines.append(f"| {label} | {row['sequences']} | "
                         + " | ".join(fmt(row[model]["psnr"], row[model]["psnr_se"]) for model, _ in MODELS)
                         + f" | {fmt(row['repeated_frame_psnr'])} | "
                         f"{fmt(difference['mean'], difference['se'], sign=True)} |")
        lines.append("")
        result["modes"][mode] = rows
    markdown = "\n".join(lines)
    write_summary(out, markdown, result)
    return result



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the experiment directory (OUT of pretrain_finetune.sh)")
    parser.add_argument("--set", dest="sets", nargs=2, action="append", required=True, metavar=("NAME", "LABEL"),
                        help="a test set: its name in the evaluation files and its row label (repeatable, in order)")
    parser.add_argument("--modes", nargs="+", default=["single"], choices=["single", "autoregressive"])
    args = parser.parse_args(argv)
    return run_script("summarize_pretrain_finetune.py",
                      lambda: summarize(args.out, [tuple(s) for s in args.sets], args.modes))


if __name__ == "__main__":
    sys.exit(main())
