"""``genie train``'s options, declared on the settings they set: the command line it accepts, and ``--resume``
taking the omitted ones (only) from a run's saved ``args.json``. No training here (see ``test_train_cli.py``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from genie_gym.options import from_args
from genie_gym.trainers.cli import RunOptions, add_train_arguments, restore_run_arguments
from genie_gym.trainers.tasks import TaskSettings
from genie_gym.trainers.training_loop import LoopSettings

FLAGS = {
    "-h", "--help", "--config", "--data", "--out", "--tokenizer", "--lam", "--init", "--set", "--decoder-only",
    "--decoder-held-ids", "--games", "--window", "--steps", "--batch-size", "--grad-accum", "--lr", "--min-lr-ratio",
    "--warmup-steps", "--weight-decay", "--grad-clip", "--seed", "--resume", "--checkpoint-every",
    "--keep-checkpoints", "--log-every", "--image-every", "--stop-at", "--device", "--precision", "--num-workers",
    "--threads", "--no-progress", "--debug",
}

# RUN_DIR/args.json of a campaign run resumed several times (runs/campaign_d128_rollout, written before the options
# moved onto the settings classes): the new command line must still resume it.
CAMPAIGN_ARGS = {
    "batch_size": 8, "checkpoint_every": 100, "command": "train",
    "config": "runs/campaign_d128_rollout/checkpoints/step_0000612/config.json",
    "config_set": ["visible_prefix_prob=0.5", "hold_unchanged_tokens=true", "changed_token_weight=1",
                   "context_stall_prob=0", "context_rollout_prob=0", "changed_token_weight=2",
                   "context_rollout_prob=0.5", "context_rollout_frames=2"],
    "data": "data/train_s29", "debug": False, "decoder_held_ids": False, "decoder_only": False, "device": None,
    "games": None, "grad_accum": 2, "grad_clip": 10.0, "image_every": 500,
    "init": "runs/campaign_d128_shipped/checkpoints/step_0001978", "keep_checkpoints": 1000, "lam": None,
    "log_every": 10, "lr": 0.0002, "min_lr_ratio": 0.5, "model": "dynamics", "no_progress": True,
    "num_workers": None, "out": "runs/campaign_d128_rollout", "precision": "bf16", "resume": True, "seed": 0,
    "steps": 40000, "stop_at": None, "threads": 1, "tokenizer": "checkpoints/genie-redux-g-smb/tokenizer",
    "warmup_steps": 100, "weight_decay": 0.0001, "window": 8,
}


def parse(*argv: str | Path) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    return parser.parse_args([str(arg) for arg in argv])


def test_the_command_line_keeps_its_flags_and_defaults() -> None:
    parser = argparse.ArgumentParser()
    add_train_arguments(parser)
    assert set(parser._option_string_actions) == FLAGS
    args = vars(parse("dynamics", "--out", "o"))
    args.pop("_given_options")
    assert set(args) == set(CAMPAIGN_ARGS) - {"command"}  # the keys a saved args.json has
    assert args["steps"] == 10000 and args["lr"] == 1e-4 and args["config_set"] == [] and args["window"] == 16
    assert args["no_progress"] is False and args["num_workers"] is None and args["precision"] == "auto"
    args = parse("lam", "--out", "o", "--set", "a=1", "--set", "b=x", "--games", "SMB", "Zelda", "--no-progress",
                 "--stop-at", "5", "--precision", "bf16", "--grad-accum", "2", "--threads", "1")
    assert args.config_set == ["a=1", "b=x"] and args.games == ["SMB", "Zelda"] and args.no_progress
    assert args.stop_at == 5 and args.precision == "bf16" and args.grad_accum == 2 and args.threads == 1
    settings = from_args(LoopSettings, args)
    assert not settings.progress and settings.stop_at_step == 5 and settings.grad_accum == 2
    with pytest.raises(SystemExit):
        parse("lam", "--out", "o", "--precision", "fp16")


def _run_with_saved_args(root: Path, saved: dict, checkpoint_step: int | None = None) -> Path:
    out = root / "run"
    out.mkdir(parents=True)
    (out / "args.json").write_text(json.dumps({"argv": ["genie", "train"], "args": {**saved, "out": str(out)}}))
    if checkpoint_step is not None:
        checkpoint = out / "checkpoints" / f"step_{checkpoint_step:07d}"
        checkpoint.mkdir(parents=True)
        (checkpoint / "training_state.pt").write_bytes(b"")
        (checkpoint / "config.json").write_text("{}")
    return out


def test_resume_takes_omitted_options_from_args_json_and_typed_ones_from_the_command_line(tmp_path: Path) -> None:
    out = _run_with_saved_args(tmp_path, {**CAMPAIGN_ARGS, "lr": 2e-4, "seed": 7, "batch_size": 4})
    # --lr 1e-4 and --batch-size 8 are the defaults, typed: they win over the saved values (they used not to)
    args = parse("dynamics", "--resume", "--out", out, "--lr", "1e-4", "--batch-size", "8", "--threads", "2")
    restored = restore_run_arguments(args)
    assert args.lr == 1e-4 and args.batch_size == 8 and args.threads == 2
    assert args.seed == 7 and "seed" in restored and "lr" not in restored and "batch_size" not in restored
    omitted = parse("dynamics", "--resume", "--out", out)
    restore_run_arguments(omitted)
    assert omitted.lr == 2e-4 and omitted.batch_size == 4 and omitted.seed == 7
    assert omitted.threads is None and omitted.stop_at is None  # per-invocation options are never restored
    by_hand = argparse.Namespace(**{**vars(parse("dynamics", "--out", out)), "resume": True, "lr": 3e-4})
    del by_hand._given_options  # a namespace not made by the parser: values other than the default count as given
    restore_run_arguments(by_hand)
    assert by_hand.lr == 3e-4 and by_hand.seed == 7


def test_a_campaign_run_directory_resumes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for directory in ("data/train_s29", "checkpoints/genie-redux-g-smb/tokenizer"):
        (tmp_path / directory).mkdir(parents=True)
    out = _run_with_saved_args(tmp_path, CAMPAIGN_ARGS, checkpoint_step=612)
    # campaign/train.sh on a run directory that has an args.json: --resume and the script's fixed options
    args = parse("dynamics", "--resume", "--data", "data/train_s29", "--tokenizer",
                 "checkpoints/genie-redux-g-smb/tokenizer", "--out", out, "--steps", "40000", "--batch-size", "8",
                 "--window", "8", "--lr", "2e-4", "--warmup-steps", "100", "--precision", "bf16", "--set",
                 "visible_prefix_prob=0.5", "--checkpoint-every", "100", "--keep-checkpoints", "1000", "--seed", "0",
                 "--no-progress")
    restore_run_arguments(args)
    assert args.grad_accum == 2 and args.config_set == ["visible_prefix_prob=0.5"]
    assert args.config == str(out / "checkpoints" / "step_0000612" / "config.json")
    assert args.init is None  # gone from this machine: the checkpoint holds the weights
    # --resume alone restores the whole run
    alone = parse("dynamics", "--resume", "--out", out)
    restore_run_arguments(alone)
    assert alone.config_set == CAMPAIGN_ARGS["config_set"] and alone.precision == "bf16" and alone.lr == 2e-4
    task = from_args(TaskSettings, alone)
    assert task.config_overrides["context_rollout_frames"] == 2 and task.window == 8 and task.seed == 0
    settings = from_args(LoopSettings, alone)
    assert (settings.steps, settings.grad_accum, settings.warmup_steps, settings.keep_checkpoints) == (40000, 2, 100,
                                                                                                      1000)
    assert settings.progress is True and from_args(RunOptions, alone).resume  # --no-progress is per invocation


@pytest.mark.parametrize(("argv", "message"), [
    (["--window", "1"], "--window must be >= 2"),
    (["--log-every", "0"], "--log-every must be >= 1"),
    (["--threads", "0"], "--threads must be >= 1"),
    (["--lr", "0"], "--lr must be > 0"),
    (["--set", "d_model=64"], "--set cannot change d_model"),
    (["--set", "oops"], "--set expects KEY=VALUE"),
    (["--decoder-only"], "--decoder-only fine-tunes a tokenizer's decoder"),
])
def test_each_input_is_checked_as_the_settings_are_built(tmp_path: Path, argv: list[str], message: str) -> None:
    args = parse("dynamics", "--out", tmp_path / "run", "--data", tmp_path, "--tokenizer", tmp_path, *argv)
    with pytest.raises(ValueError, match=message):
        for settings_class in (RunOptions, TaskSettings, LoopSettings):
            from_args(settings_class, args)


def test_an_optional_bool_defaulting_to_none_is_a_recorded_yes_no_switch() -> None:
    """``bool | None = option(None, ...)``: ``--name`` True, ``--no-name`` False, neither None (``genie eval
    --hold-pixels``: None takes the checkpoint's dream.json)."""
    from dataclasses import dataclass

    from genie_gym.options import add_options, given_options, option

    @dataclass
    class Settings:
        hold_pixels: bool | None = option(None, "copy unchanged patches' pixels")

    parser = argparse.ArgumentParser()
    add_options(parser, Settings)
    assert "[--hold-pixels | --no-hold-pixels]" in parser.format_usage()
    for argv, value in (([], None), (["--hold-pixels"], True), (["--no-hold-pixels"], False)):
        args = parser.parse_args(argv)
        assert from_args(Settings, args).hold_pixels is value
        assert given_options(args) == (frozenset({"hold_pixels"}) if argv else frozenset())


def test_a_tuple_of_any_length_is_a_repeatable_option_whose_field_gets_a_tuple() -> None:
    """``tuple[X, ...] = option((), ..., action="append")``: each ``--flag X`` adds one item (``genie annotate clips
    --probe``), and the field gets a tuple, as a frozen settings dataclass keeps it."""
    from dataclasses import dataclass

    from genie_gym.options import add_options, option

    @dataclass(frozen=True)
    class Settings:
        probes: tuple[str, ...] = option((), "a button combination", flag="--probe", action="append")
        sizes: tuple[int, ...] = option((1,), "sizes")

    parser = argparse.ArgumentParser()
    add_options(parser, Settings)
    assert from_args(Settings, parser.parse_args([])) == Settings()
    settings = from_args(Settings, parser.parse_args(["--probe", "B", "--probe", "A+C", "--sizes", "2", "3"]))
    assert settings == Settings(probes=("B", "A+C"), sizes=(2, 3))


def test_a_subclass_offers_some_options_with_its_own_defaults_and_flags() -> None:
    """``add_options(..., only=NAMES)`` with fields redeclared by ``override`` (``examples/ppo_in_dream.py``): the
    help is kept unless given, ``dest`` renames the flag, and the parsed subset builds the subclass."""
    from dataclasses import dataclass

    from genie_gym.options import add_options, option, override

    @dataclass(kw_only=True)
    class Settings:
        out: str = option(help="run directory")
        envs: int | None = option(None, "envs stepped together")
        episodes: int = option(4, "evaluation runs")
        threads: int | None = option(None, "torch threads")

    @dataclass(kw_only=True)
    class Example(Settings):
        out: str = override(Settings, "out", "runs/example")
        envs: int | None = override(Settings, "envs", dest="dreams", help="dreams stepped together")
        episodes: int = override(Settings, "episodes", 8)

    parser = argparse.ArgumentParser()
    add_options(parser, Example, only=("out", "envs", "episodes"))
    usage = parser.format_help()
    assert "--dreams" in usage and "--envs" not in usage and "--threads" not in usage and "evaluation runs" in usage
    assert from_args(Example, parser.parse_args([])) == Example(out="runs/example", episodes=8)
    assert from_args(Example, parser.parse_args(["--dreams", "2"])).envs == 2
    with pytest.raises(ValueError, match="no option nope"):
        add_options(argparse.ArgumentParser(), Example, only=("nope",))
