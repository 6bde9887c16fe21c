import pytest
import torch

from genie_gym.metrics import delta_psnr, psnr, psnr_per_frame, ssim


def test_psnr_known_value_and_per_frame_average():
    target = torch.zeros(2, 3, 8, 8)
    prediction = target.clone()
    prediction[0] += 0.1  # MSE 0.01 -> 20 dB
    prediction[1] += 0.01  # MSE 1e-4 -> 40 dB
    per_frame = psnr_per_frame(prediction, target)
    assert per_frame.tolist() == pytest.approx([20.0, 40.0], abs=1e-3)
    assert psnr(prediction, target) == pytest.approx(30.0, abs=1e-3)  # mean of per-frame values, not pooled MSE


def test_ssim_identical_is_one_and_noise_lowers_it():
    generator = torch.Generator().manual_seed(0)
    target = torch.rand(4, 3, 32, 32, generator=generator)
    assert ssim(target, target) == pytest.approx(1.0, abs=1e-5)
    noisy = (target + 0.2 * torch.randn(target.shape, generator=generator)).clamp(0, 1)
    assert ssim(noisy, target) < 0.9


def test_delta_psnr_positive_when_true_actions_predict_better():
    target = torch.full((3, 3, 8, 8), 0.5)
    assert delta_psnr(target, target + 0.01, target + 0.1) == pytest.approx(20.0, abs=1e-3)


def test_shape_errors_are_clear():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 4, 4))
    with pytest.raises(ValueError, match="expected float images"):
        psnr(torch.zeros(8, 8), torch.zeros(8, 8))


def test_evaluation_sequences_follow_the_protocol_and_spread_over_episodes():
    import numpy as np

    from genie_gym.evaluation import cut_sequences

    episodes = [np.full((45, 64, 64, 3), i, np.uint8) for i in range(3)]
    actions = [np.arange(44) % 5 for _ in range(3)]
    frames, acts = cut_sequences(episodes, actions, length=12, stride=20)
    assert frames.shape == (6, 12, 64, 64, 3) and acts.shape == (6, 11)  # starts 0 and 20 (32 + 12 > 45)
    assert acts[1].tolist() == (np.arange(20, 31) % 5).tolist()  # actions stay aligned with their frames
    frames, _ = cut_sequences(episodes, actions, length=12, stride=20, max_sequences=3)
    assert sorted({int(f[0, 0, 0, 0]) for f in frames}) == [0, 1, 2]  # evenly spread: every episode is used
    with pytest.raises(ValueError, match="at least 50 frames"):
        cut_sequences(episodes, actions, length=50, stride=20)
