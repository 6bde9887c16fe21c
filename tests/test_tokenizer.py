"""The video tokenizer on real Super Mario Bros frames: overfitting, causality, codebook upkeep."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genie_gym
from genie_gym.models import TokenizerConfig, VideoTokenizer, frames_to_float
from genie_gym.models.configs import FrameTrainingOptions

TINY = dict(patch_size=8, d_model=64, num_heads=4, encoder_blocks=1, decoder_blocks=2, num_codes=256)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def smb_clip() -> torch.Tensor:
    """One real 16-frame clip uint8 (1, 16, 64, 64, 3) from the emulator: Mario walking right and jumping."""
    env = genie_gym.GenieRetroEnv("SMB")
    try:
        obs, _ = env.reset(seed=0)
        frames = [obs]
        for step in range(15):
            obs, *_ = env.step(4 if step % 5 == 2 else 0)
            frames.append(obs)
    finally:
        env.close()
    clip = np.stack(frames)[None]
    assert clip.shape == (1, 16, 64, 64, 3) and clip.dtype == np.uint8
    return torch.from_numpy(clip)


def _psnr(reconstruction: torch.Tensor, frames: torch.Tensor) -> float:
    mse = (reconstruction - frames_to_float(frames)).pow(2).mean(dim=(2, 3, 4))
    return float((-10 * torch.log10(mse)).mean())


def tiny_tokenizer(options: FrameTrainingOptions | None = None) -> VideoTokenizer:
    """A TINY tokenizer whose weights seed 0 draws, training with ``options``."""
    torch.manual_seed(0)
    return VideoTokenizer(TokenizerConfig(**TINY), options)


def test_overfits_one_real_clip_to_high_psnr(smb_clip):
    tokenizer = tiny_tokenizer(FrameTrainingOptions(dead_code_after=20, dead_code_check_every=20))
    optimizer = torch.optim.AdamW(tokenizer.parameters(), lr=3e-3, weight_decay=0.0)
    revived = 0.0
    for step in range(1, 501):
        loss, metrics = tokenizer.compute_loss({"frames": smb_clip})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        revived += tokenizer.maintenance_step(step)["revived"]
    assert set(metrics) >= {"mse", "psnr", "codebook_usage", "vq_loss", "dead_codes", "loss"}
    assert revived > 0, "unused codes of the random initial codebook should have been revived"
    tokenizer.eval()
    with torch.no_grad():
        psnr = _psnr(tokenizer.reconstruct(smb_clip), smb_clip)
        ids = tokenizer.encode(smb_clip)
        decoded = tokenizer.decode(ids)
    assert psnr > 30.0, f"tokenizer reached only {psnr:.1f} dB on the clip it was trained on"
    assert torch.allclose(decoded, tokenizer.reconstruct(smb_clip), atol=1e-5)
    assert torch.unique(ids).numel() > 32, "the clip should use many codes"


def test_shapes_dtypes_and_codebook(smb_clip):
    tokenizer = tiny_tokenizer().eval()
    with torch.no_grad():
        ids = tokenizer.encode(smb_clip[:, :4])
        images = tokenizer.decode(ids)
        from_float = tokenizer.encode(frames_to_float(smb_clip[:, :4]))
    assert ids.shape == (1, 4, 8, 8) and ids.dtype == torch.int64
    assert torch.equal(ids, from_float)
    assert images.shape == (1, 4, 3, 64, 64) and images.dtype == torch.float32
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    codes = tokenizer.codebook_vectors()
    assert codes.shape == (256, 32)
    assert torch.allclose(codes.norm(dim=-1), torch.ones(256), atol=1e-5)
    with pytest.raises(ValueError, match="frames"):
        tokenizer.encode(torch.zeros(1, 2, 32, 32, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"\[0, 256\)"):
        tokenizer.decode(torch.full((1, 1, 8, 8), 256))


def test_encode_and_decode_are_causal_in_time(smb_clip):
    tokenizer = tiny_tokenizer().eval()
    frames = smb_clip[:, :6]
    with torch.no_grad():
        ids = tokenizer.encode(frames)
        decoded = tokenizer.decode(ids)
        changed = frames.clone()
        changed[:, 4] = 255 - changed[:, 4]
        changed_ids = tokenizer.encode(changed)
        assert torch.equal(changed_ids[:, :4], ids[:, :4])
        assert not torch.equal(changed_ids[:, 4], ids[:, 4])
        other_ids = ids.clone()
        other_ids[:, 4] = (other_ids[:, 4] + 1) % 256
        assert torch.equal(tokenizer.decode(other_ids)[:, :4], decoded[:, :4])


def test_dead_codes_are_counted_and_revived_with_encoder_outputs(smb_clip):
    tokenizer = tiny_tokenizer(FrameTrainingOptions(dead_code_after=3, dead_code_check_every=5))
    _, metrics = tokenizer.compute_loss({"frames": smb_clip[:, :4]})
    used = tokenizer.quantizer.steps_since_used == 0
    assert 0 < int(used.sum()) < 256
    assert metrics["codebook_usage"] == pytest.approx(int(used.sum()) / 256)
    for _ in range(3):
        tokenizer.compute_loss({"frames": smb_clip[:, :4]})
    dead = tokenizer.quantizer.dead_code_mask()
    assert int(dead.sum()) >= 256 - int(used.sum())
    before = tokenizer.codebook_vectors().detach().clone()
    assert tokenizer.maintenance_step(4) == {"dead_codes": float(dead.sum()), "revived": 0.0}  # not a check step
    report = tokenizer.maintenance_step(5)
    assert report["revived"] == float(dead.sum()) and report["dead_codes"] == 0.0
    after = tokenizer.codebook_vectors().detach()
    assert torch.equal(after[~dead], before[~dead]), "live codes must not move"
    latents = torch.nn.functional.normalize(tokenizer.encode_latents(smb_clip[:, :4]).detach().reshape(-1, 32), dim=-1)
    nearest = (after[dead] @ latents.t()).amax(dim=1)
    assert float(nearest.min()) > 0.999, "revived codes must be recent encoder outputs"
    # explicit candidates
    tokenizer.quantizer.steps_since_used[:10] = 1000
    candidates = torch.randn(50, 32)
    assert tokenizer.revive_dead_codes(candidates) == 10
    unit = torch.nn.functional.normalize(candidates, dim=-1)
    assert float((tokenizer.codebook_vectors()[:10].detach() @ unit.t()).amax(dim=1).min()) > 0.999


def test_decoder_stream_equals_decoding_the_whole_clip(smb_clip):
    """Frame-by-frame decoding with the decoder cache gives the frames of one full decode (the dream's fast path)."""
    from genie_gym.models.tokenizer import DecoderStream

    tokenizer = tiny_tokenizer().eval()
    with torch.no_grad():
        ids = tokenizer.encode(smb_clip[:, :8])
        full = tokenizer.decode(ids)
        stream = DecoderStream(tokenizer, ids[:, :2], max_context_frames=16)
        streamed = torch.stack([stream.next_frame(ids[:, t]) for t in range(2, 8)], dim=1)
        assert torch.allclose(streamed, full[:, 2:], atol=1e-5)
        windowed = DecoderStream(tokenizer, ids[:, :2], max_context_frames=3)
        for t in range(2, 8):
            windowed.next_frame(ids[:, t])
        assert windowed.num_cached_frames == 3
    with pytest.raises(ValueError, match="token ids"):
        stream.next_frame(ids)
