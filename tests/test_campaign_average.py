"""campaign/average_weights.py: uniform and weighted means of checkpoints' tensors."""

from __future__ import annotations

import pytest
import torch

from campaign.average_weights import average_state_dicts


def test_uniform_and_weighted_means():
    a = {"w": torch.tensor([0.0, 4.0]), "count": torch.tensor(3)}
    b = {"w": torch.tensor([2.0, 0.0]), "count": torch.tensor(3)}
    assert torch.equal(average_state_dicts([a, b])["w"], torch.tensor([1.0, 2.0]))
    # weights are normalised: 3:1 is 0.75 / 0.25
    mixed = average_state_dicts([a, b], [3.0, 1.0])
    assert torch.allclose(mixed["w"], torch.tensor([0.5, 3.0])) and mixed["count"] == 3
    with pytest.raises(SystemExit, match="one non-negative weight per checkpoint"):
        average_state_dicts([a, b], [1.0])
    with pytest.raises(SystemExit, match="not all zero"):
        average_state_dicts([a, b], [0.0, 0.0])
    with pytest.raises(SystemExit, match="not one model"):
        average_state_dicts([a, {"w": b["w"], "count": torch.tensor(4)}])
