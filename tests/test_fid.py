"""FID: the distance itself against closed forms, and the local-weights loader (the real FID Inception weights
cannot be downloaded here, so the network is exercised with its own randomly initialised weights saved to disk)."""

import numpy as np
import pytest
import torch

from genie_gym.fid import (
    FIDInceptionV3,
    FIDWeightsError,
    frechet_distance,
    frechet_inception_distance,
    load_fid_inception,
)


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = a + np.array([1.0, 2.0, 0.0])
    assert frechet_distance(a, shifted) == pytest.approx(5.0, rel=1e-3)  # only the means differ
    scaled = a * 2.0  # N(0, I) vs N(0, 4I): 3 * (1 + 4 - 2*2) = 3
    assert frechet_distance(a, scaled) == pytest.approx(3.0, rel=0.05)


def test_weights_file_round_trip_and_errors(tmp_path):
    torch.manual_seed(0)
    model = FIDInceptionV3().eval()
    weights = tmp_path / "inception.pth"
    torch.save(model.state_dict(), weights)
    loaded = load_fid_inception(weights)
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded(images), model(images), atol=1e-5)
        assert loaded(images).shape == (2, 2048)

    with pytest.raises(FIDWeightsError, match="never downloaded"):
        load_fid_inception(tmp_path / "absent.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(1008, 2048)}, bad)
    with pytest.raises(FIDWeightsError, match="not an FID Inception-v3"):
        load_fid_inception(bad)


def _scale_preserving_network() -> FIDInceptionV3:
    """A randomly initialised network whose activations keep their scale through the 90+ layers."""
    model = FIDInceptionV3()
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    return model


def test_fid_same_frames_is_zero_and_different_frames_positive(tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "inception.pth"
    torch.save(_scale_preserving_network().state_dict(), weights)
    rng = np.random.default_rng(1)
    real = rng.integers(0, 255, size=(12, 64, 64, 3), dtype=np.uint8)
    other = np.zeros_like(real)
    other[:, :32] = 255
    assert frechet_inception_distance(real, real, weights) == pytest.approx(0.0, abs=1e-3)
    assert frechet_inception_distance(other, real, weights) > 1e-3
