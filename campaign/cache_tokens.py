"""Tokenize episode stores once with the shipped tokenizer, into the cache `genie train dynamics` reads.

The trainer caches in one process; this runs one store per process so that several cores tokenize at once:

    python campaign/cache_tokens.py data/sub_right data/sub_runner &  python campaign/cache_tokens.py data/sub_start
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from genie_gym.data.store import EpisodeStore
from genie_gym.models.checkpoint_io import load_pretrained
from trainers.token_cache import DEFAULT_CHUNK, EpisodeArrayCache, encode_episode_tokens, model_fingerprint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stores", nargs="+")
    parser.add_argument("--tokenizer", default="checkpoints/genie-redux-g-smb/tokenizer")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    checkpoint = Path(args.tokenizer)
    tokenizer = load_pretrained(checkpoint, expected_kind="tokenizer").eval()
    settings = {"chunk": DEFAULT_CHUNK}

    def encode(clips: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return tokenizer.encode(clips)

    for store_dir in args.stores:
        refs = EpisodeStore(store_dir).refs(split="all")
        lengths = [_length(ref) for ref in refs]
        cache = EpisodeArrayCache(store_dir, "tokens", model_fingerprint(checkpoint, settings),
                                  {"checkpoint": str(checkpoint.resolve()), **settings})
        computed = cache.build(refs, lengths, lambda frames: encode_episode_tokens(frames, encode, DEFAULT_CHUNK),
                               progress=False)
        print(f"{store_dir}: {computed} episodes tokenized into {cache.root}", flush=True)


def _length(ref) -> int:
    import numpy as np

    return int(np.load(ref.frames_path, mmap_mode="r", allow_pickle=False).shape[0])


if __name__ == "__main__":
    main()
