"""``resolve_model_checkpoint``: the one rule for "a run directory or a checkpoint directory" (train, pack, probes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from genie_gym.commands.world_model_command import resolve_model_checkpoint as used_by_pack
from genie_gym.trainers.run_dir import resolve_model_checkpoint


def _checkpoint(directory: Path, training_state: bool = True) -> Path:
    directory.mkdir(parents=True)
    (directory / "config.json").write_text("{}")
    (directory / "model.safetensors").write_bytes(b"")
    if training_state:
        (directory / "training_state.pt").write_bytes(b"")
    return directory


def test_a_checkpoint_directory_is_itself(tmp_path: Path) -> None:
    checkpoint = _checkpoint(tmp_path / "model", training_state=False)
    assert resolve_model_checkpoint(checkpoint) == checkpoint
    assert used_by_pack is resolve_model_checkpoint, "genie world-model pack resolves by the same rule"


def test_a_run_directory_gives_the_checkpoint_latest_names(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _checkpoint(run / "checkpoints" / "step_0000005")
    older = _checkpoint(run / "checkpoints" / "step_0000003")
    (run / "latest").write_text("checkpoints/step_0000003\n")
    assert resolve_model_checkpoint(run) == older


def test_without_latest_the_newest_checkpoint_weights_only_included(tmp_path: Path) -> None:
    run = tmp_path / "run"
    _checkpoint(run / "checkpoints" / "step_0000009")
    newest = _checkpoint(run / "checkpoints" / "step_10000000", training_state=False)  # copied back without state
    (run / "checkpoints" / "step_11000000").mkdir()  # not a model
    (run / "latest").write_text("checkpoints/step_0000002\n")  # stale: pruned
    assert resolve_model_checkpoint(run) == newest


def test_says_what_to_pass_otherwise(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        resolve_model_checkpoint(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="pass a run directory written by `genie train`"):
        resolve_model_checkpoint(tmp_path)
