"""evals/dream_val.py: the dream's patch changes against the game's, and the ceiling of a perfect dynamics."""

from __future__ import annotations

import numpy as np
import torch

from evals import dream_val
from genie_gym.models.tokenizer import hold_unchanged_tokens
from genie_gym.world_model import WorldModel


def test_change_rates_count_spurious_and_missed_patches_by_hand():
    """Two 8x8 clips (four 4x4 patches), context 1: the game changes patch 0 in its first predicted frame; the dream
    changes patch 3 instead, then nothing."""
    frames = np.zeros((2, 3, 8, 8, 3), dtype=np.uint8)
    frames[0, 1:, :4, :4] = 9  # the game: patch 0 changes at frame 1 and stays
    predicted = np.zeros((2, 2, 8, 8, 3), dtype=np.uint8)
    predicted[0, :, 4:, 4:, 1] = 7  # the dream: patch 3 changes at frame 1 and stays
    rates = dream_val.change_rates(predicted, frames, 1, ["still", "moving"], 4)
    # 2 clips x 2 frames x 4 patches = 16 patch steps: one real change, one dreamed change, not the same patch
    assert rates["real"] == rates["dream"] == rates["spurious"] == rates["missed"] == 1 / 16
    assert rates["strata"]["still"] == {"real": 1 / 8, "dream": 1 / 8, "spurious": 1 / 8, "missed": 1 / 8}
    assert rates["strata"]["moving"] == {"real": 0.0, "dream": 0.0, "spurious": 0.0, "missed": 0.0}
    # the dream that repeats its last context frame misses the change and adds none
    still = dream_val.change_rates(np.repeat(frames[:, :1], 2, axis=1), frames, 1, ["still", "moving"], 4)
    assert (still["dream"], still["spurious"], still["missed"]) == (0.0, 0.0, 1 / 16)


def test_the_ceiling_of_a_still_clip_with_hold_pixels_is_the_clip_itself(tiny_checkpoint):
    """``WorldModel.decode_held`` with the real ids: on a clip whose frames repeat, held ids repeat, and the composed
    frames are the real ones exactly; without ``hold_pixels`` they are the decoder's approximation."""
    world_model = WorldModel.from_pretrained(tiny_checkpoint)
    rng = np.random.default_rng(0)
    frames = np.repeat(rng.integers(0, 256, (2, 1, 64, 64, 3), dtype=np.uint8), 5, axis=1)
    tokens = hold_unchanged_tokens(world_model.encode(frames), frames, world_model.tokenizer.config.patch_size)
    for hold in (True, False):
        sampling = world_model.dream_settings(hold_pixels=hold)
        composed = world_model.decode_held(frames[:, :2], tokens[:, :2], tokens[:, 2:], sampling)
        assert composed.shape == (2, 3, 64, 64, 3)
        assert np.array_equal(composed, frames[:, 2:]) == hold
    assert torch.equal(tokens[:, 2:], tokens[:, 1:2].expand(-1, 3, -1, -1))
