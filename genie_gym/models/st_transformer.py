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

    Attributes:
        peg_inputs: the PEG's inputs of the last ``PEG_TIME_KERNEL - 1`` frames, ``(B, <=2, h, w, d)``.
        keys, values: temporal-attention keys and values of the cached frames, ``(B*h*w, heads, Tc, head_dim)``.
    """

    peg_inputs: torch.Tensor | None = None
    keys: torch.Tensor | None = None
    values: torch.Tensor | None = None
    max_frames: int | None = None

    @property
    def num_frames(self) -> int:
        return 0 if self.keys is None else int(self.keys.shape[2])

    def append(self, keys: torch.Tensor, values: torch.Tensor) -> None:
        """Add new frames' keys/values ``(N, heads, Tq, head_dim)``, dropping the oldest beyond ``max_frames``
        in the same copy."""
        if self.keys is None:
            self.keys, self.values = keys, values
        else:
            keep = self.keys.shape[2] if self.max_frames is None else max(0, self.max_frames - keys.shape[2])
            self.keys = torch.cat([self.keys[:, :, self.keys.shape[2] - keep:], keys], dim=2)
            self.values = torch.cat([self.values[:, :, self.values.shape[2] - keep:], values], dim=2)
        self.drop_oldest(self.max_frames)

    def drop_oldest(self, keep: int | None) -> None:
        """Keep only the temporal keys/values of the last ``keep`` frames (the PEG only needs the last 2)."""
        if keep is not None and self.keys is not None and self.keys.shape[2] > keep:
            self.keys = self.keys[:, :, -keep:].contiguous()
            self.values = self.values[:, :, -keep:].contiguous()


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
            layer.max_frames = keep
            layer.drop_oldest(keep)


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
        if past.shape[1] < num_past:
            pad = x.new_zeros(x.shape[0], num_past - past.shape[1], *x.shape[2:])
            past = torch.cat([pad, past], dim=1)
        full = torch.cat([past, x], dim=1)  # (B, T+2, h, w, d)
        out = self.conv(rearrange(full, "b t h w d -> b d t h w"))
        return rearrange(out, "b d t h w -> b t h w d")


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

    ``forward(x (N, Tq, d), past_keys/values (N, heads, Tc, e) | None) -> (out (N, Tq, d), keys, values)`` where the
    returned keys/values are those of the ``Tq`` new frames only.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__(dim, num_heads)
        self.register_buffer("slopes", alibi_slopes(num_heads), persistent=False)

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, past_keys: torch.Tensor | None = None, past_values: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        q, k_new, v_new = self.project(x)
        if past_keys is None and torch.is_grad_enabled():
            bias = causal_alibi_bias(self.slopes, q.shape[2], q.shape[2], q.dtype, q.device)
            attended = F.scaled_dot_product_attention(q, k_new, v_new, attn_mask=bias)
        else:
            attended = attend_with_past(q, k_new, v_new, past_keys, past_values, self.slopes)
        return self.merge(attended), k_new, v_new


def attend_with_past(
    q: torch.Tensor,
    k_new: torch.Tensor,
    v_new: torch.Tensor,
    past_keys: torch.Tensor | None,
    past_values: torch.Tensor | None,
    slopes: torch.Tensor,
) -> torch.Tensor:
    """Causal ALiBi attention of ``Tq`` new frames over the cached past frames and themselves (inference path).

    Same result as ``scaled_dot_product_attention`` over ``cat([past, new])`` with :func:`causal_alibi_bias`, but the
    past keys/values are never copied: the scores against the past and against the new frames are computed
    separately and normalised together. With ``Tq = 1`` (stepping a dream) and many spatial positions this is ~10x
    faster on CPU than the fused kernel, which is tuned for long sequences, not ``B*h*w`` sequences of length 16.

    Args:
        q, k_new, v_new: ``(N, heads, Tq, head_dim)``.
        past_keys, past_values: ``(N, heads, Tc, head_dim)`` or ``None`` (no past).
        slopes: ALiBi slopes ``(heads,)``.
    Returns ``(N, heads, Tq, head_dim)``.
    """
    num_queries = q.shape[2]
    num_past = 0 if past_keys is None else past_keys.shape[2]
    q = q * (q.shape[-1] ** -0.5)
    bias = causal_alibi_bias(slopes, num_queries, num_past + num_queries, q.dtype, q.device)
    scores = torch.matmul(q, k_new.transpose(-1, -2)) + bias[:, :, num_past:]
    if past_keys is None:
        return torch.matmul(scores.softmax(dim=-1), v_new)
    past_scores = torch.matmul(q, past_keys.transpose(-1, -2)) + bias[:, :, :num_past]
    weights = torch.cat([past_scores, scores], dim=-1).softmax(dim=-1)
    return torch.matmul(weights[..., :num_past], past_values) + torch.matmul(weights[..., num_past:], v_new)


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

    def forward(
        self,
        x: torch.Tensor,
        cond: torch.Tensor | None = None,
        cache: LayerCache | None = None,
        update_cache: bool = False,
    ) -> torch.Tensor:
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
        past_k = cache.keys if cache is not None else None
        past_v = cache.values if cache is not None else None
        temporal_out, k_new, v_new = self.temporal(temporal_in, past_k, past_v)
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

    def forward(
        self,
        x: torch.Tensor,
        cond: torch.Tensor | None = None,
        cache: STCache | None = None,
        update_cache: bool = False,
    ) -> torch.Tensor:
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
