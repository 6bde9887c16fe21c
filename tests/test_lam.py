"""The latent action model: the inferred latent action carries the change between real SMB frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genie_gym
from genie_gym.models import LAMConfig, LatentActionModel, frames_to_float
from genie_gym.models.configs import FrameTrainingOptions

TINY = dict(patch_size=8, d_model=64, num_heads=4, encoder_blocks=1, decoder_blocks=2)
BRANCH_ACTIONS = (0, 1, 4)  # RIGHT, LEFT, JUMP
PREFIXES = tuple(range(6, 54, 6))  # steps into the level (walking right, jumping now and then) before branching
HOLD = 3  # steps each branch holds its action: the transition is frame t -> frame t + 3

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def smb_transitions() -> torch.Tensor:
    """Real SMB transitions where the action matters: from 8 states of the level, the same state continued with
    RIGHT, LEFT or JUMP for 3 steps. uint8 ``(24, 2, 64, 64, 3)``: (frame t, frame t + 3) per branch."""
    env = genie_gym.GenieRetroEnv("SMB")
    clips = []
    try:
        for prefix in PREFIXES:
            for action in BRANCH_ACTIONS:
                obs, _ = env.reset(seed=0)
                for step in range(prefix):
                    obs, *_ = env.step(4 if step % 11 == 5 else 0)
                first = obs
                for _ in range(HOLD):
                    obs, *_ = env.step(action)
                clips.append(np.stack([first, obs]))
    finally:
        env.close()
    clips = torch.from_numpy(np.stack(clips))
    assert torch.equal(clips[0, 0], clips[1, 0]), "the branches of one state must start from the same frame"
    return clips


def test_latent_action_carries_the_change_to_the_next_frame(smb_transitions):
    """Trained on real transitions, the decoder predicts frame t + 3 better with the inferred latent action than with
    any other, and the latent actions are not all one code (the codes collapsed onto one direction before the
    latents were centred, and the decoder then ignored them: ratio 1.000)."""
    torch.manual_seed(0)
    clips = smb_transitions
    lam = LatentActionModel(LAMConfig(**TINY), FrameTrainingOptions(dead_code_after=20, dead_code_check_every=20))
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
        codes = lam.quantizer.codebook_vectors()
    assert inferred.shape == (len(clips), 1) and inferred.dtype == torch.int64
    print(f"MSE inferred / best other latent action: {error_inferred / min(errors_wrong):.3f}")
    assert error_inferred < 0.9 * min(errors_wrong), (error_inferred, errors_wrong)
    assert len(set(inferred[:, 0].tolist())) >= 3, "the transitions must get different latent actions"
    off_diagonal = (codes @ codes.T)[~torch.eye(7, dtype=torch.bool)]
    assert float(off_diagonal.mean()) < 0.5, "latent action codes collapsed onto one direction"


def test_action_encoder_and_decoder_are_causal(smb_transitions):
    torch.manual_seed(0)
    lam = LatentActionModel(LAMConfig(**TINY)).eval()
    frames = smb_transitions[::3].reshape(1, -1, 64, 64, 3)[:, :6]  # (1, 6, 64, 64, 3) real frames
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
