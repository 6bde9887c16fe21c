"""Token Distance Cross-Entropy (TDCE, paper Eq. 1): cross-entropy plus a penalty on probability mass given to
codebook entries far (in cosine distance) from the true token.

    TDCE(x, y) = CE(x, y) + lambda * (y^T K) . softmax(x),   K[i, j] = 1 - cos(e_i, e_j)

``K`` is computed once from the tokenizer's codebook. With ``lambda = 0`` (or ``K = 0``) TDCE is plain cross-entropy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def token_distance_table(codebook: torch.Tensor) -> torch.Tensor:
    """Cosine distances ``K (V, V)`` float32 between the rows of ``codebook (V, latent_dim)`` (0 on the diagonal)."""
    if codebook.ndim != 2:
        raise ValueError(f"codebook must be (num_codes, latent_dim), got shape {tuple(codebook.shape)}")
    unit = F.normalize(codebook.detach().float(), dim=-1)
    table = (1.0 - unit @ unit.t()).clamp_min(0.0)
    table.fill_diagonal_(0.0)
    return table


def tdce_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    distance_table: torch.Tensor | None,
    lam: float,
    weights: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """TDCE over ``N`` predictions.

    Args:
        logits: float ``(N, V)``.
        targets: int64 ``(N,)`` true token ids.
        distance_table: ``K`` float ``(V, V)`` from :func:`token_distance_table` (ignored when ``lam == 0``).
        lam: weight of the distance term (the paper's reference uses 3.0; 0 gives plain cross-entropy).
        weights: optional float ``(N,)`` weight of each prediction; the loss is then the weighted mean
            ``sum_i w_i l_i / sum_i w_i`` (``None``: the plain mean).

    Returns ``(loss, cross_entropy, distance_term)``, scalars; ``distance_term`` is the mean expected distance
    ``sum_v K[y, v] softmax(x)_v`` (0 when ``lam == 0``).
    """
    logits = logits.float()
    if weights is None:
        def mean(values: torch.Tensor) -> torch.Tensor:
            return values.mean()
    else:
        weights = weights.to(logits)

        def mean(values: torch.Tensor) -> torch.Tensor:
            return (values * weights).sum() / weights.sum()
    cross_entropy = mean(F.cross_entropy(logits, targets, reduction="none"))
    if lam == 0 or distance_table is None:
        return cross_entropy, cross_entropy, torch.zeros((), device=logits.device)
    expected_distance = mean((distance_table.to(logits)[targets] * logits.softmax(dim=-1)).sum(dim=-1))
    return cross_entropy + lam * expected_distance, cross_entropy, expected_distance
