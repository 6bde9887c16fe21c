"""Shared pytest fixtures (keep this small and generic).

The machine has 2 CPU cores shared by several test runs: torch (and OpenMP libraries) use one thread.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")  # read by torch (and children such as DataLoader workers) at import
if "torch" in sys.modules:
    sys.modules["torch"].set_num_threads(1)


@pytest.fixture(scope="session")
def smb_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real episode store, collected once per session (treat it as read-only).

    4 Super Mario Bros episodes (indices 0-3) of at most 41 frames (40 steps), sticky-random agent, seed 3,
    collected in the test process. Copy it (``shutil.copytree``) before modifying anything.
    """
    from agents.random_agent import agent_factory
    from genie_gym.collection import collect

    out = tmp_path_factory.mktemp("smb_store")
    collect(["SMB"], agent_factory("sticky-random"), episodes=4, max_steps=40, workers=0, out_dir=out, seed=3,
            progress=False)
    return out
