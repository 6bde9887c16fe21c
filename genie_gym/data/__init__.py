"""Recorded episodes: the on-disk episode store, the training-window dataset, ``.npz`` interchange, GIF previews.

``WindowDataset`` and ``RandomWindowSampler`` import torch, so they are loaded on first access only.
"""

from __future__ import annotations

import importlib

from genie_gym.data.store import (
    FORMAT_VERSION,
    VAL_FRACTION,
    CorruptEpisodeError,
    Episode,
    EpisodeExistsError,
    EpisodeRef,
    EpisodeStore,
    check_episode,
    load_episode,
    split_hash,
    validation_indices,
    write_episode,
)

_LAZY = {
    "WindowDataset": "genie_gym.data.window_dataset",
    "RandomWindowSampler": "genie_gym.data.window_dataset",
    "import_npz": "genie_gym.data.interchange",
    "export_npz": "genie_gym.data.interchange",
    "read_npz": "genie_gym.data.interchange",
    "write_preview": "genie_gym.data.preview",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'genie_gym.data' has no attribute {name!r}")


__all__ = [
    "FORMAT_VERSION",
    "VAL_FRACTION",
    "CorruptEpisodeError",
    "Episode",
    "EpisodeExistsError",
    "EpisodeRef",
    "EpisodeStore",
    "check_episode",
    "load_episode",
    "split_hash",
    "validation_indices",
    "write_episode",
    *_LAZY,
]
