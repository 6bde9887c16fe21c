"""`genie data info STORE` counts the episodes of each start state, on a tiny real SMB store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genie_gym.cli import main
from genie_gym.roms import rom_status


def _state_rows(out: str) -> dict[str, list[str]]:
    section = out.split("episodes per start state:\n", 1)[1].splitlines()
    assert section[0].split() == ["game", "start", "state", "episodes", "frames"]
    rows = {}
    for line in section[1:]:
        if not line.startswith("SMB "):
            break
        parts = line.split()
        rows[" ".join(parts[1:-2])] = parts[-2:]
    return rows


def test_data_info_counts_episodes_per_start_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not rom_status("SuperMarioBros-Nes-v0").playable:
        pytest.skip("ROMs not installed: run `genie roms install`")
    from genie_gym.agents.random_agent import agent_factory
    from genie_gym.collection import collect

    store = tmp_path / "store"
    collect(["SMB"], agent_factory("random"), episodes=5, max_steps=6, workers=0, out_dir=store, seed=0,
            progress=False, states=["Level1-1", "Level2-1"])
    metas = {p.parent.name: json.loads(p.read_text()) for p in sorted((store / "SMB").glob("ep_*/meta.json"))}
    assert [m["state"] for m in metas.values()] == ["Level1-1", "Level2-1", "Level1-1", "Level2-1", "Level1-1"]
    lengths = {state: sum(m["length"] for m in metas.values() if m["state"] == state)
               for state in ("Level1-1", "Level2-1")}

    assert main(["data", "info", str(store)]) == 0
    rows = _state_rows(capsys.readouterr().out)
    assert rows == {"Level1-1": ["3", str(lengths["Level1-1"])], "Level2-1": ["2", str(lengths["Level2-1"])]}

    # an episode from before the state was recorded counts under the game's default start state, named
    meta_path = store / "SMB" / "ep_000001" / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["state"]
    meta_path.write_text(json.dumps(meta))
    assert main(["data", "info", str(store)]) == 0
    rows = _state_rows(capsys.readouterr().out)
    assert rows["Level2-1"][0] == "1" and rows["Level1-1 (default, not recorded)"] == ["1", str(meta["length"])]
