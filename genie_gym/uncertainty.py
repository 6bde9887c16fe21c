"""Token-entropy uncertainty reward of the AutoExplore agent (paper §4, Eq. 2-4).

The dynamics model predicts a categorical distribution over the tokenizer's codebook for every token of a
predicted frame. The uncertainty of a token is its entropy normalised by ``log(codebook size)`` (so it lies in
``[0, 1]``); the reward of a frame is the mean of the top ``top_fraction`` (25% in the paper) of its token
uncertainties, because most tokens show static background and carry no information.
"""

from __future__ import annotations

import math

import torch


def normalized_token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of ``softmax(logits)`` over the last dim, divided by ``log(num_codes)``.

    Args:
        logits: float ``(..., num_codes)``.
    Returns:
        float ``(...)`` in ``[0, 1]``.
    """
    num_codes = logits.shape[-1]
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    entropy = -(log_probs.exp() * log_probs).sum(dim=-1)
    return (entropy / math.log(num_codes)).clamp_(0.0, 1.0)


class TokenEntropyReward:
    """Reward = mean of the highest ``top_fraction`` of a frame's normalised token uncertainties.

    Args:
        top_fraction: fraction of tokens (by highest uncertainty) averaged; ``1.0`` averages all tokens.
    """

    def __init__(self, top_fraction: float = 0.25) -> None:
        if not 0.0 < top_fraction <= 1.0:
            raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
        self.top_fraction = float(top_fraction)

    def __call__(self, uncertainty: torch.Tensor) -> torch.Tensor:
        """Score frames from their per-token uncertainty maps.

        Args:
            uncertainty: float ``(B, h, w)`` (or ``(B, n_tokens)``) normalised entropies in ``[0, 1]``.
        Returns:
            float ``(B,)`` rewards in ``[0, 1]``.
        """
        flat = uncertainty.reshape(uncertainty.shape[0], -1).float()
        k = max(1, math.ceil(self.top_fraction * flat.shape[1]))
        return flat.topk(k, dim=1).values.mean(dim=1)
