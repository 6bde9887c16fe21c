"""``genie data mix``: a store of links to other stores' episodes, with repeat counts and the cached token ids."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from genie_gym.cli import main as genie_main
from genie_gym.data.mix import MixSource, mix_stores
from genie_gym.data.store import EpisodeStore


def test_mix_links_episodes_with_repeats_and_carries_the_token_cache(smb_store, tmp_path, capsys):
    source = tmp_path / "source"
    shutil.copytree(smb_store, source)
    cache = source / ".tokens" / "0123456789abcdef"
    (cache / "SMB").mkdir(parents=True)
    (cache / "cache.json").write_text('{"kind": "tokens"}')
    ids = np.arange(41 * 4, dtype=np.int16).reshape(41, 2, 2)
    np.save(cache / "SMB" / "ep_000001.npy", ids)

    out = tmp_path / "mix"
    assert genie_main(["data", "mix", str(smb_store), f"{source}:2", "--out", str(out)]) == 0
    assert "mixed 12 episodes (SMB 12)" in capsys.readouterr().out

    mixed, original = EpisodeStore(out), EpisodeStore(smb_store)
    assert mixed.indices("SMB") == list(range(12))
    for new_index, old_index in ((0, 0), (3, 3), (4, 0), (9, 1), (11, 3)):
        new, old = mixed.load(("SMB", new_index)), original.load(("SMB", old_index))
        np.testing.assert_array_equal(new.frames, old.frames)
        np.testing.assert_array_equal(new.actions, old.actions)
    # source episode 1 appears at mix indices 5 and 9: its cached ids go there, under the same fingerprint
    linked = sorted(p.name for p in (out / ".tokens" / cache.name / "SMB").iterdir())
    assert linked == ["ep_000005.npy", "ep_000009.npy"]
    np.testing.assert_array_equal(np.load(out / ".tokens" / cache.name / "SMB" / "ep_000009.npy"), ids)
    assert (out / ".tokens" / cache.name / "cache.json").read_text() == '{"kind": "tokens"}'


def test_mix_refuses_an_existing_store_and_bad_sources(smb_store, tmp_path):
    out = tmp_path / "mix"
    mix_stores([MixSource(smb_store)], out)
    before = sorted(p.name for p in (out / "SMB").iterdir())
    with pytest.raises(FileExistsError, match="choose a new --out"):
        mix_stores([MixSource(smb_store)], out)
    assert sorted(p.name for p in (out / "SMB").iterdir()) == before  # nothing written over
    with pytest.raises(ValueError, match="repeat count must be >= 1"):
        MixSource.parse(f"{smb_store}:0")
    with pytest.raises(ValueError, match="DIR:K"):
        MixSource.parse(f"{smb_store}:x")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        mix_stores([MixSource(tmp_path / "missing")], tmp_path / "other")
    assert MixSource.parse(f"{smb_store}:3") == MixSource(smb_store, 3)
