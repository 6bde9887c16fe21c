import math

import pytest
import torch

from genie_gym.uncertainty import TokenEntropyReward, normalized_token_entropy


def test_entropy_is_normalised_between_certain_and_uniform():
    num_codes = 1024
    uniform = torch.zeros(2, num_codes)
    certain = torch.full((2, num_codes), -1e4)
    certain[:, 7] = 1e4
    assert torch.allclose(normalized_token_entropy(uniform), torch.ones(2), atol=1e-5)
    assert torch.allclose(normalized_token_entropy(certain), torch.zeros(2), atol=1e-5)
    two_way = torch.full((1, num_codes), -1e4)
    two_way[0, :2] = 0.0
    assert normalized_token_entropy(two_way).item() == pytest.approx(math.log(2) / math.log(num_codes), rel=1e-4)


def test_reward_averages_only_the_top_quarter():
    uncertainty = torch.zeros(1, 4, 4)
    uncertainty[0, 0, :4] = torch.tensor([1.0, 0.8, 0.6, 0.4])  # the 4 highest of 16 tokens
    assert TokenEntropyReward(0.25)(uncertainty).item() == pytest.approx(0.7)
    assert TokenEntropyReward(1.0)(uncertainty).item() == pytest.approx(2.8 / 16)


def test_reward_is_per_frame_and_rejects_bad_fraction():
    uncertainty = torch.stack([torch.full((8, 8), 0.2), torch.full((8, 8), 0.9)])
    assert torch.allclose(TokenEntropyReward()(uncertainty), torch.tensor([0.2, 0.9]))
    with pytest.raises(ValueError, match="top_fraction"):
        TokenEntropyReward(0.0)
