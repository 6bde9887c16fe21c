"""Tokenize episode stores once with the shipped tokenizer, into the cache `genie train dynamics` reads.

The trainer caches in one process; this runs one store per process so that several cores tokenize at once. With
``--hold-unchanged`` it writes the cache of a ``hold_unchanged_tokens`` model, derived from the plain cache where
that exists (no encoder pass: holding ids is a cheap rule over ids and frames).

    python campaign/cache_tokens.py data/sub_right data/sub_runner &  python campaign/cache_tokens.py data/sub_start
    python campaign/cache_tokens.py --hold-unchanged data/train_s29
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from genie_gym.data.store import EpisodeStore
from genie_gym.models.checkpoint_io import load_pretrained
from genie_gym.models.tokenizer import hold_unchanged_tokens
from genie_gym.trainers.token_cache import DEFAULT_CHUNK, EpisodeArrayCache, encode_episode_tokens, model_fingerprint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stores", nargs="+")
    parser.add_argument("--tokenizer", default="checkpoints/genie-redux-g-smb/tokenizer")
    parser.add_argument("--hold-unchanged", action="store_true", help="the cache of a hold_unchanged_tokens model")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    checkpoint = Path(args.tokenizer)
    tokenizer = load_pretrained(checkpoint, expected_kind="tokenizer").eval()
    patch = tokenizer.config.patch_size
    plain_settings = {"chunk": DEFAULT_CHUNK}
    settings = {**plain_settings, "hold_unchanged": True} if args.hold_unchanged else plain_settings

    def encode(clips: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return tokenizer.encode(clips)

    for store_dir in args.stores:
        refs = EpisodeStore(store_dir).refs(split="all")
        lengths = [int(np.load(ref.frames_path, mmap_mode="r").shape[0]) for ref in refs]
        description = {"checkpoint": str(checkpoint.resolve()), **settings}
        cache = EpisodeArrayCache(store_dir, "tokens", model_fingerprint(checkpoint, settings), description)
        plain = EpisodeArrayCache(store_dir, "tokens", model_fingerprint(checkpoint, plain_settings))

        def episode_tokens(ref, frames: np.ndarray, plain: EpisodeArrayCache = plain) -> np.ndarray:
            if plain.has(ref, len(frames)):
                ids = np.asarray(plain.load(ref)).astype(np.int64)
            else:
                ids = encode_episode_tokens(frames, encode, DEFAULT_CHUNK)
            if args.hold_unchanged:
                ids = hold_unchanged_tokens(torch.from_numpy(ids)[None], np.asarray(frames)[None], patch)[0].numpy()
            return ids

        computed = 0
        for ref, length in zip(refs, lengths, strict=True):  # one episode at a time: the plain cache is per episode
            if cache.has(ref, length):
                continue
            frames = np.load(ref.frames_path, mmap_mode="r", allow_pickle=False)
            cache.write(ref, episode_tokens(ref, frames))
            computed += 1
        (cache.root / "cache.json").write_text(json.dumps(
            {"kind": "tokens", "fingerprint": cache.fingerprint, "format": 1, **description}, indent=2) + "\n")
        print(f"{store_dir}: {computed} episodes into {cache.root}", flush=True)


if __name__ == "__main__":
    main()
