"""The cosine-similarity vector quantiser shared by the video tokenizer and the latent action model.

Codes are l2-normalised and looked up by cosine similarity with a straight-through gradient; usage statistics drive
the revival of dead codes (``maintenance_step``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genie_gym.models.configs import FrameTrainingOptions

RECENT_LATENTS_KEPT = 8192


@dataclass
class Quantized:
    """Output of :class:`CosineVectorQuantizer`.

    Attributes:
        vectors: straight-through quantised vectors ``(..., latent_dim)`` (forward value: the code vectors).
        ids: code ids ``(...)`` int64.
        loss: scalar VQ loss (codebook term + ``commitment`` * commitment term).
        latents: the l2-normalised encoder outputs ``(..., latent_dim)``.
    """

    vectors: torch.Tensor
    ids: torch.Tensor
    loss: torch.Tensor
    latents: torch.Tensor


class CosineVectorQuantizer(nn.Module):
    """Vector quantiser with l2-normalised codes (nearest code by cosine similarity) and dead-code revival.

    Usage is tracked during training: ``usage_ema`` (EMA of per-step counts) and ``steps_since_used`` (persistent
    buffers, saved with the model). The last batch's normalised encoder outputs are kept (not saved) as candidates
    for :meth:`revive_dead_codes`. How it trains (commitment weight, usage EMA, dead-code revival): ``options``, a
    :class:`FrameTrainingOptions` (not saved with the weights; the trainer sets the run's).
    """

    def __init__(self, num_codes: int, latent_dim: int, options: FrameTrainingOptions | None = None) -> None:
        super().__init__()
        self.num_codes = num_codes
        self.options = options if options is not None else FrameTrainingOptions()
        self.codebook = nn.Parameter(F.normalize(torch.randn(num_codes, latent_dim), dim=-1))
        self.register_buffer("usage_ema", torch.zeros(num_codes))
        # codes start out dead: the first maintenance step replaces the unused ones by encoder outputs (data init)
        dead = torch.full((num_codes,), self.options.dead_code_after, dtype=torch.long)
        self.register_buffer("steps_since_used", dead)
        self._recent_latents: torch.Tensor | None = None

    def codebook_vectors(self) -> torch.Tensor:
        """The l2-normalised code vectors used for lookup, float ``(num_codes, latent_dim)``."""
        return F.normalize(self.codebook, dim=-1)

    def ids_to_vectors(self, ids: torch.Tensor) -> torch.Tensor:
        """Code vectors of ``ids`` (int64 ``(...)``) -> float ``(..., latent_dim)``."""
        if ids.dtype not in (torch.int64, torch.int32):
            raise ValueError(f"code ids must be int64, got dtype {ids.dtype}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_codes):
            raise ValueError(f"code ids must lie in [0, {self.num_codes}), got [{int(ids.min())}, {int(ids.max())}]")
        return F.embedding(ids.long(), self.codebook_vectors())

    def forward(self, latents: torch.Tensor) -> Quantized:
        """Quantise encoder outputs ``(..., latent_dim)``; records usage when the module is training."""
        z = F.normalize(latents, dim=-1)
        codes = self.codebook_vectors()
        ids = (z.detach() @ codes.detach().t()).argmax(dim=-1)
        q = F.embedding(ids, codes)
        loss = F.mse_loss(q, z.detach()) + self.options.commitment * F.mse_loss(z, q.detach())
        vectors = z + (q - z).detach()
        if self.training:
            self._record_usage(ids, z.detach())
        return Quantized(vectors=vectors, ids=ids, loss=loss, latents=z)

    @torch.no_grad()
    def _record_usage(self, ids: torch.Tensor, latents: torch.Tensor) -> None:
        counts = torch.bincount(ids.reshape(-1), minlength=self.num_codes).to(self.usage_ema.dtype)
        decay = self.options.usage_ema_decay
        self.usage_ema.mul_(decay).add_(counts, alpha=1.0 - decay)
        self.steps_since_used.add_(1).masked_fill_(counts > 0, 0)
        flat = latents.reshape(-1, latents.shape[-1])
        if flat.shape[0] > RECENT_LATENTS_KEPT:
            flat = flat[torch.randperm(flat.shape[0], device=flat.device)[:RECENT_LATENTS_KEPT]]
        self._recent_latents = flat.float().clone()

    def dead_code_mask(self) -> torch.Tensor:
        """Bool ``(num_codes,)``: codes unused for at least ``dead_code_after`` training steps."""
        return self.steps_since_used >= self.options.dead_code_after

    @torch.no_grad()
    def revive_dead_codes(self, encoder_outputs: torch.Tensor | None = None) -> int:
        """Replace dead codes by random encoder outputs ``(N, latent_dim)`` (default: the last training batch's).

        Candidates are drawn k-means++ style: with probability proportional to their squared distance to the nearest
        live (or already revived) code, so revived codes land where the encoder outputs are poorly represented.
        Returns the number of codes replaced (0 when there are no dead codes or no candidates).
        """
        candidates = self._recent_latents if encoder_outputs is None else encoder_outputs
        dead_mask = self.dead_code_mask()
        dead = dead_mask.nonzero().flatten()
        if candidates is None or dead.numel() == 0 or candidates.numel() == 0:
            return 0
        candidates = F.normalize(candidates.reshape(-1, candidates.shape[-1]).to(self.codebook), dim=-1)
        live = self.codebook_vectors()[~dead_mask]
        # for unit vectors, squared Euclidean distance = 2 * (1 - cos)
        if live.shape[0] > 0:
            distance = (1.0 - candidates @ live.t()).clamp_min(0.0).amin(dim=1)
        else:
            distance = torch.ones(candidates.shape[0], device=candidates.device)
        for code in dead.tolist():
            weights = distance if float(distance.sum()) > 1e-12 else torch.ones_like(distance)
            pick = candidates[torch.multinomial(weights, 1)[0]]
            self.codebook.data[code] = pick
            distance = torch.minimum(distance, (1.0 - candidates @ pick).clamp_min(0.0))
        self.steps_since_used[dead] = 0
        self.usage_ema[dead] = self.usage_ema.mean()
        return int(dead.numel())

    def maintenance_step(self, step: int) -> dict[str, float]:
        """At step 1 and every ``dead_code_check_every`` steps revive dead codes; returns ``{"dead_codes", "revived"}``.

        Codes start out dead, so step 1 initialises every code the first batch did not use from its encoder outputs.

        Under ``torch.distributed`` the usage counters are combined across ranks and rank 0's codebook is broadcast,
        so every rank keeps the same codebook.
        """
        revived = 0
        if step == 1 or (step > 0 and step % self.options.dead_code_check_every == 0):
            distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
            if distributed:
                torch.distributed.all_reduce(self.steps_since_used, op=torch.distributed.ReduceOp.MIN)
            revived = self.revive_dead_codes()
            if distributed:
                torch.distributed.broadcast(self.codebook.data, src=0)
                torch.distributed.broadcast(self.steps_since_used, src=0)
                torch.distributed.broadcast(self.usage_ema, src=0)
        return {"dead_codes": float(self.dead_code_mask().sum()), "revived": float(revived)}



class QuantizerTrainingMixin:
    """``training_options`` of a model whose training-only settings are those of its ``quantizer`` (the tokenizer,
    the LAM), so the trainer sets and saves them as it does the dynamics' own."""

    quantizer: CosineVectorQuantizer

    @property
    def training_options(self) -> FrameTrainingOptions:
        """How the quantizer trains; not saved with the weights."""
        return self.quantizer.options

    @training_options.setter
    def training_options(self, options: FrameTrainingOptions) -> None:
        self.quantizer.options = options
