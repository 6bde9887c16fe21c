"""``genie probe``: the behaviour probes of ``genie_gym.probes``, run end to end on a tiny world model and the real
game, and their measures on frames made by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genie_gym.cli import build_parser, main
from genie_gym.commands.probe_command import PROBES
from genie_gym.models import LAMConfig, LatentActionModel
from genie_gym.options import from_args
from genie_gym.probes import control, hold_action, hold_from_start, lam, parse_dream_overrides


def test_genie_probe_lists_every_probe(capsys) -> None:
    with pytest.raises(SystemExit):
        main(["probe", "--help"])
    listed = capsys.readouterr().out
    assert all(name in listed for name in ("control", "hold-from-start", "long-dream", "lam"))


def test_each_probe_parses_into_its_settings() -> None:
    parser = build_parser()
    for name, (_, settings_class) in PROBES.items():
        required = {"lam": "runs/lam"} if name == "lam" else {}
        args = parser.parse_args(["probe", name, *(f"--{key}={value}" for key, value in required.items())])
        assert from_args(settings_class, args) == settings_class(**required), name
        assert args.threads is None


def test_dream_sampling_changes_only_through_set() -> None:
    parser = build_parser()
    args = parser.parse_args(["probe", "hold-action", "--set", "maskgit_steps=4", "--set", "temperature=0.5",
                              "--set", "hold_pixels=true", "--set", "dreams_per_pass=null"])
    assert from_args(hold_action.HoldActionSettings, args).overrides == {
        "maskgit_steps": 4, "temperature": 0.5, "hold_pixels": True, "dreams_per_pass": None}
    for probe in ("control", "hold-from-start", "long-dream", "hold-action"):
        for flag in ("--maskgit-steps", "--temperature", "--action-guidance"):
            with pytest.raises(SystemExit):
                parser.parse_args(["probe", probe, flag, "1"])
    for bad, message in (("maskgit_steps", "KEY one of game, context_frames"),
                         ("maskgit_steps=abc", "maskgit_steps takes a whole number, got 'abc'"),
                         ("hold_pixels=yes", "hold_pixels takes true or false"),
                         ("temperature=-1", "temperature must be >= 0"),
                         ("context_window=0", "context_window must be >= 1")):
        with pytest.raises(ValueError, match=message):
            parse_dream_overrides([bad])


def test_control_keeps_one_maskgit_step_unless_set_and_the_env_probes_fix_the_game() -> None:
    parser = build_parser()
    settings = from_args(control.ControlSettings, parser.parse_args(["probe", "control"]))
    assert settings.overrides == {"maskgit_steps": 1}  # control's own default, not dream.json's
    args = parser.parse_args(["probe", "control", "--set", "maskgit_steps=8", "--set", "action_guidance=2"])
    assert from_args(control.ControlSettings, args).overrides == {"maskgit_steps": 8, "action_guidance": 2}
    args = parser.parse_args(["probe", "hold-from-start"])
    assert from_args(hold_from_start.HoldFromStartSettings, args).overrides == {}
    for settings_class in (control.ControlSettings, hold_from_start.HoldFromStartSettings):
        with pytest.raises(ValueError, match="game is fixed in this probe"):
            settings_class(dream_overrides=["game=Pong"])
        with pytest.raises(ValueError, match="temperature must be >= 0"):
            settings_class(dream_overrides=["temperature=-1"])


def test_make_dream_passes_the_sampling_overrides_to_the_env_and_the_others_to_its_world_model(
        tiny_checkpoint: Path) -> None:
    env = control.make_dream(str(tiny_checkpoint), {"maskgit_steps": 2, "temperature": 0, "context_window": 4,
                                                    "dreams_per_pass": 1})
    try:
        dream = env.unwrapped
        assert (dream.maskgit_steps, dream.temperature, dream.action_guidance) == (2, 0.0, 0.0)
        assert dream.world_model.settings["context_window"] == 4 and dream.world_model.dreams_per_pass == 1
        assert env.spec.kwargs.get("maskgit_steps") == 2 and "context_window" not in env.spec.kwargs
    finally:
        env.close()


def test_sprite_measures_and_stop_step() -> None:
    background = np.zeros((64, 64, 3), dtype=np.uint8)
    frames = np.repeat(background[None], 3, axis=0)
    frames[1, 20:22, 10:12] = 255  # a 2 x 2 sprite at columns 10-11
    frames[2, 16:18, 14:16] = 255  # 4 rows higher, 4 columns further right
    frames[2, 60:62, 30:32] = 255  # below the play area: not a sprite
    counts, columns = control.sprite_stats(frames, background)
    assert counts.tolist() == [0, 4, 4] and np.isnan(columns[0]) and columns[1:].tolist() == [10.5, 14.5]
    assert control.sprite_rise(frames[1:], background) == 4.0
    assert control.stop_step([3.0, 1.0, 0.2, 0.0]) == 3 and control.stop_step([1.0]) is None


def test_mutual_information_of_codes_and_actions() -> None:
    actions = np.array([0, 1, 2, 3] * 8)
    assert lam.mutual_information(actions, actions) == pytest.approx(2.0)  # the code names the action
    assert lam.mutual_information(np.zeros_like(actions), actions) == pytest.approx(0.0)


def test_hold_from_start_and_long_dream_on_a_tiny_world_model(tiny_checkpoint: Path, capsys) -> None:
    assert main(["probe", "hold-from-start", "--checkpoint", str(tiny_checkpoint), "--seeds", "2", "--steps", "10",
                 "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "GenieDream-Benchmark-v0, 3 MaskGIT step(s)" in out and "RIGHT, DOWN on steps 30-33" in out
    assert out.count("dream 1 ") == 3 and out.count("the dreamed camera moved in") == 3
    assert main(["probe", "hold-from-start", "--checkpoint", str(tiny_checkpoint), "--seeds", "1", "--steps", "10",
                 "--set", "maskgit_steps=1", "--set", "action_guidance=0.5", "--set", "context_window=4"]) == 0
    assert "GenieDream-Benchmark-v0, 1 MaskGIT step(s), action guidance 0.5;" in capsys.readouterr().out
    assert main(["probe", "long-dream", "--checkpoint", str(tiny_checkpoint), "--seeds", "1", "--steps", "16",
                 "--moments", "14", "16", "--set", "maskgit_steps=1", "--set", "change_temperature=1",
                 "--set", "context_window=8"]) == 0
    out = capsys.readouterr().out
    assert "change temperature 1, context window 8," in out  # the --set overrides reach the dream
    table = out.splitlines()[-2:]
    assert [line.split()[:2] for line in table] == [["14", "1"], ["16", "1"]] and table[0].count(" dB") == 3
    for bad, message in (("temprature=1", "KEY one of"), ("change_temperature=-1", "change_temperature must be"),
                         ("maskgit_steps=1.5", "maskgit_steps takes a whole number")):
        assert main(["probe", "long-dream", "--checkpoint", str(tiny_checkpoint), "--set", bad]) == 1
        assert message in capsys.readouterr().err


def test_control_on_a_tiny_world_model(tiny_checkpoint: Path, smb_store: Path, capsys) -> None:
    assert main(["probe", "control", "--checkpoint", str(tiny_checkpoint), "--data", str(smb_store), "--episodes",
                 "2", "--steps", "3", "--walk-seeds", "2", "--brake-probe", "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "GenieDream-Benchmark-v0, 1 MaskGIT step(s), temperature 1," in out  # control's default, not dream.json's 3
    for section in ("level start (real reset)", "sprite pixels, real", "one dream per seed 100..101",
                    "JUMP held from step 4", "Walk probes", "after 6 steps", "Brake probe"):
        assert section in out, section


def test_lam_probe_reports_and_says_when_clips_are_too_long(smb_store: Path, tmp_path: Path, capsys) -> None:
    torch.manual_seed(0)
    model = LatentActionModel(LAMConfig(patch_size=8, d_model=32, num_heads=2, encoder_blocks=1, decoder_blocks=1,
                                        latent_dim=8))
    model.save_pretrained(tmp_path / "lam")
    assert main(["probe", "lam", "--lam", str(tmp_path / "lam"), "--data", str(smb_store), "--windows", "4"]) == 0
    out = capsys.readouterr().out
    assert "4 held-out clips of 8 frames" in out and "MSE ratio" in out and "mutual information" in out
    assert main(["probe", "lam", "--lam", str(tmp_path / "lam"), "--data", str(smb_store), "--window", "500"]) == 1
    assert "pass a shorter --window" in capsys.readouterr().err
