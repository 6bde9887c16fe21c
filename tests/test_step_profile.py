"""``benchmarks/train_step_profile.py``: the split of a training step's time by kind of operator."""

from __future__ import annotations

import argparse
import os

import pytest
import torch

from benchmarks import train_step_profile


def test_operator_kinds():
    kind = train_step_profile.operator_kind
    assert kind("aten::addmm") == kind("aten::mm") == kind("aten::bmm") == "matmul"
    assert kind("aten::_scaled_dot_product_flash_attention_for_cpu_backward") == "attention"
    assert kind("aten::_scaled_dot_product_efficient_attention") == "attention"
    assert kind("aten::conv_depthwise3d") == kind("aten::mkldnn_convolution") == "convolution"
    assert kind("aten::native_layer_norm_backward") == "normalisation"
    assert kind("aten::_foreach_mul_") == kind("aten::_fused_adamw_") == "optimizer"
    assert kind("aten::copy_") == kind("aten::cat") == "copies and layout"
    assert kind("aten::gelu") == kind("aten::mul") == train_step_profile.OTHER_KIND


def test_profile_of_a_small_dynamics_step_splits_its_time():
    device = torch.device(os.environ.get("GENIE_GYM_TEST_DEVICE", "cpu"))
    if device.type == "cuda" and not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    args = argparse.Namespace(batch_size=2, window=4, steps=1, warmup=1, top=5, trace=None)
    row = train_step_profile.profile_model("dynamics", "small", args, device)
    shares = row["share_by_kind"]
    assert sum(shares.values()) == pytest.approx(1.0, abs=1e-6)
    # a transformer step: its matmuls and attention are a large part of the operators' time on any device
    assert shares["matmul"] + shares["attention"] > 0.3, shares
    assert shares["optimizer"] > 0 and shares["normalisation"] > 0
    assert 0 < row["busy_ms_per_step"] and 0 < row["unprofiled_ms_per_step"]
    assert row["busy_ms_per_step"] <= row["wall_ms_per_step"] * 1.05
    assert 0.0 <= row["idle_share"] <= 1.0 and row["calls_per_step"] > 100
    times = [op["ms_per_step"] for op in row["top_operators"]]
    assert len(times) == 5 and times == sorted(times, reverse=True)
