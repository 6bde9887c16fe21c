"""``genie train`` / ``python -m genie_gym.trainers`` / ``torchrun -m genie_gym.trainers`` end to end on a tiny real
SMB store.

The tokenizer and dynamics runs use the real ``small`` models for a few steps; the LAM, genie-redux, interrupt and
torchrun runs use tiny JSON configs of the real models to keep the suite fast on 2 cores.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from genie_gym.cli import main
from genie_gym.models.checkpoint_io import save_pretrained
from genie_gym.models.configs import LAMConfig
from genie_gym.models.lam import LatentActionModel
from genie_gym.trainers import training_loop
from genie_gym.trainers.run_dir import RunDir

torch.set_num_threads(1)
FAST = ["--batch-size", "2", "--window", "4", "--log-every", "1", "--threads", "1", "--no-progress"]
TINY = {
    "tokenizer": {"patch_size": 8, "d_model": 32, "num_heads": 2, "encoder_blocks": 1, "decoder_blocks": 1,
                  "num_codes": 64},
    "lam": {"patch_size": 8, "d_model": 32, "num_heads": 2, "encoder_blocks": 1, "decoder_blocks": 1},
    "dynamics": {"d_model": 32, "num_heads": 2, "num_blocks": 1, "maskgit_steps": 2},
}


@pytest.fixture(scope="module")
def work(smb_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch directory with a writable copy of the shared SMB store (``store/``) and tiny configs."""
    root = tmp_path_factory.mktemp("train_cli")
    shutil.copytree(smb_store, root / "store")
    for kind, values in TINY.items():
        (root / f"tiny_{kind}.json").write_text(json.dumps(values))
    return root


def train(*args: str) -> int:
    """``genie train ARGS`` in this process; returns the exit status."""
    return main(["train", *map(str, args)])


@pytest.fixture(scope="module")
def tokenizer_run(work: Path) -> Path:
    """A 3-step run of the small tokenizer."""
    out = work / "tok"
    assert train("tokenizer", "--data", work / "store", "--out", out, "--steps", 3, "--image-every", 3, *FAST) == 0
    return out


def _losses(run: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in RunDir(run).read_metrics()]


def test_tokenizer_run_directory_and_exact_resume(work: Path, tokenizer_run: Path) -> None:
    run = RunDir(tokenizer_run)
    assert run.checkpoint_steps() == [3] and run.latest_checkpoint() == run.checkpoint_path(3)
    assert (run.checkpoint_path(3) / "model.safetensors").is_file()
    assert json.loads((run.checkpoint_path(3) / "config.json").read_text())["model_kind"] == "tokenizer"
    assert (run.images_dir / "step_0000003.png").is_file() and list(run.tensorboard_dir.glob("events.*"))
    from genie_gym.models.configs import get_config

    assert run.read_config()["model"]["config"] == get_config("tokenizer", "small").to_dict()  # the small preset
    assert json.loads((tokenizer_run / "args.json").read_text())["args"]["model"] == "tokenizer"
    record = run.read_metrics()[-1]
    assert {"loss", "psnr", "codebook_usage", "lr", "grad_norm", "frames_per_s"} <= set(record)

    split = work / "tok_split"
    common = ["tokenizer", "--data", work / "store", "--out", split, "--steps", 3, "--image-every", 0, *FAST]
    assert train(*common, "--stop-at", 1) == 0
    assert RunDir(split).checkpoint_steps() == [1]
    # --resume alone restores the run's data, steps and config from RUN_DIR/args.json and the checkpoint
    assert train("tokenizer", "--out", split, "--resume", *FAST) == 0
    assert _losses(split) == _losses(tokenizer_run)  # exact, step by step


def test_resume_needs_no_arguments_and_no_init_directory(work: Path, tokenizer_run: Path) -> None:
    init = work / "init_copy"
    shutil.copytree(RunDir(tokenizer_run).latest_checkpoint(), init)
    out = work / "fine_tune"
    args = ["tokenizer", "--init", init, "--decoder-only", "--data", work / "store", "--out", out, "--steps", 2]
    assert train(*args, "--image-every", 0, "--stop-at", 1, *FAST) == 0
    shutil.rmtree(init)  # the fine-tuning's starting point is gone: the checkpoint holds everything
    assert train("tokenizer", "--resume", "--out", out, "--threads", 1, "--no-progress") == 0
    assert RunDir(out).checkpoint_steps()[-1] == 2
    saved = json.loads((out / "args.json").read_text())["args"]
    assert saved["decoder_only"] and saved["batch_size"] == 2 and saved["window"] == 4  # restored, not defaults


def test_dynamics_trains_on_cached_tokens(work: Path, tokenizer_run: Path) -> None:
    out = work / "dyn"
    args = ["dynamics", "--data", work / "store", "--tokenizer", tokenizer_run, "--out", out, "--steps", 2]
    assert train(*args, "--image-every", 2, *FAST) == 0
    caches = list((work / "store" / ".tokens").iterdir())
    assert len(caches) == 1 and len(list(caches[0].glob("SMB/ep_*.npy"))) == 3  # the 3 training episodes
    snapshot = RunDir(out).read_config()
    assert snapshot["model"]["token_cache"] == str(caches[0])
    assert snapshot["model"]["config"]["num_codes"] == 1024 and snapshot["model"]["config"]["grid_size"] == 16
    assert (RunDir(out).images_dir / "step_0000002.png").is_file()
    assert {"masked_accuracy", "ce", "loss"} <= set(RunDir(out).read_metrics()[-1])
    assert RunDir(out).latest_checkpoint() == RunDir(out).checkpoint_path(2)


def test_bf16_autocast_trains_tokenizer_and_dynamics(work: Path, tokenizer_run: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The bf16 path (the default on CUDA) run on the CPU: same first loss as fp32 to bf16 precision, stays finite.
    On a CPU without native bf16 it is slow but right: the refusal of such CPUs is lifted for these tiny models."""
    monkeypatch.setattr(training_loop, "cpu_flags", lambda: {"avx512_bf16"})
    for kind, extra in (("tokenizer", []), ("dynamics", ["--tokenizer", tokenizer_run])):
        losses = {}
        for precision in ("fp32", "bf16"):
            out = work / f"{kind}_{precision}"
            args = ["--config", work / f"tiny_{kind}.json", "--data", work / "store", "--out", out, "--steps", 3]
            assert train(kind, *args, "--image-every", 3, "--precision", precision, *extra, *FAST) == 0
            losses[precision] = [loss for _, loss in _losses(out)]
            assert (RunDir(out).images_dir / "step_0000003.png").is_file()
        assert len(losses["bf16"]) == 3 and all(math.isfinite(loss) for loss in losses["bf16"]), losses
        assert losses["bf16"][0] == pytest.approx(losses["fp32"][0], rel=0.05), losses
        assert losses["bf16"] != losses["fp32"], "autocast did not run: bf16 and fp32 losses are bit-identical"


def test_genie_redux_uses_lam_actions(work: Path, tokenizer_run: Path) -> None:
    lam_run = work / "lam"
    store = work / "store"
    lam_args = ["lam", "--config", work / "tiny_lam.json", "--data", store, "--out", lam_run, "--steps", 1]
    assert train(*lam_args, "--image-every", 1, *FAST) == 0
    assert (RunDir(lam_run).images_dir / "step_0000001.png").is_file()
    out = work / "redux"
    assert train("genie-redux", "--config", work / "tiny_dynamics.json", "--data", store, "--tokenizer",
                 tokenizer_run, "--lam", lam_run, "--out", out, "--steps", 1, "--image-every", 1, *FAST) == 0
    config = RunDir(out).read_config()["model"]["config"]
    assert config["action_source"] == "latent" and config["num_actions"] == 7
    labels = list((store / ".latent_actions").glob("*/SMB/ep_*.npy"))
    assert len(labels) == 3
    assert (RunDir(out).images_dir / "step_0000001.png").is_file()


def test_bad_arguments_give_one_clear_error(work: Path, tokenizer_run: Path, capsys: pytest.CaptureFixture) -> None:
    store = work / "store"
    lam_checkpoint = save_pretrained(LatentActionModel(LAMConfig(**TINY["lam"])), work / "a_lam_checkpoint")
    cases = {
        "does not exist; collect": ["tokenizer", "--data", work / "missing", "--out", work / "x"],
        "needs --tokenizer": ["dynamics", "--data", store, "--out", work / "x"],
        "needs --lam": ["genie-redux", "--data", store, "--out", work / "x", "--tokenizer", tokenizer_run],
        "expected a tokenizer checkpoint but": ["dynamics", "--data", store, "--out", work / "x", "--tokenizer",
                                                lam_checkpoint],
        "expected a lam checkpoint but": ["genie-redux", "--data", store, "--out", work / "x", "--tokenizer",
                                         tokenizer_run, "--lam", tokenizer_run],
        "pass --resume": ["tokenizer", "--data", store, "--out", tokenizer_run],
        "is a tokenizer run; resume it with": ["dynamics", "--out", tokenizer_run, "--resume"],
        "--data DIR is required": ["tokenizer", "--out", work / "x"],
        "no tokenizer config named": ["tokenizer", "--config", "huge", "--data", store, "--out", work / "x"],
    }
    for message, args in cases.items():
        assert train(*args, *FAST) == 1, message
        err = capsys.readouterr().err
        assert err.startswith("genie train: error:") and message in err and err.count("\n") == 1, err
    assert not (work / "x").exists()


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def test_sigint_writes_a_checkpoint_and_exits_130(work: Path) -> None:
    out = work / "interrupted"
    command = [sys.executable, "-m", "genie_gym.trainers", "tokenizer", "--config", str(work / "tiny_tokenizer.json"),
               "--data", str(work / "store"), "--out", str(out), "--steps", "100000", *FAST]
    process = subprocess.Popen(command, env=_env(), stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (out / "metrics.jsonl").is_file() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130, err
    steps = RunDir(out).checkpoint_steps()
    assert len(steps) == 1 and steps[0] >= 1 and "--resume" in err
    assert RunDir.load_training_state(RunDir(out).latest_checkpoint())["step"] == steps[0]


def test_torchrun_two_processes_match_one(work: Path) -> None:
    common = ["tokenizer", "--config", str(work / "tiny_tokenizer.json"), "--data", str(work / "store"),
              "--steps", "2", *FAST]
    single = work / "single"
    assert train(*common, "--out", single) == 0
    ddp = work / "ddp"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    process = subprocess.Popen([*torchrun, "-m", "genie_gym.trainers", *common, "--out", str(ddp)], env=_env(),
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        _, err = process.communicate(timeout=300)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)  # torchrun and its two workers
    assert process.returncode == 0, err[-3000:]
    assert RunDir(ddp).read_config()["training"]["world_size"] == 2
    assert RunDir(ddp).checkpoint_steps() == [2]
    ddp_losses, single_losses = _losses(ddp), _losses(single)
    assert [s for s, _ in ddp_losses] == [1, 2]
    for (_, a), (_, b) in zip(ddp_losses, single_losses, strict=True):
        assert a == pytest.approx(b, rel=1e-5)  # the same global batch, split over 2 ranks


def test_decoder_only_fine_tuning_keeps_token_ids(work: Path, tokenizer_run: Path) -> None:
    from genie_gym.data.store import EpisodeStore
    from genie_gym.models.checkpoint_io import load_pretrained

    store = work / "store"
    out = work / "tok_decoder"
    assert train("tokenizer", "--init", tokenizer_run, "--decoder-only", "--data", store, "--out", out,
                 "--steps", 2, "--lr", "1e-2", *FAST) == 0
    before = load_pretrained(RunDir(tokenizer_run).latest_checkpoint(), expected_kind="tokenizer")
    after = load_pretrained(RunDir(out).latest_checkpoint(), expected_kind="tokenizer")
    assert before.config == after.config  # --init brings its own config
    frames = torch.from_numpy(np.asarray(EpisodeStore(store).load(("SMB", 0)).frames[None, :8]))
    with torch.no_grad():
        assert torch.equal(before.encode(frames), after.encode(frames))
    changed = [name for name, value in after.state_dict().items() if not torch.equal(value, before.state_dict()[name])]
    assert changed and all(name.startswith(("from_latent", "decoder", "to_pixels", "quantizer.usage",
                                            "quantizer.steps")) for name in changed), changed
    assert any(name.startswith("decoder") for name in changed)
    assert train("lam", "--decoder-only", "--data", store, "--out", work / "lam_bad", "--steps", 1, *FAST) == 1


def test_set_changes_training_options_of_an_init_model(work: Path, tokenizer_run: Path, capsys) -> None:
    """``--set tdce_lambda=1`` fine-tunes a trained dynamics run with another loss; the training options are saved
    with the run (its config.json, each checkpoint's training_options.json), not in the checkpoint's config.json;
    ``--init`` and ``--resume`` read them back; architecture fields and sampling settings are refused with one clear
    error."""
    from genie_gym.models.configs import TRAINING_OPTIONS_FILE, DynamicsConfig, get_training_options

    first = work / "dyn_set_base"
    base = ["dynamics", "--data", work / "store", "--tokenizer", tokenizer_run]
    assert train(*base, "--out", first, "--steps", 1, *FAST) == 0
    tuned = work / "dyn_set_tuned"
    assert train(*base, "--init", first, "--out", tuned, "--steps", 1, "--set", "tdce_lambda=1", *FAST) == 0
    model = RunDir(tuned).read_config()["model"]
    assert model["training_options"]["tdce_lambda"] == 1
    assert model["config"]["d_model"] == RunDir(first).read_config()["model"]["config"]["d_model"]
    checkpoint = RunDir(tuned).latest_checkpoint()
    assert set(json.loads((checkpoint / "config.json").read_text())["config"]) == set(DynamicsConfig.field_names())
    assert json.loads((checkpoint / TRAINING_OPTIONS_FILE).read_text())["tdce_lambda"] == 1
    assert "action_gain" in RunDir(tuned).read_metrics()[-1]
    assert train(*base, "--resume", "--out", tuned, "--steps", 2, *FAST) == 0  # the saved --set, restored
    assert get_training_options("dynamics", RunDir(tuned).latest_checkpoint() / "config.json").tdce_lambda == 1
    again = work / "dyn_set_again"
    assert train(*base, "--init", tuned, "--out", again, "--steps", 1, *FAST) == 0  # --init brings its options
    assert RunDir(again).read_config()["model"]["training_options"]["tdce_lambda"] == 1
    capsys.readouterr()
    assert train(*base, "--resume", "--out", tuned, "--steps", 3, "--set", "tdce_lambda=2", *FAST) != 0
    assert "trained with other training options: tdce_lambda 1" in capsys.readouterr().err
    assert train(*base, "--init", first, "--out", work / "dyn_set_bad", "--steps", 1, "--set", "d_model=64",
                 *FAST) != 0
    assert "--set cannot change d_model" in capsys.readouterr().err
    assert train(*base, "--init", first, "--out", work / "dyn_set_bad", "--steps", 1, "--set", "maskgit_steps=8",
                 *FAST) != 0
    assert "maskgit_steps are sampling settings: set them in a world model's dream.json" in capsys.readouterr().err


def test_a_frame_run_keeps_its_quantizer_options_with_the_run_and_resumes_from_before_the_split(
        work: Path, capsys) -> None:
    """A LAM (or tokenizer) run saves the quantizer's training options with the run (its config.json, each
    checkpoint's training_options.json), not in the checkpoint's config.json; a run whose checkpoint holds them in
    its config.json (every run before the split) resumes with them; a changed option is refused on resume."""
    from genie_gym.models.configs import TRAINING_OPTIONS_FILE, FrameTrainingOptions

    out = work / "lam_options"
    args = ["lam", "--config", work / "tiny_lam.json", "--data", work / "store", "--out", out, "--image-every", 0]
    assert train(*args, "--steps", 2, "--stop-at", 1, "--set", "dead_code_after=7", *FAST) == 0
    wanted = FrameTrainingOptions(dead_code_after=7).to_dict()
    assert RunDir(out).read_config()["model"]["training_options"] == wanted
    checkpoint = RunDir(out).latest_checkpoint()
    meta = json.loads((checkpoint / "config.json").read_text())
    assert set(meta["config"]) == set(LAMConfig.field_names())  # what the weights need, nothing else
    assert not set(meta["config"]) & set(wanted)
    assert json.loads((checkpoint / TRAINING_OPTIONS_FILE).read_text()) == wanted
    # as a run before the split left it: the options in the checkpoint's config.json, no --set (nor could it)
    meta["config"].update(wanted)
    (checkpoint / "config.json").write_text(json.dumps(meta))
    (checkpoint / TRAINING_OPTIONS_FILE).unlink()
    saved = json.loads((out / "args.json").read_text())
    saved["args"]["config_set"] = []
    (out / "args.json").write_text(json.dumps(saved))
    capsys.readouterr()
    assert train("lam", "--resume", "--out", out, "--set", "dead_code_after=8", *FAST) != 0
    assert "trained with other training options: dead_code_after 7 (now 8)" in capsys.readouterr().err
    assert train("lam", "--resume", "--out", out, *FAST) == 0
    assert json.loads((RunDir(out).checkpoint_path(2) / TRAINING_OPTIONS_FILE).read_text()) == wanted


def test_the_bundled_commands_register_without_an_installed_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """A source checkout on PYTHONPATH (no entry points: e.g. a GPU machine) still has `train`, `collect` and
    `explore`."""
    import genie_gym.cli

    monkeypatch.setattr(genie_gym.cli, "entry_points", lambda **_: [])
    commands = genie_gym.cli.build_parser()._subparsers._group_actions[0].choices
    assert {"train", "collect", "explore", "eval", "play"} <= set(commands)


def test_bf16_on_a_cpu_without_native_bf16_is_refused_before_any_data_loads(
        work: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Emulated bf16 runs ~100x slower than fp32: one clear error that names the fix, and no run directory."""
    out = work / "bf16_refused"
    args = ["tokenizer", "--config", work / "tiny_tokenizer.json", "--data", work / "store", "--out", out,
            "--steps", 1, "--precision", "bf16", *FAST]
    monkeypatch.setattr(training_loop, "cpu_flags", lambda: {"avx2", "fma"})
    assert train(*args) != 0
    assert "--precision fp32" in capsys.readouterr().err
    assert not RunDir(out).checkpoint_steps()
    for flags in ({"avx512f", "avx512_bf16"}, {"amx_bf16"}, None):  # native bf16, or no /proc/cpuinfo to read
        monkeypatch.setattr(training_loop, "cpu_flags", lambda flags=flags: flags)
        training_loop.check_precision("bf16", torch.device("cpu"))
    training_loop.check_precision("fp32", torch.device("cpu"))
