"""Helpers of ``examples/exploration_finetune.sh`` (the paper's Table 5): equal training frames, and the summary.

``equal-frames --out RUN STORE...``: for every ``RUN/.../data_<source>`` store, write ``RUN/train_<source>``, a copy
whose train split holds exactly as many frames as the smallest train split among the stores (or ``--frames N``):
train episodes are kept in index order and the last one is cut. Validation episodes are copied unchanged under the
same indices, so the train / validation split of the copy is the source's (the trainers read the train split only).
Writes ``RUN/frames.json`` (what each source collected and kept) last, as the step's marker.

``summary OUT --seeds S... --sources SRC... --modes MODE...``: reads the evaluation JSONs the script wrote and prints
markdown tables (also written to ``OUT/summary.md``, the numbers to ``OUT/summary.json``):
- the test set, per mode: per source the mean over seeds +- standard error over seeds (n-1), and the base model;
- the paired differences against random data of the same seed: mean over seeds +- standard error over seeds, and
  the PSNR difference paired per test sequence (the same sequences for every model), pooled over seeds, +- its
  standard error;
- the Tab. 6 direction: the base model on each source's own episodes, and the frames each source trained on.
A standard error needs two values: with one seed the seed columns say ``n/a``.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
from pathlib import Path

from genie_gym.summary import mean_and_se, run_script, write_summary

METRICS = (("psnr", "PSNR"), ("ssim", "SSIM"), ("delta_psnr", "ΔPSNR"), ("fid", "FID"),
           ("psnr_gain_over_copy", "gain over copy"))
"""The eval JSON keys of the tables, and their column names (higher is better, except FID)."""
NAMES = {"random": "random", "autoexplore": "AutoExplore", "rf": "RF (on the world model)",
         "vae": "VAE (on the world model)"}


def source_name(store: Path) -> str:
    if not store.name.startswith("data_"):
        raise ValueError(f"{store}: expected a store named data_<source>")
    return store.name[len("data_"):]


def equal_frames(out: Path, stores: list[Path], frames: int | None = None) -> dict:
    """Write ``out/train_<source>`` for every store, each with a train split of the same number of frames."""
    import numpy as np

    from genie_gym.data.store import EpisodeStore, load_episode, read_meta, write_episode

    splits = {}
    for store in stores:
        if not store.is_dir():
            raise FileNotFoundError(f"{store} is not an episode store (collect it first)")
        episodes = EpisodeStore(store)
        train = episodes.refs(split="train")
        if not train:
            raise ValueError(f"{store} has no train episodes (collect at least 2 episodes: the first is validation)")
        splits[source_name(store)] = (episodes, train, episodes.refs(split="val"))
    lengths = {name: sum(int(read_meta(ref.meta_path)["length"]) for ref in train)
               for name, (_, train, _) in splits.items()}
    target = min(lengths.values()) if frames is None else frames
    if target > min(lengths.values()):
        short = {name: n for name, n in lengths.items() if n < target}
        raise ValueError(f"--frames {target}: these stores have fewer train frames: {short}; collect more episodes")
    report = {"frames": target, "sources": {}}
    for name, (_, train, val) in splits.items():
        final, tmp = out / f"train_{name}", out / f"train_{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        kept, left = [], target
        for ref in train:
            if left == 0:
                break
            episode = load_episode(ref)
            meta = read_meta(ref.meta_path)
            cut = min(left, len(episode.frames))
            if cut < len(episode.frames):
                meta.update(terminated=False, truncated=True, cut_from_length=len(episode.frames))
            write_episode(tmp, ref.game, ref.index, np.asarray(episode.frames[:cut]),
                          np.asarray(episode.actions[: cut - 1]), meta)
            kept.append(cut)
            left -= cut
        for ref in val:  # unchanged: keeps the copy's split the source's
            episode = load_episode(ref)
            write_episode(tmp, ref.game, ref.index, np.asarray(episode.frames), np.asarray(episode.actions),
                          read_meta(ref.meta_path))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        report["sources"][name] = {"collected_train_frames": lengths[name], "train_frames": sum(kept),
                                   "train_episodes": len(kept), "collected_train_episodes": len(train)}
    (out / "frames.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"train frames per source: {target} ({', '.join(f'{k}: {v} collected' for k, v in lengths.items())})")
    return report


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run examples/exploration_finetune.sh (it resumes) first")
    return json.loads(path.read_text())


def fmt(value: float | None, se: float | None = None, digits: int = 2, sign: bool = False) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    text = f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
    return text + (" ± n/a" if se is None else f" ± {se:.{digits}f}")


def digits_of(key: str) -> int:
    return 3 if key == "ssim" else 2


def summarize(out: Path, seeds: list[str], sources: list[str], modes: list[str]) -> dict:
    """The summary's numbers (``summary.json``) and its markdown (``summary.md``), read from the eval JSONs."""
    if "random" not in sources:
        raise ValueError("the summary pairs every source with random data: --sources must include random")
    result: dict = {"seeds": seeds, "sources": sources, "modes": {}, "base_on_own_episodes": {}, "frames": {}}
    lines = [f"# Exploration-driven fine-tuning ({out}): {len(seeds)} seed(s) {' '.join(seeds)}", ""]
    for mode in modes:
        base = read_json(out / f"eval_base_{mode}.json")
        evals = {s: [read_json(out / f"seed_{seed}" / f"eval_{s}_{mode}.json") for seed in seeds] for s in sources}
        sequences = evals["random"][0]["num_sequences"]
        table: dict = {"base": {key: base.get(key) for key, _ in METRICS}, "sources": {}, "vs_random": {}}
        table["copy_psnr"] = base.get("copy_psnr")
        lines += [f"## Test set, {mode} ({sequences} sequences; the repeated last frame: "
                  f"{fmt(base.get('copy_psnr'), digits=2).split(' ±')[0]} dB)", "",
                  "Mean over seeds ± standard error over seeds.", "",
                  "| model | " + " | ".join(name for _, name in METRICS) + " |",
                  "|---" * (len(METRICS) + 1) + "|",
                  "| base (no fine-tune) | " + " | ".join(
                      fmt(base.get(k), digits=digits_of(k)).split(" ±")[0] for k, _ in METRICS) + " |"]
        for source in sources:
            row = {}
            for key, _ in METRICS:
                mean, se = mean_and_se([e.get(key) for e in evals[source]])
                row[key] = {"mean": mean, "se": se, "n": len(seeds)}
            table["sources"][source] = row
            lines.append(f"| fine-tuned on {NAMES[source]} | " + " | ".join(
                fmt(row[k]["mean"], row[k]["se"], digits_of(k)) for k, _ in METRICS) + " |")
        lines += ["", f"Paired differences against random data of the same seed ({mode}): mean over seeds ± "
                  "standard error over seeds; last column: PSNR paired per test sequence, pooled over seeds.", "",
                  "| data | " + " | ".join(f"{name} − random" for _, name in METRICS) + " | PSNR − random, per "
                  "sequence |", "|---" * (len(METRICS) + 2) + "|"]
        for source in sources:
            if source == "random":
                continue
            row = {}
            for key, _ in METRICS:
                pairs = [(a.get(key), b.get(key)) for a, b in zip(evals[source], evals["random"], strict=True)]
                mean, se = mean_and_se([a - b for a, b in pairs if a is not None and b is not None])
                row[key] = {"mean": mean, "se": se, "n": len(pairs)}
            per_sequence = [x - y for a, b in zip(evals[source], evals["random"], strict=True)
                            for x, y in zip(a["psnr_per_sequence"], b["psnr_per_sequence"], strict=True)]
            mean, se = mean_and_se(per_sequence)
            row["psnr_per_sequence"] = {"mean": mean, "se": se, "n": len(per_sequence)}
            table["vs_random"][source] = row
            lines.append(f"| {NAMES[source]} | " + " | ".join(
                fmt(row[k]["mean"], row[k]["se"], digits_of(k), sign=True) for k, _ in METRICS)
                + f" | {fmt(mean, se, sign=True)} (n {len(per_sequence)}) |")
        lines.append("")
        result["modes"][mode] = table
    lines += ["## The base model on each source's own episodes (Tab. 6 direction: lower = more of what it gets "
              "wrong)", "", "| data | PSNR | SSIM | ΔPSNR | train frames (kept / collected, per seed) |",
              "|---|---|---|---|---|"]
    for source in sources:
        evals = [read_json(out / f"seed_{seed}" / f"base_on_{source}.json") for seed in seeds]
        row = {key: dict(zip(("mean", "se"), mean_and_se([e.get(key) for e in evals]), strict=True))
               for key in ("psnr", "ssim", "delta_psnr")}
        frames = [read_json(out / f"seed_{seed}" / "frames.json")["sources"][source] for seed in seeds]
        result["base_on_own_episodes"][source] = row
        result["frames"][source] = frames
        kept = ", ".join(f"{f['train_frames']} / {f['collected_train_frames']}" for f in frames)
        lines.append(f"| {NAMES[source]} | {fmt(row['psnr']['mean'], row['psnr']['se'])} | "
                     f"{fmt(row['ssim']['mean'], row['ssim']['se'], 3)} | "
                     f"{fmt(row['delta_psnr']['mean'], row['delta_psnr']['se'])} | {kept} |")
    markdown = "\n".join(lines) + "\n"
    write_summary(out, markdown, result)
    return result



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    equal = commands.add_parser("equal-frames", help="cut the stores' train splits to the same number of frames")
    equal.add_argument("--out", required=True, type=Path, help="directory of the train_<source> copies")
    equal.add_argument("--frames", type=int, default=None, help="train frames per source (default: the smallest)")
    equal.add_argument("stores", nargs="+", type=Path, help="data_<source> episode stores")
    summary = commands.add_parser("summary", help="the markdown tables of an experiment directory")
    summary.add_argument("out", type=Path)
    summary.add_argument("--seeds", nargs="+", required=True)
    summary.add_argument("--sources", nargs="+", required=True, choices=sorted(NAMES))
    summary.add_argument("--modes", nargs="+", default=["single", "autoregressive"],
                         choices=["single", "autoregressive"])
    args = parser.parse_args(argv)
    if args.command == "equal-frames":
        return run_script("summarize_finetune.py", lambda: equal_frames(args.out, args.stores, args.frames))
    return run_script("summarize_finetune.py", lambda: summarize(args.out, args.seeds, args.sources, args.modes))


if __name__ == "__main__":
    sys.exit(main())
