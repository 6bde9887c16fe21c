"""Token ids (and LAM actions) are computed once per episode, cached atomically next to the store, reused, invalidated.

Runs on a copy of the shared tiny real store of Super Mario Bros episodes (``smb_store``) and a tiny real tokenizer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from genie_gym.data.window_dataset import WindowDataset
from genie_gym.models.checkpoint_io import save_pretrained
from genie_gym.models.configs import TokenizerConfig
from genie_gym.models.tokenizer import VideoTokenizer
from genie_gym.trainers.tasks import cache_tokens
from genie_gym.trainers.token_cache import TokenWindowDataset, encode_episode_tokens, infer_episode_actions

torch.set_num_threads(1)
TINY_TOKENIZER = dict(patch_size=8, d_model=32, num_heads=2, encoder_blocks=1, decoder_blocks=1, num_codes=64)


def tiny_tokenizer(seed: int) -> VideoTokenizer:
    """A small randomly initialised tokenizer (8x8 tokens per frame, 64 codes)."""
    torch.manual_seed(seed)
    return VideoTokenizer(TokenizerConfig(**TINY_TOKENIZER)).eval()


class CountingTokenizer(torch.nn.Module):
    """Wraps a tokenizer and counts the frames it encodes (to prove a cached run encodes nothing)."""

    def __init__(self, tokenizer: VideoTokenizer) -> None:
        super().__init__()
        self.inner = tokenizer
        self.frames_encoded = 0

    def encode(self, clips: torch.Tensor) -> torch.Tensor:
        self.frames_encoded += clips.shape[0] * clips.shape[1]
        return self.inner.encode(clips)


@pytest.fixture(scope="module")
def store(smb_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable copy of the shared SMB store (the cache writes ``<store>/.tokens``)."""
    copy = tmp_path_factory.mktemp("token_cache") / "store"
    shutil.copytree(smb_store, copy)
    return copy


def test_episode_chunking_labels_every_frame_and_transition_once() -> None:
    frames = np.zeros((37, 64, 64, 3), np.uint8)
    frames[:, 0, 0, 0] = np.arange(37)

    def encode(clips: torch.Tensor) -> torch.Tensor:  # id = frame number * 100 + position inside its clip
        t = clips.shape[1]
        return (clips[:, :, 0, 0, 0].long() * 100 + torch.arange(t))[:, :, None, None].expand(-1, -1, 2, 2)

    ids = encode_episode_tokens(frames, encode, chunk=16, batch=2)
    assert ids.shape == (37, 2, 2)
    assert ids[:, 0, 0].tolist() == [f * 100 + f % 16 for f in range(37)]  # clips [0,16) [16,32) [32,37)

    def infer(clips: torch.Tensor) -> torch.Tensor:  # the "action" of t -> t+1 is t+1
        return clips[:, 1:, 0, 0, 0].long()

    actions = infer_episode_actions(frames, infer, chunk=16, batch=2)
    assert actions.tolist() == list(range(1, 37))
    assert infer_episode_actions(frames[:31], infer, chunk=16).tolist() == list(range(1, 31))  # exactly 2 clips


def test_tokens_are_cached_once_reused_and_invalidated(tmp_path: Path, store: Path) -> None:
    windows = WindowDataset(store, split="train", window=8)
    tokenizer_a = tiny_tokenizer(seed=0)
    checkpoint_a = save_pretrained(tokenizer_a, tmp_path / "tok_a")

    first = CountingTokenizer(tokenizer_a)
    cache = cache_tokens(windows, first, checkpoint_a, ctx=None, progress=False)
    total_frames = int(windows.lengths.sum())
    assert first.frames_encoded == total_frames
    files = sorted(cache.root.rglob("ep_*.npy"))
    assert [f.relative_to(cache.root).as_posix() for f in files] == [
        f"{ref.game}/{ref.path.name}.npy" for ref in windows.episodes
    ]
    assert cache.root.parent == store / ".tokens"
    ref = windows.episodes[0]
    cached = cache.load(ref)
    assert cached.dtype == np.int16 and cached.shape == (windows.lengths[0], 8, 8)
    frames = torch.from_numpy(np.load(ref.frames_path))
    with torch.no_grad():
        assert np.array_equal(cached[:16], tokenizer_a.encode(frames[None, :16])[0].numpy())
        assert np.array_equal(cached[16:32], tokenizer_a.encode(frames[None, 16:32])[0].numpy())
    stamps = [f.stat().st_mtime_ns for f in files]

    # Second run with the same checkpoint: nothing is encoded, nothing rewritten.
    second = CountingTokenizer(tokenizer_a)
    again = cache_tokens(windows, second, checkpoint_a, ctx=None, progress=False)
    assert second.frames_encoded == 0 and again.root == cache.root
    assert [f.stat().st_mtime_ns for f in files] == stamps
    # A lost file (e.g. an interrupted build) is the only one recomputed.
    files[-1].unlink()
    third = CountingTokenizer(tokenizer_a)
    cache_tokens(windows, third, checkpoint_a, ctx=None, progress=False)
    assert third.frames_encoded == windows.lengths[-1]
    assert not list(cache.root.rglob(".*.tmp"))

    # Another tokenizer: a new cache directory, everything encoded again.
    tokenizer_b = tiny_tokenizer(seed=1)
    checkpoint_b = save_pretrained(tokenizer_b, tmp_path / "tok_b")
    other = CountingTokenizer(tokenizer_b)
    cache_b = cache_tokens(windows, other, checkpoint_b, ctx=None, progress=False)
    assert cache_b.root != cache.root and other.frames_encoded == total_frames

    dataset = TokenWindowDataset(windows, cache)
    assert len(dataset) == len(windows)
    for index in (0, len(dataset) - 1):
        item, (ref, start) = dataset[index], windows.locate(index)
        assert item["tokens"].dtype == torch.int64 and item["tokens"].shape == (8, 8, 8)
        assert torch.equal(item["tokens"], torch.from_numpy(cache.load(ref)[start : start + 8].astype(np.int64)))
        assert torch.equal(item["actions"], windows[index]["actions"])


def test_a_mixed_store_encodes_each_linked_episode_once(tmp_path: Path, store: Path) -> None:
    """``genie data mix A:3`` links every episode three times: the cache encodes it once and links the other names."""
    from genie_gym.data.mix import MixSource, mix_stores

    mixed = tmp_path / "mixed"
    mix_stores([MixSource.parse(f"{store}:3")], mixed)
    windows = WindowDataset(mixed, split="all", window=8)
    checkpoint = save_pretrained(tiny_tokenizer(seed=2), tmp_path / "tok")
    counting = CountingTokenizer(tiny_tokenizer(seed=2))
    cache = cache_tokens(windows, counting, checkpoint, ctx=None, progress=False)
    assert len(windows.episodes) % 3 == 0 and counting.frames_encoded * 3 == int(windows.lengths.sum())
    third = len(windows.episodes) // 3
    for index in (0, third - 1):
        copies = [cache.path(windows.episodes[index + k * third]) for k in range(3)]
        assert all(np.array_equal(cache.load(windows.episodes[index]), np.load(path)) for path in copies)
        assert len({path.stat().st_ino for path in copies}) == 1  # hard links, not three arrays
    # A lost copy is linked again from the ones left, without encoding.
    cache.path(windows.episodes[third]).unlink()
    again = CountingTokenizer(tiny_tokenizer(seed=2))
    cache_tokens(windows, again, checkpoint, ctx=None, progress=False)
    assert again.frames_encoded == 0 and cache.path(windows.episodes[third]).is_file()
