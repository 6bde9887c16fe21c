"""The example scripts a user copies run end to end (shipped world model, real SMB emulator, tiny budgets)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TINY_PPO = ["--num-dreams", "2", "--n-steps", "16", "--episode-steps", "8", "--eval-episodes", "1",
            "--eval-steps", "60"]


def run_example(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(EXAMPLES / "ppo_in_dream.py"), *args], capture_output=True, text=True,
                          timeout=600)


def test_ppo_in_dream_trains_saves_and_reevaluates_the_same_policy(tmp_path):
    out = tmp_path / "ppo"
    trained = run_example("--timesteps", "32", "--out", str(out), *TINY_PPO)
    assert trained.returncode == 0, trained.stderr[-2000:]
    first = json.loads((out / "result.json").read_text())
    assert (out / "policy.safetensors").stat().st_size > 100_000  # the CNN's weights
    assert first["dream_episode_reward"] and all(r > 0 for r in first["dream_episode_reward"])
    for name in ("ppo_in_dream", "random"):
        runs = first[name]["furthest_camera_x"]
        assert len(runs) == 1 and runs[0] is not None and runs[0] >= 0  # SMB's camera read from the emulator's RAM
        assert 0 < first[name]["mean_uncertainty_along_run"] <= 1

    again = run_example("--evaluate", str(out), "--out", str(tmp_path / "again"), *TINY_PPO)
    assert again.returncode == 0, again.stderr[-2000:]
    second = json.loads((tmp_path / "again" / "result.json").read_text())
    # the policy read back from safetensors plays the same real-game run as the one just trained
    assert second["ppo_in_dream"] == first["ppo_in_dream"]
    assert second["dream_episode_reward"] == first["dream_episode_reward"]


def test_ppo_in_dream_evaluate_without_a_policy_says_what_to_do(tmp_path):
    missing = run_example("--evaluate", str(tmp_path / "nothing"), "--out", str(tmp_path / "out"), *TINY_PPO)
    assert missing.returncode != 0
    assert "policy.safetensors not found" in missing.stderr and "train first" in missing.stderr


@pytest.mark.parametrize("corrupt", [b"", b"not a safetensors file"])
def test_ppo_in_dream_evaluate_rejects_a_corrupt_policy(tmp_path, corrupt):
    out = tmp_path / "ppo"
    out.mkdir()
    (out / "policy.safetensors").write_bytes(corrupt)
    broken = run_example("--evaluate", str(out), "--out", str(out), *TINY_PPO)
    assert broken.returncode != 0
    assert "policy.safetensors" in broken.stderr


def test_the_shipped_dream_policy_goes_further_in_the_real_game_than_random(tmp_path):
    shipped = Path(__file__).resolve().parent.parent / "checkpoints" / "ppo-in-dream-smb"
    out = tmp_path / "eval"
    evaluated = run_example("--evaluate", str(shipped), "--out", str(out), "--eval-episodes", "2", "--eval-steps",
                            "150")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    result = json.loads((out / "result.json").read_text())
    trained, random = result["ppo_in_dream"]["mean_furthest_camera_x"], result["random"]["mean_furthest_camera_x"]
    # measured: 376 px against 22 (2 runs of 150 steps); trained only on the dream's uncertainty, never on the game
    assert trained > 150 and trained > 3 * random, (trained, random)


def test_collect_and_train_runs_end_to_end_and_resumes(tmp_path):
    # one training step per model, and collection in the collecting process (WORKERS 0): each saves seconds of CPU
    env = {**os.environ, "OUT": str(tmp_path / "run"), "EPISODES": "2", "TEST_EPISODES": "1", "MAX_STEPS": "30",
           "TOKENIZER_STEPS": "1", "DYNAMICS_STEPS": "1", "EVAL_SEQUENCES": "1", "PLAY_STEPS": "6", "THREADS": "1",
           "WORKERS": "0", "GENIE": f"{sys.executable} -m genie_gym.cli", "SDL_VIDEODRIVER": "dummy"}

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(EXAMPLES / "collect_and_train.sh")], env=env, capture_output=True, text=True,
                              timeout=900)

    first = run()
    assert first.returncode == 0, first.stderr[-3000:]
    out = tmp_path / "run"
    result = json.loads((out / "eval.json").read_text())
    assert set(result) >= {"psnr", "ssim", "delta_psnr", "tokenizer_psnr", "fid"} and result["psnr"] > 0
    assert (out / "eval.png").stat().st_size > 0 and (out / "dream.gif").stat().st_size > 0
    assert (out / "world_model" / "dream.json").is_file()
    assert "played 6 steps" in first.stdout

    weights = [out / run / "checkpoints" / "step_0000001" / "model.safetensors" for run in ("tokenizer", "dynamics")]
    written = [path.stat().st_mtime_ns for path in weights]
    again = run()  # everything is on disk: nothing is collected or trained twice
    assert again.returncode == 0, again.stderr[-3000:]
    assert "collected 0 episodes (0 frames, 0 frames/s), 2 already on disk" in again.stdout
    assert [path.stat().st_mtime_ns for path in weights] == written  # the finished trainings were not rerun


def test_compare_explorers_runs_end_to_end(tmp_path):
    out = tmp_path / "explorers"
    # one dream of 8 steps per explorer (one PPO rollout), collection in the collecting process (WORKERS 0)
    env = {**os.environ, "OUT": str(out), "TIMESTEPS": "8", "EPISODES": "1", "MAX_STEPS": "24", "EVAL_SEQUENCES": "1",
           "REAL_RUNS": "1", "WORKERS": "0", "THREADS": "1", "GENIE": f"{sys.executable} -m genie_gym.cli",
           "EXPLORE_ARGS": "--num-envs 1 --n-steps 8 --episode-steps 8 --eval-steps 8"}
    done = subprocess.run(["bash", str(EXAMPLES / "compare_explorers.sh")], env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    for agent, name in [("random", "random"), ("uncertainty", "AutoExplore"), ("rf-burda", "RF"), ("vae-burda", "VAE")]:
        evaluation = json.loads((out / f"eval_{agent}.json").read_text())
        assert evaluation["num_sequences"] == 1 and evaluation["psnr"] > 0
        assert any(line.startswith(name) for line in done.stdout.splitlines()), done.stdout[-2000:]
    for reward in ("uncertainty", "rf-burda", "vae-burda"):
        assert json.loads((out / reward / "result.json").read_text())["settings"]["reward"] == reward


def test_ablation_script_trains_three_variants_evaluates_and_resumes(tmp_path, smb_store):
    import shutil

    store = tmp_path / "store"
    shutil.copytree(smb_store, store)  # the token cache is written next to the store
    out = tmp_path / "ablation"
    # the first run without FID weights (its "-" column); FID costs ~17 s of CPU per evaluation, so it is computed
    # once, on the rerun below, for the one evaluation that is redone
    env = {**os.environ, "OUT": str(out), "DATA": str(store), "TEST": str(store), "STEPS": "2", "BATCH_SIZE": "2",
           "WINDOW": "4", "WARMUP": "1", "EVAL_SEQUENCES": "3", "MASKGIT_STEPS": "1", "THREADS": "1",
           "GENIE": f"{sys.executable} -m genie_gym.cli", "FID_WEIGHTS": str(tmp_path / "no_weights.pt")}

    def run() -> subprocess.CompletedProcess:
        return subprocess.run(["bash", str(EXAMPLES / "ablation_genie_redux_g.sh")], env=env, capture_output=True,
                              text=True, timeout=900)

    first = run()
    assert first.returncode == 0, first.stderr[-3000:]
    # each variant was trained with its own switches (token-input skip, TDCE weight)
    expected = {"plain": (False, 0.0), "skip": (True, 0.0), "tdce": (True, 3.0)}
    for name, (skip, tdce) in expected.items():
        config = json.loads((out / f"wm_{name}" / "dynamics" / "config.json").read_text())["config"]
        # the TDCE weight is a training option: saved with the run's checkpoints, not with the packed architecture
        checkpoint = sorted((out / name / "checkpoints").glob("step_*"))[-1]
        options = json.loads((checkpoint / "training_options.json").read_text())
        assert (config["token_input_skip"], options["tdce_lambda"]) == (skip, tdce), name
    for key in ("plain", "skip", "tdce", "tdce_ar"):
        evaluation = json.loads((out / f"eval_{key}.json").read_text())
        assert evaluation["num_sequences"] == 3 and len(evaluation["psnr_per_sequence"]) == 3
    assert json.loads((out / "eval_tdce_ar.json").read_text())["settings"]["mode"] == "autoregressive"
    table = first.stdout.splitlines()
    for label in ("GenieRedux-G, plain", "+ token input", "+ TDCE loss", "autoregressive"):
        assert any(line.startswith(label) for line in table), first.stdout[-2000:]
    assert any(line.startswith("+ TDCE loss") and "±" in line for line in table)
    plain_row = next(line for line in table if line.startswith("GenieRedux-G, plain"))
    plain = json.loads((out / "eval_plain.json").read_text())
    assert plain["fid"] is None and plain_row.split()[2] == "-"  # no weights file: no FID

    weights = [path for name in expected for path in (out / name / "checkpoints").glob("*/model.safetensors")]
    kept = weights + [out / f"eval_{key}.json" for key in ("skip", "tdce", "tdce_ar")]
    written = [path.stat().st_mtime_ns for path in kept]
    # rerun with one evaluation removed: no variant is trained twice, no other evaluation is redone; the redone one
    # has FID as in the paper's table where `make fid-weights` fetched the Inception (as `make test` does), else "-"
    (out / "eval_plain.json").unlink()
    fid_weights = EXAMPLES.parent / ".cache/fid/default_1.pt"
    env["FID_WEIGHTS"] = str(fid_weights if fid_weights.is_file() else tmp_path / "no_weights.pt")
    again = run()
    assert again.returncode == 0, again.stderr[-3000:]
    assert [path.stat().st_mtime_ns for path in kept] == written
    assert again.stdout.splitlines()[-3:] == table[-3:]  # the other rows, their paired differences to plain included
    redone = json.loads((out / "eval_plain.json").read_text())
    assert redone["psnr_per_sequence"] == plain["psnr_per_sequence"]  # the same sequences and sampling seed
    plain_row = next(line for line in again.stdout.splitlines() if line.startswith("GenieRedux-G, plain"))
    if fid_weights.is_file():
        assert redone["fid"] > 0 and f"{redone['fid']:.2f}" in plain_row
    else:
        assert redone["fid"] is None and plain_row.split()[2] == "-"
    env["VARIANTS"] = "nothing plain"
    bad = run()
    assert bad.returncode == 2 and "unknown variant 'nothing'" in bad.stderr
