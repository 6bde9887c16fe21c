"""Episode store (atomic writes, split, corruption), WindowDataset, RandomWindowSampler and GIF preview."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from genie_gym.cli import main as genie_main
from genie_gym.data.store import (
    CorruptEpisodeError,
    EpisodeExistsError,
    EpisodeStore,
    _host_tag,
    check_episode,
    split_hash,
    validation_indices,
    write_episode,
)
from genie_gym.data.window_dataset import RandomWindowSampler, WindowDataset

torch.set_num_threads(1)


def synthetic_episode(length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random frames uint8 (length, 64, 64, 3) and actions int64 (length-1,)."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, size=(length, 64, 64, 3), dtype=np.uint8)
    return frames, rng.integers(0, 5, size=length - 1).astype(np.int64)


def test_write_load_roundtrip_and_no_overwrite(tmp_path: Path) -> None:
    frames, actions = synthetic_episode(12, 0)
    ref = write_episode(tmp_path, "SMB", 3, frames, actions, {"agent": "test", "seed": 1})
    assert ref.path == tmp_path / "SMB" / "ep_000003"
    assert sorted(p.name for p in ref.path.iterdir()) == ["actions.npy", "frames.npy", "meta.json"]
    assert list((tmp_path / "SMB").iterdir()) == [ref.path]  # the temp dir is gone
    store = EpisodeStore(tmp_path)
    for mmap in (False, True):
        episode = store.load(("SMB", 3), mmap=mmap, verify=True)
        np.testing.assert_array_equal(episode.frames, frames)
        np.testing.assert_array_equal(episode.actions, actions)
        assert episode.frames.dtype == np.uint8 and episode.actions.dtype == np.int64
    assert isinstance(np.load(ref.frames_path, mmap_mode="r"), np.memmap)
    meta = json.loads(ref.meta_path.read_text())
    assert meta["game"] == "SMB" and meta["length"] == 12 and meta["agent"] == "test" and meta["format_version"] == 1
    assert store.next_index("SMB") == 4 and store.games() == ["SMB"]
    with pytest.raises(EpisodeExistsError):
        write_episode(tmp_path, "SMB", 3, frames, actions)
    with pytest.raises(ValueError, match=r"T-1"):
        write_episode(tmp_path, "SMB", 4, frames, actions[:-2])
    with pytest.raises(ValueError, match="uint8"):
        write_episode(tmp_path, "SMB", 4, frames.astype(np.float32), actions)
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        write_episode(tmp_path, "SMB", 4, frames, actions + 5)
    assert store.indices("SMB") == [3]


def test_validation_split_is_stable_and_about_one_percent() -> None:
    indices = range(20000)
    val = validation_indices("SMB", indices)
    assert 0.007 < len(val) / 20000 < 0.013
    assert val == validation_indices("SMB", reversed(indices))  # deterministic, order-free
    assert validation_indices("Hero", indices) != val  # the hash includes the game
    for n in (2, 3, 10, 100, 1000, 5000):  # growing the store never moves an episode between splits
        assert validation_indices("SMB", range(n)) == {i for i in val if i < n}
    assert 0 in val  # the fallback: the first episode of a game with >= 2 episodes
    assert all(i == 0 or split_hash("SMB", i) < 0.01 for i in val)
    assert validation_indices("SMB", [0]) == set()  # a single episode stays in train
    for game in ("A", "B", "Pong", "SMB", "Hero"):
        assert len(validation_indices(game, [5, 9])) >= 1


def test_store_splits_partition_the_episodes(tmp_path: Path) -> None:
    for index in range(5):
        write_episode(tmp_path, "SMB", index, *synthetic_episode(3, index))
    write_episode(tmp_path, "Hero", 0, *synthetic_episode(3, 9))
    store = EpisodeStore(tmp_path)
    train, val = store.refs(split="train"), store.refs(split="val")
    assert sorted(train + val) == store.refs() and not set(train) & set(val)
    assert [r for r in val if r.game == "SMB"] and not [r for r in val if r.game == "Hero"]
    assert all(store.split_of(r) == "val" for r in val)
    with pytest.raises(ValueError, match="split"):
        store.refs(split="test")


def test_corrupt_episodes_give_clear_errors_and_the_rest_stays_readable(tmp_path: Path, capsys) -> None:
    for index in range(5):
        write_episode(tmp_path, "SMB", index, *synthetic_episode(20, index))
    store = EpisodeStore(tmp_path)
    ref = {i: store.ref("SMB", i) for i in range(5)}
    with open(ref[1].frames_path, "r+b") as f:  # truncated frames
        f.truncate(ref[1].frames_path.stat().st_size - 1000)
    ref[2].meta_path.write_text("{not json")  # bad JSON
    np.save(ref[3].actions_path, np.zeros(7, np.int64))  # frames/actions shape mismatch
    raw = bytearray(ref[4].frames_path.read_bytes())  # silent bit rot: only the checksum catches it
    raw[-1] ^= 0xFF
    ref[4].frames_path.write_bytes(bytes(raw))

    for index, path, reason in ((1, ref[1].frames_path, "truncated"), (2, ref[2].meta_path, "JSON"),
                                (3, ref[3].actions_path, "shape")):
        with pytest.raises(CorruptEpisodeError, match=reason) as info:
            store.load(ref[index])
        assert str(path) in str(info.value) and "rerun" in str(info.value) and info.value.path == path
    store.load(ref[4])  # the cheap check passes...
    with pytest.raises(CorruptEpisodeError, match="sha256"):
        store.load(ref[4], verify=True)  # ...the full one does not

    with pytest.warns(UserWarning) as caught:
        good = store.episodes(validate=True)
    assert sorted(str(w.message).split(":")[0] for w in caught) == [f"skipping SMB/ep_00000{i}" for i in (1, 2, 3)]
    assert [r.index for r in good] == [0, 4]
    assert [r.index for r, _ in store.bad_episodes()] == [1, 2, 3]
    assert [r.index for r in store.refs()] == [0, 1, 2, 3, 4]  # plain listing never reads files
    with pytest.warns(UserWarning):
        dataset = WindowDataset(tmp_path, split="all", window=8)
    assert [r.index for r in dataset.episodes] == [0, 4]

    assert genie_main(["data", "info", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "3 bad episodes" in out and str(ref[1].frames_path) in out and str(ref[2].meta_path) in out
    assert genie_main(["data", "info", str(tmp_path), "--verify"]) == 1
    assert "4 bad episodes" in capsys.readouterr().out


def test_temp_dirs_are_invisible_and_only_stale_ones_are_removed(tmp_path: Path) -> None:
    write_episode(tmp_path, "SMB", 0, *synthetic_episode(3, 0))
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / "SMB" / f".tmp.ep_000001.{dead.pid}.{_host_tag()}.beef"
    live = tmp_path / "SMB" / f".tmp.ep_000002.{os.getpid()}.{_host_tag()}.beef"
    old = tmp_path / "SMB" / ".tmp.ep_000003.1.otherhost.beef"
    for path in (stale, live, old):
        path.mkdir()
        (path / "frames.npy").write_bytes(b"partial")
    os.utime(old, (0, 0))  # written decades ago on another host
    store = EpisodeStore(tmp_path)
    assert store.indices("SMB") == [0] and len(store.temp_dirs()) == 3
    assert sorted(store.remove_stale_temp_dirs()) == sorted([stale, old])
    assert store.temp_dirs() == [live]


def test_window_dataset_shapes_alignment_and_strides(smb_store: Path) -> None:
    store = EpisodeStore(smb_store)
    lengths = [check_episode(r)["length"] for r in store.refs()]
    dataset = WindowDataset(smb_store, split="all", window=16)
    assert len(dataset) == sum(n - 15 for n in lengths) and dataset.games == ["SMB"]
    for index in (0, 1, len(dataset) // 2, len(dataset) - 1):
        item = dataset[index]
        assert item["frames"].dtype == torch.uint8 and item["frames"].shape == (16, 64, 64, 3)
        assert item["actions"].dtype == torch.int64 and item["actions"].shape == (15,)
        assert item["game_index"] == 0
        ref, start = dataset.locate(index)
        episode = store.load(ref)
        np.testing.assert_array_equal(item["frames"].numpy(), episode.frames[start : start + 16])
        np.testing.assert_array_equal(item["actions"].numpy(), episode.actions[start : start + 15])
    assert dataset.locate(len(dataset) - 1)[1] == lengths[-1] - 16
    with pytest.raises(IndexError):
        dataset[len(dataset)]

    strided = WindowDataset(smb_store, split="all", window=16, stride=8)
    assert len(strided) == sum((n - 16) // 8 + 1 for n in lengths)
    assert strided.locate(1)[1] == 8
    train, val = WindowDataset(smb_store, split="train"), WindowDataset(smb_store, split="val")
    assert len(train) + len(val) == len(dataset) and val.episodes == [store.ref("SMB", 0)]
    with pytest.raises(ValueError, match="no 100-frame windows"):
        WindowDataset(smb_store, window=100)


def test_window_dataset_skips_short_episodes(tmp_path: Path) -> None:
    for index, length in enumerate((10, 20, 16, 5)):
        write_episode(tmp_path, "SMB", index, *synthetic_episode(length, index))
    write_episode(tmp_path, "Hero", 0, *synthetic_episode(18, 7))
    dataset = WindowDataset(tmp_path, split="all", window=16, games=["SMB", "Hero"])
    assert [(r.game, r.index) for r in dataset.episodes] == [("SMB", 1), ("SMB", 2), ("Hero", 0)]
    assert len(dataset) == 5 + 1 + 3
    assert dataset[len(dataset) - 1]["game_index"] == 1 and dataset[0]["game_index"] == 0


def test_window_dataset_with_dataloader_workers_and_random_sampler(smb_store: Path) -> None:
    dataset = WindowDataset(smb_store, split="all", window=16)
    first = dataset[0]  # opens a memory map in this process before the workers fork
    clone = pickle.loads(pickle.dumps(dataset))  # what a spawn worker receives
    assert torch.equal(clone[0]["frames"], first["frames"]) and clone._cache is not dataset._cache

    sampler = RandomWindowSampler(dataset, num_samples=12, seed=5)
    drawn = list(sampler)
    assert drawn == list(RandomWindowSampler(dataset, num_samples=12, seed=5)) and len(set(drawn)) > 1
    sampler.set_epoch(1)
    assert list(sampler) != drawn
    sampler.set_epoch(0)
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, sampler=sampler, num_workers=2)
    batches = list(loader)
    assert len(batches) == 3
    assert batches[0]["frames"].shape == (4, 16, 64, 64, 3) and batches[0]["actions"].shape == (4, 15)
    for position, index in enumerate(drawn):
        batch = batches[position // 4]
        assert torch.equal(batch["frames"][position % 4], dataset[index]["frames"])
        assert torch.equal(batch["actions"][position % 4], dataset[index]["actions"])


def test_preview_gif(smb_store: Path, tmp_path: Path) -> None:
    import imageio.v3 as iio

    out = tmp_path / "preview.gif"
    assert genie_main(["data", "preview", str(smb_store), "--out", str(out), "--episodes", "3", "--frames", "20",
                       "--scale", "3"]) == 0
    gif = iio.imread(out, index=None)
    assert gif.shape == (20, 64 * 3 + 4, 3 * 64 * 3 + 8, 3)
    assert len({gif[t].tobytes() for t in range(20)}) > 1  # it moves


def test_info_counts(smb_store: Path, capsys) -> None:
    assert genie_main(["data", "info", str(smb_store)]) == 0
    out = capsys.readouterr().out
    assert "4 good episodes" in out and "bad episodes: none" in out
    assert any(line.split()[:3] == ["SMB", "val", "1"] for line in out.splitlines())
