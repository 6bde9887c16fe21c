"""The causal spatio-temporal (ST) transformer shared by the tokenizer, the LAM and the dynamics model.

Tokens are laid out as ``(B, T, h, w, d)``: ``T`` frames of ``h x w`` tokens of width ``d``. One block is

    x = x + PEG(x)                      depthwise 3-D conv, causal in time (position encoding generator)
    x = x + SpatialAttn(LN(x))          within one frame, not causal
    x = x + TemporalAttn(LN(x))         across frames at the same (i, j), causal, ALiBi bias
    x = x + MLP(LN(x))

and optionally (dynamics of GenieRedux-G) a conditioning vector per frame is concatenated to the block's input and
projected back to ``d`` (``x = x + Linear([x, c])``).

Because temporal attention is causal and everything else stays within a frame, the activations of frame ``t`` depend
only on frames ``<= t``. :class:`STCache` exploits that: it keeps, per block, the temporal keys/values and the PEG
inputs of past frames, so new frames can be computed without recomputing the past (see ``STTransformer.forward``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

PEG_TIME_KERNEL = 3


def alibi_slopes(num_heads: int) -> torch.Tensor:
    """ALiBi head slopes ``2^(-8 i / n)``, ``i = 1..n`` (float32 ``(num_heads,)``)."""
    return torch.tensor([2.0 ** (-8.0 * (i + 1) / num_heads) for i in range(num_heads)], dtype=torch.float32)


def causal_alibi_bias(
    slopes: torch.Tensor, num_queries: int, num_keys: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """Additive attention bias ``(heads, Tq, Tk)`` for queries that are the last ``Tq`` of ``Tk`` frames.

    Query ``i`` sits at absolute frame ``Tk - Tq + i``; key ``j`` gets ``-slope * (pos_i - j)`` if ``j <= pos_i``
    and ``-inf`` otherwise (causal).
    """
    query_pos = torch.arange(num_keys - num_queries, num_keys, device=device)
    key_pos = torch.arange(num_keys, device=device)
    distance = (query_pos[:, None] - key_pos[None, :]).to(dtype)
    bias = -slopes.to(device=device, dtype=dtype)[:, None, None] * distance
    return bias.masked_fill(distance < 0, float("-inf"))


@dataclass
class LayerCache:
    """What one block keeps about past frames.

    Once a window is set, the temporal keys/values live in a ring buffer of ``max_frames`` slots: appending a frame
    writes that frame over the oldest one instead of copying the whole window (at batch 64 those copies took a fifth
    of a dream step). Slots are not in time order after the window wraps; attention does not care, because every key
    carries its absolute frame index for the ALiBi bias (:meth:`past`).

    Attributes:
        peg_inputs: the PEG's inputs of the last ``PEG_TIME_KERNEL - 1`` frames, ``(B, <=2, h, w, d)``.
        keys, values: temporal-attention keys and values, ``(B*h*w, heads, slots, head_dim)``; the first
            :attr:`num_frames` slots hold frames.
        key_frames: absolute frame index of each slot, int64 ``(slots,)``.
        frames_appended: frames appended since the cache was created (the next frame's absolute index).
        max_frames: window (``None``: keep every frame, slots in time order).
    """

    peg_inputs: torch.Tensor | None = None
    keys: torch.Tensor | None = None
    values: torch.Tensor | None = None
    key_frames: torch.Tensor | None = None
    frames_appended: int = 0
    max_frames: int | None = None
    num_frames: int = 0  # filled slots
    next_slot: int = 0  # where the next frame goes (the oldest frame's slot once the buffer is full)

    def past(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
        """``(keys, values (N, heads, Tc, head_dim), frames int64 (Tc,))`` of the cached frames (views, in slot
        order), or ``None`` if nothing is cached."""
        if self.num_frames == 0:
            return None
        count = self.num_frames
        return self.keys[:, :, :count], self.values[:, :, :count], self.key_frames[:count]

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Add the keys/values ``(N, heads, Tq, head_dim)`` of the next ``Tq`` frames (beyond ``max_frames``, the
        oldest are overwritten)."""
        num_new = keys.shape[2]
        frames = torch.arange(self.frames_appended, self.frames_appended + num_new, device=keys.device)
        self.frames_appended += num_new
        if self.max_frames is None:
            if self.keys is None:
                self.keys, self.values, self.key_frames = keys, values, frames
            else:
                self.keys = torch.cat([self.keys, keys], dim=2)
                self.values = torch.cat([self.values, values], dim=2)
                self.key_frames = torch.cat([self.key_frames, frames])
            self.num_frames = self.keys.shape[2]
            return
        slots = self.max_frames
        if self.keys is not None and self.keys.shape[:2] != keys.shape[:2]:
            raise ValueError(f"keys of shape {tuple(keys.shape)} do not fit a cache of {tuple(self.keys.shape[:2])} "
                             "sequences x heads: a cache belongs to one batch")
        if self.keys is None or self.keys.shape[2] != slots:
            self._reallocate(keys)
        if num_new > slots:  # only the newest ``slots`` frames stay
            keys, values, frames, num_new = keys[:, :, -slots:], values[:, :, -slots:], frames[-slots:], slots
        written = 0
        while written < num_new:  # at most two contiguous runs of slots (before and after the wrap)
            start = self.next_slot
            count = min(num_new - written, slots - start)
            self.keys[:, :, start:start + count] = keys[:, :, written:written + count]
            self.values[:, :, start:start + count] = values[:, :, written:written + count]
            self.key_frames[start:start + count] = frames[written:written + count]
            written += count
            self.next_slot = (start + count) % slots
        self.num_frames = min(slots, self.num_frames + num_new)

    def _reallocate(self, like: torch.Tensor) -> None:
        """A ring buffer of ``max_frames`` slots shaped like ``like`` ``(N, heads, *, head_dim)``, holding the newest
        ``max_frames`` of the frames cached so far in time order from slot 0."""
        slots = int(self.max_frames)
        shape = (*like.shape[:2], slots, like.shape[3])
        keys, values = like.new_empty(shape), like.new_empty(shape)
        frames = torch.full((slots,), -1, dtype=torch.long, device=like.device)
        past = self.past()
        count = 0
        if past is not None:
            old_keys, old_values, old_frames = past
            order = old_frames.argsort()[-slots:]
            count = int(order.numel())
            keys[:, :, :count] = old_keys[:, :, order]
            values[:, :, :count] = old_values[:, :, order]
            frames[:count] = old_frames[order]
        self.keys, self.values, self.key_frames = keys, values, frames
        self.num_frames, self.next_slot = count, count % slots

    def drop_oldest(self, keep: int | None) -> None:
        """Keep only the temporal keys/values of the last ``keep`` frames, now and on every later append (the PEG
        only needs the last 2)."""
        if keep is None or keep == self.max_frames:
            return
        self.max_frames = keep
        if self.keys is not None:
            self._reallocate(self.keys)


@dataclass
class STCache:
    """Per-block caches of an :class:`STTransformer` for the frames processed so far (see :class:`LayerCache`)."""

    layers: list[LayerCache] = field(default_factory=list)

    @classmethod
    def empty(cls, num_layers: int) -> STCache:
        return cls(layers=[LayerCache() for _ in range(num_layers)])

    @property
    def num_frames(self) -> int:
        """Number of past frames the temporal attention can see."""
        return self.layers[0].num_frames if self.layers else 0

    def drop_oldest(self, keep: int) -> None:
        """Forget all but the last ``keep`` frames, now and after every later update (sliding context window;
        memory stays flat)."""
        if keep < 1:
            raise ValueError(f"keep must be >= 1, got {keep}")
        for layer in self.layers:
            layer.drop_oldest(keep)


class DepthwiseConv3dFunction(torch.autograd.Function):
    """Depthwise ``3-D`` convolution on channels-last tokens, valid in time and zero padded (1) in space, with a
    backward made of forward convolutions.

    ``forward(x (B, T+kt-1, h, w, d), weight (d, 1, kt, 3, 3), bias (d,)) -> (B, T, h, w, d)``: the same numbers as
    ``nn.Conv3d(d, d, (kt, 3, 3), padding=(0, 1, 1), groups=d)`` on ``x`` permuted to ``(B, d, T, h, w)``. The input
    goes in as a channels-last view (no copy). torch's CPU ``convolution_backward`` for depthwise 3-D kernels runs
    ~17x slower than the forward (it was 9% of a tokenizer training step); here the input gradient is one depthwise
    convolution of the gradient with the flipped kernel, and the weight gradient one multiply-and-sum per kernel tap.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        out = F.conv3d(x.permute(0, 4, 1, 2, 3), weight, bias, padding=(0, 1, 1), groups=weight.shape[0])
        return out.permute(0, 2, 3, 4, 1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        x, weight = ctx.saved_tensors
        kt = weight.shape[2]
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            padded = F.pad(grad, (0, 0, 0, 0, 0, 0, kt - 1, kt - 1)).permute(0, 4, 1, 2, 3)
            # under autocast the forward ran in bf16/fp16 and so does ``grad``; gradients return in the inputs' dtypes
            flipped = weight.flip(2, 3, 4).to(grad.dtype)
            grad_x = F.conv3d(padded, flipped, padding=(0, 1, 1), groups=weight.shape[0])
            grad_x = grad_x.permute(0, 2, 3, 4, 1).to(x.dtype)
        if ctx.needs_input_grad[1]:
            frames, height, width = grad.shape[1:4]
            padded_x = F.pad(x, (0, 0, 1, 1, 1, 1))  # (B, T+kt-1, h+2, w+2, d)
            grad_weight = weight.new_empty(weight.shape)
            for dt in range(kt):
                for dh in range(3):
                    for dw in range(3):
                        window = padded_x[:, dt : dt + frames, dh : dh + height, dw : dw + width]
                        grad_weight[:, 0, dt, dh, dw] = (window * grad).sum(dim=(0, 1, 2, 3), dtype=torch.float32)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum(dim=(0, 1, 2, 3), dtype=torch.float32).to(weight.dtype)
        return grad_x, grad_weight, grad_bias


class PEG(nn.Module):
    """Position encoding generator: depthwise ``3x3x3`` conv over ``(T, h, w)``, zero padded, causal in time.

    ``forward(x (B, T, h, w, d), past (B, P<=2, h, w, d) | None) -> (B, T, h, w, d)``; ``past`` are the PEG inputs
    of the frames just before ``x`` (missing ones count as zeros, as at the start of a sequence).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv3d(dim, dim, kernel_size=(PEG_TIME_KERNEL, 3, 3), padding=(0, 1, 1), groups=dim)

    def forward(self, x: torch.Tensor, past: torch.Tensor | None = None) -> torch.Tensor:
        num_past = PEG_TIME_KERNEL - 1
        if past is None:
            past = x.new_zeros(x.shape[0], 0, *x.shape[2:])
        past = past[:, -num_past:]
        if past.shape[0] != x.shape[0]:  # a cache shared by ``x.shape[0] // B`` groups of the same ``B`` sequences
            past = past.repeat(_groups(x.shape[0], past.shape[0]), *([1] * (past.ndim - 1)))
        if past.shape[1] < num_past:
            pad = x.new_zeros(x.shape[0], num_past - past.shape[1], *x.shape[2:])
            past = torch.cat([pad, past], dim=1)
        full = torch.cat([past, x], dim=1)  # (B, T+2, h, w, d)
        return DepthwiseConv3dFunction.apply(full, self.conv.weight, self.conv.bias)


class SelfAttention(nn.Module):
    """Multi-head self-attention with ``scaled_dot_product_attention``; ``(N, L, d) -> (N, L, d)``."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"d_model {dim} must be divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries, keys, values ``(N, heads, L, head_dim)`` for tokens ``x (N, L, d)``."""
        q, k, v = rearrange(self.qkv(x), "n l (three h e) -> three n h l e", three=3, h=self.num_heads)
        return q, k, v

    def merge(self, attended: torch.Tensor) -> torch.Tensor:
        """``(N, heads, L, head_dim) -> (N, L, d)`` followed by the output projection."""
        return self.out(rearrange(attended, "n h l e -> n l (h e)"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.project(x)
        return self.merge(F.scaled_dot_product_attention(q, k, v))


class TemporalAttention(SelfAttention):
    """Causal attention over frames at one spatial position with an ALiBi bias.

    ``forward(x (N, Tq, d), past (keys, values (N, heads, Tc, e), frames int64 (Tc,)) | None, first_frame)
    -> (out (N, Tq, d), keys, values)`` where the ``Tq`` new frames are the absolute frames ``first_frame ..
    first_frame + Tq - 1`` and the returned keys/values are those of the new frames only.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__(dim, num_heads)
        self.register_buffer("slopes", alibi_slopes(num_heads), persistent=False)

    def forward(  # type: ignore[override]
        self,
        x: torch.Tensor,
        past: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
        first_frame: int = 0,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, k_new, v_new = self.project(x)
        if past is None and torch.is_grad_enabled():
            bias = causal_alibi_bias(self.slopes, q.shape[2], q.shape[2], q.dtype, q.device)
            attended = F.scaled_dot_product_attention(q, k_new, v_new, attn_mask=bias)
        else:
            attended = attend_with_past(q, k_new, v_new, past, self.slopes, first_frame)
        return self.merge(attended), k_new, v_new


def attend_with_past(
    q: torch.Tensor,
    k_new: torch.Tensor,
    v_new: torch.Tensor,
    past: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None,
    slopes: torch.Tensor,
    first_frame: int = 0,
) -> torch.Tensor:
    """Causal ALiBi attention of ``Tq`` new frames over the cached past frames and themselves (inference path).

    Same result as ``scaled_dot_product_attention`` over ``cat([past, new])`` with :func:`causal_alibi_bias`, but the
    past keys/values are never copied: the scores against the past and against the new frames are computed
    separately and normalised together. With ``Tq = 1`` (stepping a dream) and many spatial positions this is ~10x
    faster on CPU than the fused kernel, which is tuned for long sequences, not ``B*h*w`` sequences of length 16.

    The new frames may come in ``G`` groups over the same cached sequences (``N = G * Nc`` rows, row ``g * Nc + n``
    continues cached sequence ``n``; action guidance scores every action on one cache): the ``G`` groups' queries
    then attend to the one cached copy as ``G * Tq`` query rows, so the past is never repeated either.

    Args:
        q, k_new, v_new: ``(N, heads, Tq, head_dim)`` of the absolute frames ``first_frame .. first_frame+Tq-1``.
        past: ``(keys, values (Nc, heads, Tc, head_dim), frames int64 (Tc,))``: the cached frames, in any order
            (a ring buffer), each with its absolute frame index (all ``< first_frame``); or ``None``. ``N`` must be
            a multiple of ``Nc``.
        slopes: ALiBi slopes ``(heads,)``.
    Returns ``(N, heads, Tq, head_dim)``.
    """
    num_queries = q.shape[2]
    q = q * (q.shape[-1] ** -0.5)
    scores = torch.matmul(q, k_new.transpose(-1, -2)) + causal_alibi_bias(
        slopes, num_queries, num_queries, q.dtype, q.device)
    if past is None:
        return torch.matmul(scores.softmax(dim=-1), v_new)
    past_keys, past_values, past_frames = past
    rows, heads, _, head_dim = q.shape
    groups = _groups(rows, past_keys.shape[0])
    query_frames = torch.arange(first_frame, first_frame + num_queries, device=q.device)
    distance = (query_frames[:, None] - past_frames[None, :]).to(q.dtype)  # (Tq, Tc), all >= 1
    past_bias = -slopes.to(device=q.device, dtype=q.dtype)[:, None, None] * distance  # (heads, Tq, Tc)
    # (G*Nc, heads, Tq, e) -> (Nc, heads, G*Tq, e): every group's queries against the one cached copy
    grouped_q = q.view(groups, -1, heads, num_queries, head_dim).permute(1, 2, 0, 3, 4)
    grouped_q = grouped_q.reshape(-1, heads, groups * num_queries, head_dim)
    past_scores = torch.matmul(grouped_q, past_keys.transpose(-1, -2))  # (Nc, heads, G*Tq, Tc)
    past_scores = past_scores.view(-1, heads, groups, num_queries, past_keys.shape[2]) + past_bias[:, None]
    past_scores = past_scores.permute(2, 0, 1, 3, 4).reshape(rows, heads, num_queries, -1)
    num_past = past_keys.shape[2]
    weights = torch.cat([past_scores, scores], dim=-1).softmax(dim=-1)
    past_weights = weights[..., :num_past].reshape(groups, -1, heads, num_queries, num_past).permute(1, 2, 0, 3, 4)
    from_past = torch.matmul(past_weights.reshape(-1, heads, groups * num_queries, num_past), past_values)
    from_past = from_past.view(-1, heads, groups, num_queries, head_dim).permute(2, 0, 1, 3, 4)
    return from_past.reshape(rows, heads, num_queries, head_dim) + torch.matmul(weights[..., num_past:], v_new)


def _groups(rows: int, cached_rows: int) -> int:
    """How many groups of the ``cached_rows`` cached sequences ``rows`` new rows make (one clear error if none)."""
    if cached_rows == 0 or rows % cached_rows:
        raise ValueError(f"{rows} new sequences do not continue a cache of {cached_rows}: a cache belongs to one batch "
                         "(or to whole groups of it)")
    return rows // cached_rows


class MLP(nn.Module):
    """Two-layer GELU MLP ``(..., d) -> (..., d)``."""

    def __init__(self, dim: int, ratio: float) -> None:
        super().__init__()
        hidden = int(dim * ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class STBlock(nn.Module):
    """One ST-transformer block (see the module docstring) on tokens ``(B, T, h, w, d)``.

    Args:
        dim: token width ``d``.
        num_heads: attention heads (both attentions).
        mlp_ratio: hidden width of the MLP as a multiple of ``d``.
        cond_dim: width of a per-frame conditioning vector concatenated to the block input (0: none).
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 4.0, cond_dim: int = 0) -> None:
        super().__init__()
        self.cond_proj = nn.Linear(dim + cond_dim, dim) if cond_dim > 0 else None
        self.peg = PEG(dim)
        self.norm_spatial = nn.LayerNorm(dim)
        self.spatial = SelfAttention(dim, num_heads)
        self.norm_temporal = nn.LayerNorm(dim)
        self.temporal = TemporalAttention(dim, num_heads)
        self.norm_mlp = nn.LayerNorm(dim)
        self.mlp = MLP(dim, mlp_ratio)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, cache: LayerCache | None = None,
                update_cache: bool = False) -> torch.Tensor:
        """Tokens ``x (B, T, h, w, d)``, optional ``cond (B, T, cond_dim)``; returns ``(B, T, h, w, d)``.

        With ``cache``, ``x`` are the frames right after the cached ones; ``update_cache`` appends them to it.
        """
        b, t, h, w, _ = x.shape
        if self.cond_proj is not None:
            if cond is None:
                raise ValueError("this block expects a conditioning tensor (B, T, cond_dim)")
            # Linear([x, c]) = W_x x + W_c c + b: the conditioning part is computed once per frame, not per token.
            weight = self.cond_proj.weight
            dim = x.shape[-1]
            per_frame = F.linear(cond, weight[:, dim:], self.cond_proj.bias)  # (B, T, d)
            x = x + F.linear(x, weight[:, :dim]) + per_frame[:, :, None, None, :]

        peg_past = cache.peg_inputs if cache is not None else None
        peg_input = x
        x = x + self.peg(x, peg_past)

        spatial_in = rearrange(self.norm_spatial(x), "b t h w d -> (b t) (h w) d")
        x = x + rearrange(self.spatial(spatial_in), "(b t) (h w) d -> b t h w d", b=b, h=h)

        temporal_in = rearrange(self.norm_temporal(x), "b t h w d -> (b h w) t d")
        past = cache.past() if cache is not None else None
        first_frame = cache.frames_appended if cache is not None else 0
        temporal_out, k_new, v_new = self.temporal(temporal_in, past, first_frame)
        x = x + rearrange(temporal_out, "(b h w) t d -> b t h w d", b=b, h=h)

        x = x + self.mlp(self.norm_mlp(x))

        if cache is not None and update_cache:
            keep = PEG_TIME_KERNEL - 1
            past_inputs = peg_input if peg_past is None else torch.cat([peg_past, peg_input], dim=1)
            cache.peg_inputs = past_inputs[:, -keep:].detach()
            cache.append(k_new.detach(), v_new.detach())
        return x


class STTransformer(nn.Module):
    """A stack of :class:`STBlock` with a final LayerNorm; ``(B, T, h, w, d) -> (B, T, h, w, d)``, causal in time.

    Args:
        dim, num_blocks, num_heads, mlp_ratio: width, depth, heads, MLP ratio.
        cond_dim: if > 0, every block concatenates a per-frame vector ``cond (B, T, cond_dim)`` to its input.
    """

    def __init__(self, dim: int, num_blocks: int, num_heads: int, mlp_ratio: float = 4.0, cond_dim: int = 0) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(STBlock(dim, num_heads, mlp_ratio, cond_dim) for _ in range(num_blocks))
        self.norm = nn.LayerNorm(dim)
        self.apply(init_weights)

    def new_cache(self) -> STCache:
        """An empty :class:`STCache` for incremental (frame-by-frame) evaluation."""
        return STCache.empty(len(self.blocks))

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, cache: STCache | None = None,
                update_cache: bool = False) -> torch.Tensor:
        """Run the stack on ``x (B, T, h, w, d)`` (``cond (B, T, cond_dim)`` if conditioned).

        Without ``cache`` the ``T`` frames are the whole sequence. With ``cache`` they are the frames that follow the
        cached ones (their outputs equal those of a full pass over cached + new frames), and ``update_cache=True``
        appends them to the cache; ``update_cache=False`` leaves the cache untouched (e.g. MaskGIT steps).
        """
        if cache is not None and len(cache.layers) != len(self.blocks):
            raise ValueError(f"cache has {len(cache.layers)} layers, the transformer has {len(self.blocks)}")
        for index, block in enumerate(self.blocks):
            layer_cache = cache.layers[index] if cache is not None else None
            x = block(x, cond, layer_cache, update_cache)
        return self.norm(x)


def init_weights(module: nn.Module) -> None:
    """Initialise Linear layers with N(0, 0.02) (zero bias) and LayerNorms to identity (use with ``Module.apply``)."""
    if isinstance(module, nn.Linear):
        nn.init.trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters of ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
