"""The CUDA paths: the shipped dream on the GPU, the cached sampler there, bf16 training steps.

Skipped on machines without CUDA (CI); run on a GPU machine by ``benchmarks/gpu_checks.sh``. Real frames come from
the emulator, or, where it is not installed, from the file named by ``GENIE_GYM_REAL_CONTEXTS`` (written by
``python -m benchmarks.dream_fps --save-context FILE``, i.e. real SMB frames recorded on a machine with the emulator).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from genie_gym.models.configs import DreamSettings

# GENIE_GYM_TEST_DEVICE=cpu runs these tests on the CPU (to check the tests themselves where no GPU is lent)
CUDA = torch.device(os.environ.get("GENIE_GYM_TEST_DEVICE", "cuda"))
pytestmark = pytest.mark.skipif(CUDA.type == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA device")


@pytest.fixture(scope="module")
def real_contexts() -> tuple[np.ndarray, np.ndarray]:
    """``(frames uint8 (8, 16, 64, 64, 3), actions int64 (8, 15))``: real SMB clips."""
    path = os.environ.get("GENIE_GYM_REAL_CONTEXTS")
    if path:
        with np.load(path, allow_pickle=False) as data:
            return data["frames"][:8, :16], data["actions"][:8, :15].astype(np.int64)
    from benchmarks import dream_fps  # imported here: only where no recorded contexts are given (needs the emulator)

    return dream_fps.real_context("SMB", 8, 16, seed=0)


@pytest.fixture(scope="module")
def shipped_cuda():
    from genie_gym.world_model import WorldModel

    return WorldModel.from_pretrained("smb", device=CUDA)


def _dream(world_model, frames: np.ndarray, actions: np.ndarray, steps: int) -> np.ndarray:
    state = world_model.start(frames[:, :2], actions[:, :1])
    generator = torch.Generator().manual_seed(0)
    out = [world_model.step(state, actions[:, 1 + t], generator=generator)[0] for t in range(steps)]
    return np.stack(out, axis=1)


def test_shipped_dream_on_cuda_is_seeded_and_agrees_with_the_cpu(shipped_cuda, real_contexts):
    from genie_gym.metrics import psnr
    from genie_gym.models.image_ops import frames_to_float
    from genie_gym.world_model import WorldModel

    frames, actions = real_contexts
    first = _dream(shipped_cuda, frames[:2], actions[:2], 4)
    again = _dream(shipped_cuda, frames[:2], actions[:2], 4)
    assert first.shape == (2, 4, 64, 64, 3) and first.dtype == np.uint8
    assert np.array_equal(first, again), "same seed, same dream on CUDA"
    cpu = _dream(WorldModel.from_pretrained("smb", device="cpu"), frames[:2], actions[:2], 1)
    agreement = psnr(frames_to_float(torch.from_numpy(first[:, 0])), frames_to_float(torch.from_numpy(cpu[:, 0])))
    print(f"first dreamed frame, CUDA vs CPU: {agreement:.1f} dB")
    assert agreement > 25.0


def test_cached_stream_matches_the_full_recompute_on_cuda(shipped_cuda, real_contexts):
    frames, actions = real_contexts
    dynamics = shipped_cuda.dynamics
    tokens = shipped_cuda.encode(frames[:4, :2])
    action_ids = torch.from_numpy(actions[:4, :5]).to(CUDA)
    full = dynamics.generate(tokens, action_ids, num_frames=4, mode="autoregressive", frames_per_step=1,
                             sampling=DreamSettings(maskgit_steps=8, temperature=1.0),
                             generator=torch.Generator().manual_seed(3), use_cache=False)
    stream = dynamics.start_stream(tokens, action_ids[:, :1], max_context_frames=None)
    generator = torch.Generator().manual_seed(3)
    cached = torch.stack(
        [stream.next_frame(action_ids[:, 1 + t], DreamSettings(maskgit_steps=8, temperature=1.0), generator)[0]
         for t in range(4)], dim=1
    )
    same = float((cached == full.tokens).float().mean())
    print(f"cached vs full recompute on CUDA: {same:.4%} of the tokens equal")
    assert same > 0.98


def _overfit(model: torch.nn.Module, batch: dict[str, torch.Tensor], steps: int = 60) -> tuple[float, float]:
    from genie_gym.trainers.optim import OptimizerSettings, build_optimizer, clip_gradients
    from genie_gym.trainers.training_loop import mixed_precision_context

    model.to(CUDA).train()
    optimizer = build_optimizer(model, OptimizerSettings(lr=1e-3))
    losses = []
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        with mixed_precision_context("auto", CUDA):  # bf16 autocast on CUDA
            loss, _ = model.compute_loss(batch)
        assert torch.isfinite(loss)
        loss.backward()
        clip_gradients(model.parameters(), 10.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses[0], float(np.mean(losses[-5:]))


def test_bf16_dynamics_training_on_cuda_overfits_real_tokens(shipped_cuda, real_contexts):
    from genie_gym.models.configs import get_config
    from genie_gym.models.dynamics import Dynamics

    frames, actions = real_contexts
    torch.manual_seed(0)
    model = Dynamics(get_config("dynamics", "small"), codebook=shipped_cuda.dynamics.codebook.detach().cpu())
    batch = {"tokens": shipped_cuda.encode(frames[:, :8]), "actions": torch.from_numpy(actions[:, :7]).to(CUDA)}
    first, last = _overfit(model, batch)
    print(f"dynamics bf16 loss {first:.3f} -> {last:.3f}")
    assert last < 0.7 * first


def test_bf16_tokenizer_training_on_cuda_reduces_the_loss(real_contexts):
    from genie_gym.models.configs import get_config
    from genie_gym.models.tokenizer import VideoTokenizer

    frames, _ = real_contexts
    torch.manual_seed(0)
    model = VideoTokenizer(get_config("tokenizer", "small"))
    first, last = _overfit(model, {"frames": torch.from_numpy(frames[:4, :8]).to(CUDA)})
    print(f"tokenizer bf16 loss {first:.4f} -> {last:.4f}")
    assert last < 0.7 * first
