"""examples/exploration_finetune.sh (the paper's Table 5) runs end to end at toy size and resumes.

Real components throughout: the real SMB emulator, the shipped world model as the base, the paper agent trained on
its uncertainty / RF / VAE rewards, real fine-tunes and evaluations (`TINY=1`, smaller still: one rollout of 8
agent steps, two short episodes per source, one fine-tune step, two test sequences per episode).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from examples import summarize_finetune

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "exploration_finetune.sh"
BASE = (ROOT / "checkpoints" / "genie-redux-g-smb").resolve()

# random and AutoExplore only: each explorer costs ~10 genie processes; the RF and VAE rewards on top of the world
# model have their own tests (tests/test_curiosity_wm.py) and run through the same script steps as AutoExplore.
SOURCES = ("random", "autoexplore")
MODES = ("single", "autoregressive")


# below TINY's sizes, to save CPU: one real-game env per agent and one rollout of it, one fine-tune step per model,
# collection in the collecting process (WORKERS 0: no subprocess that loads the policy again)
SMALLER = {"AGENT_ENVS": "1", "AGENT_TIMESTEPS": "8", "TEST_AGENT_TIMESTEPS": "8", "AGENT_BATCH": "8",
           "TOKENIZER_STEPS": "1", "DYNAMICS_STEPS": "1", "WORKERS": "0"}


def run_script(out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "TINY": "1", "OUT": str(out), "GENIE": f"{sys.executable} -m genie_gym.cli",
           "PYTHON": sys.executable, "OMP_NUM_THREADS": "1", "SOURCES": " ".join(SOURCES), **SMALLER}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=1500)


@pytest.mark.slow
def test_exploration_finetune_runs_end_to_end_and_resumes(tmp_path):
    out = tmp_path / "ft"
    first = run_script(out)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    check_outputs(out, first.stdout)
    check_resume(out)


def check_outputs(out: Path, stdout: str) -> None:
    """What a finished toy run left in ``out`` (one seed), and the summary it printed."""
    run = out / "seed_1"

    # the test set: the game-reward agent, played with epsilon-random actions
    test_agent = json.loads((out / "test_agent" / "result.json").read_text())
    assert test_agent["settings"]["reward"] == "game" and test_agent["settings"]["epsilon"] == 0.1
    assert (out / "test.done").is_file()
    for source in SOURCES:
        if source != "random":  # every explorer is the paper agent, with its own reward, on the base world model
            settings = json.loads((run / f"agent_{source}" / "result.json").read_text())["settings"]
            assert settings["agent"] == "paper"
            assert settings["reward"] == {"autoexplore": "uncertainty"}.get(source, source)
            assert settings["world_model"] == str(BASE)
        # fine-tuned from the base model with its dream settings
        assert json.loads((run / f"wm_{source}" / "dream.json").read_text()) == json.loads(
            (BASE / "dream.json").read_text())
        tokenizer = json.loads((run / f"tokenizer_{source}" / "args.json").read_text())["args"]
        assert tokenizer["decoder_only"] and tokenizer["init"] == str(BASE / "tokenizer")
        dynamics = json.loads((run / f"dynamics_{source}" / "args.json").read_text())["args"]
        assert dynamics["init"] == str(BASE / "dynamics") and dynamics["data"] == str(run / f"train_{source}")
        assert dynamics["tokenizer"] == str(run / f"tokenizer_{source}")
        assert (tokenizer["steps"], dynamics["steps"]) == (1, 1)
    # the same number of training frames for every source
    frames = json.loads((run / "frames.json").read_text())
    assert {s["train_frames"] for s in frames["sources"].values()} == {frames["frames"]} and frames["frames"] > 0

    summary = json.loads((out / "summary.json").read_text())
    for mode in MODES:
        table = summary["modes"][mode]
        for source in SOURCES:
            for key in ("psnr", "ssim", "delta_psnr", "psnr_gain_over_copy"):
                assert math.isfinite(table["sources"][source][key]["mean"]), (mode, source, key)
        for source in SOURCES[1:]:
            paired = table["vs_random"][source]["psnr_per_sequence"]
            assert math.isfinite(paired["mean"]) and math.isfinite(paired["se"]) and paired["n"] >= 2
            evaluation = json.loads((run / f"eval_{source}_{mode}.json").read_text())
            assert evaluation["settings"]["mode"] == mode
            assert table["vs_random"][source]["psnr"]["mean"] == pytest.approx(
                evaluation["psnr"] - json.loads((run / f"eval_random_{mode}.json").read_text())["psnr"])
    for source in SOURCES:
        assert math.isfinite(summary["base_on_own_episodes"][source]["psnr"]["mean"])
    markdown = (out / "summary.md").read_text()
    assert markdown in stdout
    for name in ("fine-tuned on random", "fine-tuned on AutoExplore"):
        assert sum(line.startswith(f"| {name}") for line in markdown.splitlines()) == len(MODES), name



def check_resume(out: Path) -> None:
    """A rerun skips every step and rewrites nothing; with one evaluation removed, it redoes that one alone."""
    run = out / "seed_1"
    outputs = sorted(p for p in out.rglob("*") if p.is_file() and p.name not in ("summary.md", "summary.json"))
    written = {p: p.stat().st_mtime_ns for p in outputs}
    again = run_script(out)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "skip (done)" in again.stdout
    assert not [line for line in again.stdout.splitlines()
                if line.startswith("[") and "skip (done)" not in line], again.stdout[-3000:]
    assert {p: p.stat().st_mtime_ns for p in outputs} == written

    (run / "eval_autoexplore_autoregressive.json").unlink()
    third = run_script(out)
    assert third.returncode == 0, third.stderr[-3000:]
    redone = [line for line in third.stdout.splitlines() if line.startswith("[") and "skip (done)" not in line]
    assert len(redone) == 1 and "wm_autoexplore" in redone[0] and "(autoregressive)" in redone[0], redone


def test_equal_frames_cuts_every_train_split_to_the_smallest(tmp_path, smb_store):
    """The stores' train splits are cut to the same frames; validation episodes and the split stay as they were."""
    import shutil

    from genie_gym.data.store import EpisodeStore, load_episode

    short = tmp_path / "data_rf"
    shutil.copytree(smb_store, tmp_path / "data_random")
    shutil.copytree(smb_store, short)
    last = EpisodeStore(short).refs(split="train")[-1]
    shutil.rmtree(last.path)  # one train episode fewer: the smallest train split
    train_frames = sum(len(load_episode(r).frames) for r in EpisodeStore(short).refs(split="train"))

    report = summarize_finetune.equal_frames(tmp_path, [tmp_path / "data_random", short])
    assert report["frames"] == train_frames
    for source in ("random", "rf"):
        copy, original = EpisodeStore(tmp_path / f"train_{source}"), EpisodeStore(tmp_path / f"data_{source}")
        assert sum(len(load_episode(r).frames) for r in copy.refs(split="train")) == train_frames
        assert [r.index for r in copy.refs(split="val")] == [r.index for r in original.refs(split="val")]
        for ref in copy.refs():  # every frame and action is the source's, from the episode's start
            episode, source_episode = load_episode(ref), load_episode(original.ref(ref.game, ref.index))
            assert (episode.frames == source_episode.frames[: len(episode.frames)]).all()
            assert (episode.actions == source_episode.actions[: len(episode.actions)]).all()
    assert summarize_finetune.main(["equal-frames", "--frames", str(10**6), "--out", str(tmp_path / "x"),
                                    str(short)]) == 2  # more frames than collected: a clear error, no crash


def test_summary_pairs_each_source_with_random_data_of_the_same_seed(tmp_path):
    """Mean over seeds +- standard error of the per-seed differences, computed by hand."""
    psnr = {"random": [30.0, 31.0, 29.0], "autoexplore": [31.0, 31.5, 30.5]}
    for seed_index, seed in enumerate(("1", "2", "3")):
        run = tmp_path / f"seed_{seed}"
        run.mkdir()
        (run / "frames.json").write_text(json.dumps({"frames": 10, "sources": {
            s: {"train_frames": 10, "collected_train_frames": 12} for s in psnr}}))
        for source, values in psnr.items():
            value = values[seed_index]
            record = {"psnr": value, "ssim": 0.9, "delta_psnr": 1.0, "fid": None, "psnr_gain_over_copy": value - 29,
                      "num_sequences": 2, "psnr_per_sequence": [value - 1, value + 1]}
            (run / f"eval_{source}_single.json").write_text(json.dumps(record))
            (run / f"base_on_{source}.json").write_text(json.dumps(record))
    (tmp_path / "eval_base_single.json").write_text(json.dumps({"psnr": 29.0, "copy_psnr": 28.0}))

    summary = summarize_finetune.summarize(tmp_path, ["1", "2", "3"], list(psnr), ["single"])
    paired = summary["modes"]["single"]["vs_random"]["autoexplore"]["psnr"]
    differences = [1.0, 0.5, 1.5]  # mean 1.0, sample std 0.5
    assert paired["mean"] == pytest.approx(1.0) and paired["se"] == pytest.approx(0.5 / math.sqrt(3))
    assert summary["modes"]["single"]["vs_random"]["autoexplore"]["psnr_per_sequence"]["n"] == 6
    assert summary["modes"]["single"]["sources"]["random"]["psnr"]["mean"] == pytest.approx(30.0)
    assert sum(differences) / 3 == pytest.approx(paired["mean"])
    assert "| AutoExplore | +1.00 ± 0.29" in (tmp_path / "summary.md").read_text()
