"""The latent action model: the inferred latent action carries the change between real SMB frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genie_gym
from genie_gym.models import LAMConfig, LatentActionModel, frames_to_float

TINY = dict(patch_size=8, d_model=64, num_heads=4, encoder_blocks=1, decoder_blocks=2)
# Camera moves applied to real frames: pan by one patch right, pan down, stay still.
MOVES = ((0, 8), (8, 0), (0, 0))


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def smb_frames() -> torch.Tensor:
    """Four different real SMB frames, uint8 (4, 64, 64, 3)."""
    env = genie_gym.GenieRetroEnv("SMB")
    frames = []
    try:
        obs, _ = env.reset(seed=0)
        for step in range(80):
            obs, *_ = env.step(4 if step % 9 == 4 else 0)
            if step % 20 == 19:
                frames.append(obs)
    finally:
        env.close()
    return torch.from_numpy(np.stack(frames))


def _transitions(frames: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips (N, 2, 64, 64, 3): every real frame followed by each camera move of it; and the move ids (N,)."""
    clips, moves = [], []
    for frame in frames:
        for move, shift in enumerate(MOVES):
            clips.append(torch.stack([frame, torch.roll(frame, shifts=shift, dims=(0, 1))]))
            moves.append(move)
    return torch.stack(clips), torch.tensor(moves)


def test_latent_action_carries_the_change_to_the_next_frame(smb_frames):
    torch.manual_seed(0)
    clips, moves = _transitions(smb_frames)
    lam = LatentActionModel(LAMConfig(**TINY, dead_code_after=20, dead_code_check_every=20))
    optimizer = torch.optim.AdamW(lam.parameters(), lr=3e-3, weight_decay=0.0)
    for step in range(1, 261):
        loss, metrics = lam.compute_loss({"frames": clips})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        lam.maintenance_step(step)
    assert set(metrics) >= {"loss", "mse", "vq_loss", "psnr", "codebook_usage", "dead_codes"}
    lam.eval()
    target = frames_to_float(clips[:, 1:])
    with torch.no_grad():
        inferred = lam.infer_actions(clips)
        error_inferred = float((lam.predict_next_frames(clips, inferred) - target).pow(2).mean())
        errors_wrong = [
            float((lam.predict_next_frames(clips, (inferred + shift) % 7) - target).pow(2).mean())
            for shift in range(1, 7)
        ]
    assert inferred.shape == (12, 1) and inferred.dtype == torch.int64
    assert error_inferred < 0.7 * min(errors_wrong), (error_inferred, errors_wrong)
    codes_per_move = [set(inferred[moves == move, 0].tolist()) for move in range(len(MOVES))]
    assert len(set.union(*codes_per_move)) >= 2, "different camera moves must get different latent actions"


def test_action_encoder_and_decoder_are_causal(smb_frames):
    torch.manual_seed(0)
    lam = LatentActionModel(LAMConfig(**TINY)).eval()
    frames = smb_frames[None].repeat(1, 2, 1, 1, 1)[:, :6]  # (1, 6, 64, 64, 3)
    with torch.no_grad():
        actions = lam.encode_actions(frames)
        changed = frames.clone()
        changed[:, 4] = 255 - changed[:, 4]
        changed_actions = lam.encode_actions(changed)
        # action t encodes frames t -> t+1: actions 0..2 only see frames <= 3
        assert torch.equal(changed_actions.vectors[:, :3], actions.vectors[:, :3])
        assert not torch.equal(changed_actions.latents[:, 3], actions.latents[:, 3])
        ids = actions.ids
        predicted = lam.predict_next_frames(frames, ids)
        assert predicted.shape == (1, 5, 3, 64, 64)
        other = ids.clone()
        other[:, 3] = (other[:, 3] + 1) % 7
        assert torch.equal(lam.predict_next_frames(frames, other)[:, :3], predicted[:, :3])
        assert torch.equal(lam.predict_next_frames(changed, ids)[:, :4], predicted[:, :4])
    with pytest.raises(ValueError, match="at least 2 frames"):
        lam.infer_actions(frames[:, :1])
