"""Interchange .npz: exact import/export round trips, length handling, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genie_gym.cli import main as genie_main
from genie_gym.data.interchange import export_npz, import_npz, read_npz
from genie_gym.data.store import EpisodeStore, write_episode


def interchange_arrays(episodes: int, length: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """frames uint8 (E, T, 64, 64, 3), actions int64 (E, T-1)."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(episodes, length, 64, 64, 3), dtype=np.uint8)
    return frames, rng.integers(0, 5, size=(episodes, length - 1)).astype(np.int64)


def test_npz_store_npz_round_trip_is_exact(tmp_path: Path, capsys) -> None:
    frames, actions = interchange_arrays(3, 20)
    source = tmp_path / "in.npz"
    np.savez(source, frames=frames, actions=actions)
    store_dir = tmp_path / "store"
    assert genie_main(["data", "import", str(source), "--game", "smb", "--out", str(store_dir)]) == 0
    assert "imported 3 episodes" in capsys.readouterr().out
    store = EpisodeStore(store_dir)
    assert store.indices("SMB") == [0, 1, 2]  # the annotated name's spelling
    assert store.load(("SMB", 1)).meta["agent"] == "import"

    out = tmp_path / "out.npz"
    assert genie_main(["data", "export", str(store_dir), "--out", str(out)]) == 0
    with np.load(out) as exported:
        assert sorted(exported.files) == ["actions", "frames"]
        assert exported["frames"].dtype == np.uint8 and exported["actions"].dtype == np.int64
        np.testing.assert_array_equal(exported["frames"], frames)
        np.testing.assert_array_equal(exported["actions"], actions)

    again = import_npz(source, store_dir, "SMB")  # importing the same file again writes nothing
    assert (again.imported, again.skipped) == (0, 3) and store.indices("SMB") == [0, 1, 2]
    np.savez(tmp_path / "more.npz", frames=frames, actions=actions)
    more = import_npz(tmp_path / "more.npz", store_dir, "SMB")  # another file appends after the existing episodes
    assert more.imported == 3 and [r.index for r in more.refs] == [3, 4, 5]
    assert store.indices("SMB") == list(range(6))
    summary = export_npz(store_dir, tmp_path / "cut.npz", length=7, compress=True)
    assert (summary.episodes, summary.length, summary.skipped) == (6, 7, 0)
    cut_frames, cut_actions = read_npz(tmp_path / "cut.npz")
    np.testing.assert_array_equal(cut_frames[3:], frames[:, :7])
    np.testing.assert_array_equal(cut_actions[:3], actions[:, :6])


def test_store_npz_store_round_trip_of_real_episodes(smb_store: Path, tmp_path: Path) -> None:
    original = EpisodeStore(smb_store)
    summary = export_npz(smb_store, tmp_path / "smb.npz")
    length = summary.length
    assert summary.episodes == 4
    import_npz(tmp_path / "smb.npz", tmp_path / "copy", "SMB")
    copy = EpisodeStore(tmp_path / "copy")
    for ref in original.refs():
        a, b = original.load(ref), copy.load(("SMB", ref.index))
        np.testing.assert_array_equal(b.frames, a.frames[:length])
        np.testing.assert_array_equal(b.actions, a.actions[: length - 1])


def test_export_of_unequal_lengths_cuts_to_the_shortest_or_to_length(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(1)
    for index, length in enumerate((10, 25, 18)):
        frames = rng.integers(0, 256, size=(length, 64, 64, 3), dtype=np.uint8)
        write_episode(tmp_path, "SMB", index, frames, rng.integers(0, 5, size=length - 1))
    default = export_npz(tmp_path, tmp_path / "a.npz")
    assert (default.episodes, default.length, default.skipped) == (3, 10, 0)
    assert genie_main(["data", "export", str(tmp_path), "--out", str(tmp_path / "b.npz"), "--length", "18"]) == 0
    assert "2 episodes of 18 frames" in capsys.readouterr().out
    frames, actions = read_npz(tmp_path / "b.npz")
    assert frames.shape == (2, 18, 64, 64, 3) and actions.shape == (2, 17)
    np.testing.assert_array_equal(frames[1], EpisodeStore(tmp_path).load(("SMB", 2)).frames)
    with pytest.raises(ValueError, match="smaller --length"):
        export_npz(tmp_path, tmp_path / "c.npz", length=26)
    assert not (tmp_path / "c.npz").exists()


def _bad_files():
    frames, actions = interchange_arrays(2, 6)
    return {
        "missing key": ({"frames": frames}, r"lacks key\(s\) \['actions'\]"),
        "float frames": ({"frames": frames.astype(np.float32), "actions": actions}, "frames must be uint8"),
        "small frames": ({"frames": frames[:, :, :32, :32], "actions": actions}, r"\(E, T, 64, 64, 3\)"),
        "int32 actions": ({"frames": frames, "actions": actions.astype(np.int32)}, "actions must be int64"),
        "misaligned": ({"frames": frames, "actions": np.zeros((2, 6), np.int64)}, "misaligned"),
        "episode count": ({"frames": frames, "actions": actions[:1]}, r"\(E, T-1\) = \(2, 5\)"),
        "bad action": ({"frames": frames, "actions": actions + 5}, r"\[0, 5\)"),
    }


@pytest.mark.parametrize("case", list(_bad_files()))
def test_bad_npz_gives_one_clear_error(case: str, tmp_path: Path, capsys) -> None:
    arrays, message = _bad_files()[case]
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message) as info:
        import_npz(path, tmp_path / "store", "SMB")
    assert str(path) in str(info.value)
    assert EpisodeStore(tmp_path / "store").refs() == []  # nothing half-imported
    assert genie_main(["data", "import", str(path), "--game", "SMB", "--out", str(tmp_path / "store")]) == 1
    assert "genie data: error:" in capsys.readouterr().err


def test_unreadable_files(tmp_path: Path) -> None:
    not_zip = tmp_path / "junk.npz"
    not_zip.write_bytes(b"definitely not a zip archive")
    with pytest.raises(ValueError, match="not a readable .npz"):
        read_npz(not_zip)
    single = tmp_path / "single.npz"
    with open(single, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(ValueError, match="single .npy array"):
        read_npz(single)
    with pytest.raises(FileNotFoundError):
        read_npz(tmp_path / "missing.npz")
    frames, actions = interchange_arrays(1, 3)
    np.savez(tmp_path / "ok.npz", frames=frames, actions=actions)
    with pytest.raises(ValueError, match="invalid game name"):
        import_npz(tmp_path / "ok.npz", tmp_path / "store", "../evil")
