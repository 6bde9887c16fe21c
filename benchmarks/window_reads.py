"""Training-window reads per second from an episode store (random 16-frame windows, memory-mapped).

Prints reads/s of ``WindowDataset`` items drawn by ``RandomWindowSampler``: directly in this process, and through a
``DataLoader`` (batch 32) with 0 and 2 workers. Without ``--store`` a small store is collected first (SMB,
sticky-random agent) into a temporary directory, so the data sit in the page cache (the usual case for a store
smaller than RAM).

Usage: python benchmarks/window_reads.py [--store DIR] [--window 16] [--reads 20000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from genie_gym.agents.random_agent import agent_factory
from genie_gym.collection import collect
from genie_gym.data.window_dataset import RandomWindowSampler, WindowDataset

torch.set_num_threads(1)


def reads_per_second(dataset, reads: int, seed: int = 0) -> float:
    """Items per second of ``dataset[i]`` for ``reads`` random window indices."""
    indices = list(RandomWindowSampler(dataset, num_samples=reads, seed=seed))
    start = time.perf_counter()
    for index in indices:
        dataset[index]
    return reads / (time.perf_counter() - start)


def loader_reads_per_second(dataset, reads: int, workers: int, batch_size: int = 32) -> float:
    """Windows per second through a DataLoader (including worker start-up)."""
    sampler = RandomWindowSampler(dataset, num_samples=reads, seed=1)
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers)
    start = time.perf_counter()
    count = sum(batch["frames"].shape[0] for batch in loader)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--window", type=int, default=16)
    parser.add_argument("--reads", type=int, default=20000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="genie-bench-") as tmp:
        store = args.store
        if store is None:
            store = Path(tmp)
            collect(["SMB"], agent_factory("sticky-random"), episodes=16, max_steps=300, workers=2, out_dir=store,
                    seed=0, progress=False)
        dataset = WindowDataset(store, split="all", window=args.window)
        window_mb = args.window * 64 * 64 * 3 / 1e6
        print(f"{os.cpu_count()} CPU cores; {dataset}")
        direct = reads_per_second(dataset, args.reads)
        print(f"dataset[i], random {args.window}-frame windows: {direct:9.0f} reads/s ({direct * window_mb:.0f} MB/s)")
        for workers in (0, 2):
            rate = loader_reads_per_second(dataset, args.reads, workers)
            print(f"DataLoader(batch 32, num_workers={workers}):      {rate:9.0f} reads/s")


if __name__ == "__main__":
    main()
