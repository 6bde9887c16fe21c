"""FID: the distance itself against closed forms, and the local-weights loader (the real FID Inception weights
cannot be downloaded here, so the network is exercised with its own randomly initialised weights saved to disk)."""

import numpy as np
import pytest
import torch

from evals import fid_real_vs_real
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


# --- TorchScript exports of the FID Inception (genie_gym/fid_weights.py) ---


def test_torchscript_archive_tensors_are_read_without_running_its_code(tmp_path):
    from genie_gym.fid_weights import is_torchscript_archive, read_torchscript_tensors

    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 2, (1, 3)))
    module[1].running_mean.uniform_()
    path = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(module), str(path))
    assert is_torchscript_archive(path)
    tensors = read_torchscript_tensors(path)
    expected = module.state_dict()
    assert set(tensors) == set(expected)
    for name, value in expected.items():
        assert torch.equal(tensors[name], value), name
    plain = tmp_path / "plain.pth"
    torch.save(expected, plain)
    assert not is_torchscript_archive(plain) and not is_torchscript_archive(tmp_path / "absent.pt")


def test_torchscript_reader_refuses_code_and_foreign_archives(tmp_path):
    import pickle
    import zipfile

    from genie_gym.fid_weights import TorchScriptWeightsError, read_torchscript_tensors

    class Payload:
        def __reduce__(self):
            return (print, ("this must never run",))

    archive = tmp_path / "evil.pt"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("m/data.pkl", pickle.dumps(Payload()))
        zf.writestr("m/constants.pkl", pickle.dumps(()))
        zf.writestr("m/code/__torch__/m.py", "")
    with pytest.raises(TorchScriptWeightsError, match="refusing builtins.print"):
        read_torchscript_tensors(archive)
    with pytest.raises(FIDWeightsError, match="cannot read"):
        load_fid_inception(archive)

    # a TorchScript archive of some other network: one clear error naming a missing Inception layer
    other = tmp_path / "other.pt"
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), str(other))
    with pytest.raises(FIDWeightsError, match="no layer net.layers.conv.weight"):
        load_fid_inception(other)


def test_fid_helper_weights_give_the_features_of_their_own_torchscript_network(fid_weights):
    path = fid_weights
    ours = load_fid_inception(path)
    reference = torch.jit.load(str(path), map_location="cpu").eval()  # the known file (hash checked): test only
    torch.manual_seed(0)
    images = torch.rand(2, 3, 299, 299)
    with torch.no_grad():
        features = ours(images)
        expected = reference(images * 2.0 - 1.0)  # the export takes inputs already scaled to [-1, 1]
    assert features.shape == (2, 2048)
    assert torch.allclose(features, expected, atol=1e-4), (features - expected).abs().max()
    assert features.abs().max() > 0.5  # real features, not an all-zero network


def test_real_vs_real_sets_are_the_evaluated_windows_and_disjoint_others():
    evaluated, others = fid_real_vs_real.disjoint_windows(500, 40, 3)
    # the windows genie eval --max-sequences 40 scores (evaluation.cut_sequences keeps these)
    assert np.array_equal(evaluated, np.linspace(0, 499, 40).round().astype(int))
    sets = [set(evaluated.tolist())] + [set(o.tolist()) for o in others]
    assert all(len(s) == 40 for s in sets)
    assert sum(len(s) for s in sets) == len(set().union(*sets))  # no window in two sets
    assert max(o.max() for o in others) > 400  # spread over all the episodes, not the first windows only
    with pytest.raises(SystemExit, match="not enough"):
        fid_real_vs_real.disjoint_windows(100, 40, 3)
