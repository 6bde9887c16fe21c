"""examples/pretrain_finetune.sh (issue 32: pretrain on many platformers -> fine-tune on SMB 1-1, against from
scratch) runs end to end at toy size, prints its table and resumes.

Real components throughout: the real SMB and Atari emulators, real pretraining / fine-tuning / from-scratch runs,
packing and `genie eval` (`TINY=1`: one Atari pretraining game, two SMB levels, one or two short episodes per store,
two training steps, two test sequences per test set). One agent (random) for the training data: the script's loop
over AGENTS is the same for every agent, and each collection costs a process.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from examples import summarize_pretrain_finetune

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "pretrain_finetune.sh"

SETS = {"smb_1-1": "SMB 1-1 (held-out play)", "smb_levels": "SMB, 2 other start states (held-out play)",
        "held_out": "Kangaroo (left out of pretraining)"}
MODELS = ("finetuned", "scratch")


def run_script(out: Path, **extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TINY": "1", "OUT": str(out), "GENIE": f"{sys.executable} -m genie_gym.cli",
           "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "AGENTS": "random", **extra}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=900)


def episodes(store: Path) -> list[dict]:
    return [json.loads(meta.read_text()) for meta in sorted(store.glob("*/ep_*/meta.json"))]


def args_of(run: Path) -> dict:
    return json.loads((run / "args.json").read_text())["args"]


@pytest.mark.slow
def test_pretrain_finetune_runs_end_to_end_and_resumes(tmp_path):
    out = tmp_path / "pf"
    first = run_script(out)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    check_data(out / "data")
    check_trainings(out)
    check_summary(out, first.stdout)
    check_resume(out)


def check_data(data: Path) -> None:
    """Pretraining: SMB's other levels and the Atari game, never 1-1 nor the held-out game; fine-tuning: 1-1 only;
    the test sets: their own game / levels, and no collection seed used twice."""
    pretrain = episodes(data / "pretrain")
    assert {e["game"] for e in pretrain} == {"SMB", "Hero"}
    assert {e["state"] for e in pretrain if e["game"] == "SMB"} == {"Level2-1", "Level3-1"}
    finetune = episodes(data / "finetune")
    assert finetune and {(e["game"], e["state"], e["agent"]) for e in finetune} == {("SMB", "Level1-1", "random")}
    assert {(e["game"], e["state"]) for e in episodes(data / "test_smb_1-1")} == {("SMB", "Level1-1")}
    assert {e["state"] for e in episodes(data / "test_smb_levels")} <= {"Level2-1", "Level3-1"}
    assert {e["game"] for e in episodes(data / "test_held_out")} == {"Kangaroo"}
    seeds = {}
    for store in ("pretrain_smb_random", "pretrain_atari_random", "finetune_random", "test_smb_1-1",
                  "test_smb_levels", "test_held_out"):
        assert (data / f"{store}.done").is_file(), store
        seeds[store] = {e["seed"] for e in episodes(data / store)}
        assert len(seeds[store]) == 1, store
    assert len(set.union(*seeds.values())) == len(seeds)  # every store its own seed: no episode in two sets


def check_trainings(out: Path) -> None:
    """One pretraining on both games; the fine-tune starts from it; from scratch: the same steps, no --init."""
    for kind in ("tokenizer", "dynamics"):
        pretrained = args_of(out / f"{kind}_pretrained")
        assert pretrained["games"] == ["SMB,Hero"] and pretrained["data"] == str(out / "data" / "pretrain")
        finetuned, scratch = args_of(out / f"{kind}_finetuned"), args_of(out / f"{kind}_scratch")
        assert finetuned["init"] == str(out / f"{kind}_pretrained") and scratch["init"] is None
        for run in (finetuned, scratch):
            assert run["data"] == str(out / "data" / "finetune") and run["steps"] == 2 and run["seed"] == 0
        assert (finetuned["batch_size"], finetuned["window"]) == (scratch["batch_size"], scratch["window"])
    assert args_of(out / "tokenizer_finetuned")["decoder_only"]
    assert args_of(out / "dynamics_finetuned")["tokenizer"] == str(out / "tokenizer_finetuned")
    assert args_of(out / "dynamics_scratch")["tokenizer"] == str(out / "tokenizer_scratch")
    # both packed world models dream SMB
    for model in MODELS:
        assert json.loads((out / f"wm_{model}" / "dream.json").read_text())["game"] == "SMB"


def check_summary(out: Path, stdout: str) -> None:
    """Every test set, both models, the repeated frame and the paired difference, as the evaluations say."""
    summary = json.loads((out / "summary.json").read_text())["modes"]["single"]
    assert list(summary) == list(SETS)
    for name, label in SETS.items():
        row = summary[name]
        evals = {m: json.loads((out / "eval" / f"{m}_{name}_single.json").read_text()) for m in MODELS}
        assert row["label"] == label and row["sequences"] == 2
        for model in MODELS:
            assert row[model]["psnr"] == evals[model]["psnr"] and math.isfinite(row[model]["psnr_se"])
        assert row["repeated_frame_psnr"] == evals["finetuned"]["copy_psnr"] == evals["scratch"]["copy_psnr"]
        differences = [a - b for a, b in zip(evals["finetuned"]["psnr_per_sequence"],
                                             evals["scratch"]["psnr_per_sequence"], strict=True)]
        paired = row["finetuned_minus_scratch"]
        assert paired["n"] == 2 and paired["mean"] == pytest.approx(sum(differences) / 2)
        assert paired["se"] == pytest.approx(abs(differences[0] - differences[1]) / 2)
        line = next(line for line in stdout.splitlines() if line.startswith(f"| {label} |"))
        assert f"{row['finetuned']['psnr']:.2f} ± " in line and f"{row['scratch']['psnr']:.2f} ± " in line
        assert f"| {row['repeated_frame_psnr']:.2f} |" in line and line.endswith(f"{paired['se']:.2f} |")
    assert "| test set | sequences | pretrained → fine-tuned | from scratch | repeated frame |" in stdout
    assert (out / "summary.md").read_text() in stdout


def check_resume(out: Path) -> None:
    """A rerun redoes only what is missing (here one evaluation) and rewrites nothing else; other sizes: an error."""
    missing = out / "eval" / "scratch_held_out_single.json"
    missing.unlink()
    outputs = sorted(p for p in out.rglob("*") if p.is_file() and p.name not in ("summary.md", "summary.json")
                     and p != missing.with_suffix(".log"))
    written = {p: p.stat().st_mtime_ns for p in outputs}
    again = run_script(out)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "skip (done)" in again.stdout
    redone = [line for line in again.stdout.splitlines() if line.startswith("[") and "skip (done)" not in line]
    assert len(redone) == 1 and "wm_scratch on held_out (single)" in redone[0], redone
    assert missing.is_file()
    assert {p: p.stat().st_mtime_ns for p in outputs} == written

    other = run_script(out, MAX_STEPS="40")
    assert other.returncode == 2 and "other sizes" in other.stderr and "MAX_STEPS=40" in other.stderr


def test_summary_pairs_the_two_models_per_sequence(tmp_path):
    """The paired difference and its standard error, by hand; unequal sequences or a missing file: a clear error."""
    (tmp_path / "eval").mkdir()
    per_sequence = {"finetuned": [20.0, 22.0, 24.0], "scratch": [19.0, 22.0, 22.0]}  # differences 1, 0, 2
    for model, values in per_sequence.items():
        record = {"psnr": sum(values) / 3, "psnr_se": 1.0, "copy_psnr": 25.0, "num_sequences": 3,
                  "psnr_per_sequence": values}
        (tmp_path / "eval" / f"{model}_a_single.json").write_text(json.dumps(record))
    summary = summarize_pretrain_finetune.summarize(tmp_path, [("a", "set A")], ["single"])
    paired = summary["modes"]["single"]["a"]["finetuned_minus_scratch"]
    assert paired["mean"] == pytest.approx(1.0) and paired["se"] == pytest.approx(1 / math.sqrt(3))
    row = "| set A | 3 | 22.00 ± 1.00 | 21.00 ± 1.00 | 25.00 | +1.00 ± 0.58 |"
    assert row in (tmp_path / "summary.md").read_text()

    record = json.loads((tmp_path / "eval" / "scratch_a_single.json").read_text())
    record["psnr_per_sequence"] = [19.0, 22.0]
    (tmp_path / "eval" / "scratch_a_single.json").write_text(json.dumps(record))
    assert summarize_pretrain_finetune.main([str(tmp_path), "--set", "a", "A"]) == 2
    assert summarize_pretrain_finetune.main([str(tmp_path), "--set", "b", "B"]) == 2
