"""The causal ST transformer: causality in time, the frame-by-frame cache, ALiBi, and the image helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genie_gym.models.image_ops import as_float_frames, float_to_frames, frames_to_float, patchify, unpatchify
from genie_gym.models.st_transformer import PEG, LayerCache, STTransformer, attend_with_past, causal_alibi_bias

pytestmark = pytest.mark.usefixtures("one_thread")


def _model(cond_dim: int = 0) -> STTransformer:
    torch.manual_seed(0)
    return STTransformer(dim=32, num_blocks=2, num_heads=4, cond_dim=cond_dim).double().eval()


def test_changing_a_later_frame_never_changes_earlier_outputs():
    model = _model(cond_dim=6)
    x = torch.randn(2, 6, 4, 4, 32, dtype=torch.double)
    cond = torch.randn(2, 6, 6, dtype=torch.double)
    base = model(x, cond)
    for t in range(5):
        changed = x.clone()
        changed[:, t + 1] += torch.randn_like(changed[:, t + 1])
        changed_cond = cond.clone()
        changed_cond[:, t + 1] += 1.0
        out = model(changed, changed_cond)
        assert torch.equal(out[:, : t + 1], base[:, : t + 1]), f"frame {t + 1} leaked into frames <= {t}"
        assert not torch.allclose(out[:, t + 1], base[:, t + 1]), "the changed frame itself must change"


def test_spatial_attention_mixes_the_whole_frame_and_temporal_attention_reaches_the_past():
    model = _model()
    x = torch.randn(1, 3, 4, 4, 32, dtype=torch.double)
    base = model(x)
    changed = x.clone()
    changed[:, 1, 0, 0] += 5.0  # one token of frame 1
    out = model(changed)
    assert not torch.allclose(out[:, 1, 3, 3], base[:, 1, 3, 3]), "a far token of the same frame must see the change"
    assert not torch.allclose(out[:, 2, 3, 3], base[:, 2, 3, 3]), "later frames must see the change"


def test_cached_incremental_pass_equals_the_full_pass():
    model = _model(cond_dim=3)
    x = torch.randn(2, 7, 3, 3, 32, dtype=torch.double)
    cond = torch.randn(2, 7, 3, dtype=torch.double)
    full = model(x, cond)
    cache = model.new_cache()
    pieces = [model(x[:, :3], cond[:, :3], cache=cache, update_cache=True)]
    for t in range(3, 7):
        probe = model(x[:, t : t + 1], cond[:, t : t + 1], cache=cache, update_cache=False)  # a MaskGIT-style peek
        step = model(x[:, t : t + 1], cond[:, t : t + 1], cache=cache, update_cache=True)
        assert torch.allclose(probe, step, atol=1e-12, rtol=0)
        pieces.append(step)
    assert cache.num_frames == 7
    assert torch.allclose(torch.cat(pieces, dim=1), full, atol=1e-10, rtol=0)


def test_sliding_window_keeps_memory_flat():
    model = _model()
    cache = model.new_cache()
    model(torch.randn(1, 2, 2, 2, 32, dtype=torch.double), cache=cache, update_cache=True)
    for _ in range(10):
        model(torch.randn(1, 1, 2, 2, 32, dtype=torch.double), cache=cache, update_cache=True)
        cache.drop_oldest(4)
        assert cache.num_frames <= 4
        assert all(layer.peg_inputs.shape[1] == 2 for layer in cache.layers)


def test_ring_buffer_cache_holds_exactly_the_newest_frames():
    cache = LayerCache()
    cache.drop_oldest(3)
    total = 0
    for count in (2, 1, 1, 5, 1, 2, 3, 1):  # appends of several frames, across the wrap, and more than the window
        frames = torch.arange(total, total + count, dtype=torch.double)
        keys = frames.view(1, 1, count, 1).expand(2, 1, count, 4)  # every key holds its frame index
        cache.append(keys, -keys)
        total += count
        keys_now, values_now, frames_now = cache.past()
        newest = list(range(max(0, total - 3), total))
        assert sorted(frames_now.tolist()) == newest
        assert torch.equal(keys_now[0, 0, :, 0], frames_now.double())
        assert torch.equal(values_now[1, 0, :, 3], -frames_now.double())
        assert cache.num_frames == len(newest) and cache.frames_appended == total
    slots = cache.keys.data_ptr()
    cache.append(torch.zeros(2, 1, 1, 4, dtype=torch.double), torch.zeros(2, 1, 1, 4, dtype=torch.double))
    assert cache.keys.data_ptr() == slots, "appending a frame must write into the buffer, not reallocate it"
    cache.drop_oldest(5)  # a wider window keeps what is cached and grows from there
    assert sorted(cache.past()[2].tolist()) == [total - 2, total - 1, total]


def test_attention_over_the_cache_does_not_depend_on_the_slot_order():
    torch.manual_seed(0)
    q, k_new, v_new = (torch.randn(3, 2, 1, 8, dtype=torch.double) for _ in range(3))
    past_keys, past_values = torch.randn(3, 2, 5, 8, dtype=torch.double), torch.randn(3, 2, 5, 8, dtype=torch.double)
    frames = torch.arange(5)
    slopes = torch.tensor([0.5, 0.25], dtype=torch.double)
    in_order = attend_with_past(q, k_new, v_new, (past_keys, past_values, frames), slopes, first_frame=5)
    perm = torch.tensor([3, 4, 0, 1, 2])  # as a ring buffer holds them after wrapping
    rotated = attend_with_past(q, k_new, v_new, (past_keys[:, :, perm], past_values[:, :, perm], frames[perm]),
                               slopes, first_frame=5)
    assert torch.allclose(rotated, in_order, atol=1e-12, rtol=0)
    # and it is SDPA over [past, new] with the causal ALiBi bias
    bias = causal_alibi_bias(slopes, 1, 6, torch.double, q.device)
    reference = torch.nn.functional.scaled_dot_product_attention(
        q, torch.cat([past_keys, k_new], 2), torch.cat([past_values, v_new], 2), attn_mask=bias)
    assert torch.allclose(in_order, reference, atol=1e-12, rtol=0)


def test_groups_of_new_frames_share_one_cache_as_if_it_were_repeated():
    """Action guidance scores G actions' frames against one cache: the same as repeating the cache G times."""
    model = _model(cond_dim=3)
    x = torch.randn(2, 4, 3, 3, 32, dtype=torch.double)
    cond = torch.randn(2, 4, 3, dtype=torch.double)
    cache = model.new_cache()
    model(x[:, :3], cond[:, :3], cache=cache, update_cache=True)
    groups = 3
    new_x = torch.randn(groups * 2, 1, 3, 3, 32, dtype=torch.double)  # row g * 2 + i continues sequence i
    new_cond = torch.randn(groups * 2, 1, 3, dtype=torch.double)
    shared = model(new_x, new_cond, cache=cache, update_cache=False)
    assert cache.num_frames == 3, "scoring groups must leave the cache as it was"
    for g in range(groups):
        rows = slice(2 * g, 2 * g + 2)
        alone = model(torch.cat([x[:, :3], new_x[rows]], 1), torch.cat([cond[:, :3], new_cond[rows]], 1))[:, 3:]
        assert torch.allclose(shared[rows], alone, atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="do not continue a cache of"):
        model(new_x[:3], new_cond[:3], cache=cache, update_cache=False)


def test_windowed_stream_equals_a_window_kept_in_time_order():
    """The ring buffer gives what copying the last ``W`` frames in time order gives (the cache before the ring)."""
    model = _model(cond_dim=3)
    x = torch.randn(1, 10, 3, 3, 32, dtype=torch.double)
    cond = torch.randn(1, 10, 3, dtype=torch.double)
    ring, ordered = model.new_cache(), model.new_cache()
    ring.drop_oldest(4)
    model(x[:, :2], cond[:, :2], cache=ring, update_cache=True)
    model(x[:, :2], cond[:, :2], cache=ordered, update_cache=True)
    for t in range(2, 10):
        out_ring = model(x[:, t : t + 1], cond[:, t : t + 1], cache=ring, update_cache=True)
        out_ordered = model(x[:, t : t + 1], cond[:, t : t + 1], cache=ordered, update_cache=True)
        assert torch.allclose(out_ring, out_ordered, atol=1e-10, rtol=0), f"frame {t}"
        for layer in ordered.layers:  # keep the newest 4 frames, in time order
            layer.keys, layer.values = layer.keys[:, :, -4:], layer.values[:, :, -4:]
            layer.key_frames, layer.num_frames = layer.key_frames[-4:], min(4, layer.num_frames)
    assert ring.num_frames == 4 and not torch.equal(ring.layers[0].key_frames, ring.layers[0].key_frames.sort()[0])


def test_peg_is_causal_in_time_and_uses_past_inputs():
    torch.manual_seed(0)
    peg = PEG(8).double()
    x = torch.randn(1, 5, 3, 3, 8, dtype=torch.double)
    full = peg(x)
    assert torch.allclose(peg(x[:, 3:], past=x[:, :3]), full[:, 3:], atol=1e-12)
    changed = x.clone()
    changed[:, 4] += 1.0
    assert torch.equal(peg(changed)[:, :4], full[:, :4])


def test_alibi_bias_is_causal_and_linear_in_distance():
    slopes = torch.tensor([0.5, 0.25])
    bias = causal_alibi_bias(slopes, num_queries=2, num_keys=4, dtype=torch.float32, device=torch.device("cpu"))
    assert bias.shape == (2, 2, 4)
    # query 0 sits at frame 2: keys 0, 1, 2 visible, key 3 masked
    assert torch.allclose(bias[0, 0, :3], torch.tensor([-1.0, -0.5, 0.0]))
    assert bias[0, 0, 3] == float("-inf")
    assert torch.allclose(bias[1, 1], torch.tensor([-0.75, -0.5, -0.25, 0.0]))


def test_image_helpers_round_trip():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(2, 3, 64, 64, 3), dtype=np.uint8)
    images = frames_to_float(frames)
    assert images.shape == (2, 3, 3, 64, 64) and images.dtype == torch.float32
    assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0
    assert np.array_equal(float_to_frames(images).numpy(), frames)
    assert torch.equal(as_float_frames(images), images)
    patches = patchify(images, 8)
    assert patches.shape == (2, 3, 8, 8, 192)
    assert torch.equal(unpatchify(patches, 8), images)
    # patch (0, 1) is the 8x8 block right of the top-left one
    assert torch.equal(patches[0, 0, 0, 1].view(8, 8, 3), images[0, 0, :, :8, 8:16].permute(1, 2, 0))
    with pytest.raises(ValueError, match="uint8"):
        frames_to_float(images)
    with pytest.raises(ValueError, match="float"):
        float_to_frames(torch.from_numpy(frames))


def test_peg_convolution_matches_conv3d_and_its_gradients():
    from einops import rearrange

    from genie_gym.models.st_transformer import PEG, DepthwiseConv3dFunction

    torch.manual_seed(0)
    x = torch.randn(2, 6, 5, 4, 3, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 1, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(DepthwiseConv3dFunction.apply, (x, weight, bias))

    peg = PEG(8)
    frames = torch.randn(2, 5, 6, 6, 8, requires_grad=True)
    out = peg(frames)
    grad = torch.randn_like(out)
    out.backward(grad)
    ours = frames.grad.clone(), peg.conv.weight.grad.clone(), peg.conv.bias.grad.clone()
    frames.grad = None
    peg.zero_grad()
    full = torch.cat([frames.new_zeros(2, 2, 6, 6, 8), frames], dim=1)  # causal: two zero frames before
    reference = rearrange(peg.conv(rearrange(full, "b t h w d -> b d t h w")), "b d t h w -> b t h w d")
    assert torch.allclose(out, reference, atol=1e-6)
    reference.backward(grad)
    for mine, theirs in zip(ours, (frames.grad, peg.conv.weight.grad, peg.conv.bias.grad), strict=True):
        assert torch.allclose(mine, theirs, atol=1e-4)
