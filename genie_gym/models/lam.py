"""The latent action model (LAM) of GenieRedux: infers a discrete latent action for every frame transition.

    encoder: frames 0..T-1 -> patches -> ST transformer (causal in time) -> mean over the frame's tokens
             -> Linear to latent_dim -> centred (BatchNorm without affine parameters) -> cosine VQ with
             ``num_codes`` (7) codes
             the output at frame t+1 (which has seen frames <= t+1) is the action a_t of the change t -> t+1
    decoder: frames 0..T-2 -> patches -> + Linear(a_t) on every token of frame t -> ST transformer (causal)
             -> Linear -> patches: the prediction of frame t+1 (with ``residual_decoder``, the change
             added to frame t, so copying is free and the model's capacity goes to what changes)

Loss: pixel MSE of the predicted frames 1..T-1 + VQ loss. The action bottleneck (7 codes) forces a_t to carry the
part of the change that the past frames cannot predict (mostly the player's action).

Why the centring: the pooled features of different transitions share a large common component (the frames look
alike), so after the cosine VQ's l2 normalisation every transition pointed the same way; all 7 codes collapsed onto
that one direction (pairwise cosine 1.00 on real SMB transitions), the decoder received the same vector whatever the
transition and learned to ignore it. Standardising each latent dimension over the batch (running averages at
evaluation) removes the common part, so the codes spread over the sphere and carry the transition.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from genie_gym.models.configs import FrameTrainingOptions, LAMConfig
from genie_gym.models.frame_model import FrameModel
from genie_gym.models.image_ops import as_float_frames, patchify, unpatchify
from genie_gym.models.quantizer import CosineVectorQuantizer, Quantized
from genie_gym.models.st_transformer import init_weights


class LatentActionModel(FrameModel[LAMConfig]):
    """Latent action model (see the module docstring) of a :class:`LAMConfig` (default: the paper's, 7 latent
    actions); ``training_options``: see :class:`FrameModel`."""

    model_kind: ClassVar[str] = "lam"
    config_class: ClassVar[type[LAMConfig]] = LAMConfig

    def __init__(self, config: LAMConfig | None = None,
                 training_options: FrameTrainingOptions | None = None) -> None:
        super().__init__(config)
        c = self.config
        self.encoder_embed, self.encoder, self.to_latent = self.new_encoder()
        self.latent_norm = nn.BatchNorm1d(c.latent_dim, affine=False)
        self.quantizer = CosineVectorQuantizer(c.num_codes, c.latent_dim, training_options)
        self.decoder_embed = nn.Linear(self.patch_dim, c.d_model)
        self.action_to_model = nn.Linear(c.latent_dim, c.d_model)
        self.decoder, self.to_pixels = self.new_decoder()
        for module in (self.encoder_embed, self.to_latent, self.decoder_embed, self.action_to_model, self.to_pixels):
            module.apply(init_weights)
        # outputs start at mid-grey (or, with the residual decoder, at a copy of the last frame)
        nn.init.constant_(self.to_pixels.bias, 0.0 if c.residual_decoder else 0.5)

    def _images(self, frames: torch.Tensor, min_frames: int = 2) -> torch.Tensor:
        images = as_float_frames(frames).to(self.encoder_embed.weight)
        size = self.config.image_size
        if images.ndim != 5 or images.shape[-2:] != (size, size) or images.shape[1] < min_frames:
            raise ValueError(
                f"expected at least {min_frames} frames (B, T, {size}, {size}, 3) uint8 or (B, T, 3, {size}, {size}) "
                f"float, got shape {tuple(images.shape)}"
            )
        return images

    def encode_actions(self, frames: torch.Tensor) -> Quantized:
        """Quantised latent actions of the ``T-1`` transitions of ``frames``: ``ids`` int64 ``(B, T-1)``,
        ``vectors`` ``(B, T-1, latent_dim)``."""
        images = self._images(frames)
        tokens = self.encoder_embed(patchify(images * 2.0 - 1.0, self.config.patch_size))
        pooled = self.encoder(tokens).mean(dim=(2, 3))  # (B, T, d)
        return self.quantizer(self._centred(self.to_latent(pooled[:, 1:])))

    def _centred(self, latents: torch.Tensor) -> torch.Tensor:
        """Latents ``(B, N, latent_dim)`` standardised per dimension: batch statistics in training (running averages
        when the batch holds a single transition), running averages in evaluation."""
        flat = latents.reshape(-1, latents.shape[-1])
        norm = self.latent_norm
        if self.training and flat.shape[0] > 1:
            flat = norm(flat)
        else:
            flat = F.batch_norm(flat, norm.running_mean, norm.running_var, training=False, eps=norm.eps)
        return flat.reshape(latents.shape)

    def infer_actions(self, frames: torch.Tensor) -> torch.Tensor:
        """Latent action ids int64 ``(B, T-1)`` of uint8 frames ``(B, T, H, W, 3)`` (or float ``(B, T, 3, H, W)``)."""
        return self.encode_actions(frames).ids

    def action_vectors(self, action_ids: torch.Tensor) -> torch.Tensor:
        """Code vectors ``(B, T-1, latent_dim)`` of latent action ids int64 ``(B, T-1)``."""
        return self.quantizer.ids_to_vectors(action_ids)

    def decode_next_frames(self, frames: torch.Tensor, action_vectors: torch.Tensor) -> torch.Tensor:
        """Predict frames ``1..T-1`` from frames ``0..T-2`` and actions ``(B, T-1, latent_dim)``.

        ``frames``: ``(B, T, ...)`` (only frames ``0..T-2`` are read) or ``(B, T-1, ...)`` past frames.
        Returns float ``(B, T-1, 3, H, W)`` (not clamped); output ``t`` depends only on frames ``<= t`` and actions
        ``<= t``.
        """
        steps = action_vectors.shape[1]
        past = self._images(frames, min_frames=steps)[:, :steps]
        tokens = self.decoder_embed(patchify(past * 2.0 - 1.0, self.config.patch_size))
        tokens = tokens + self.action_to_model(action_vectors)[:, :, None, None, :]
        prediction = unpatchify(self.to_pixels(self.decoder(tokens)), self.config.patch_size)
        return past + prediction if self.config.residual_decoder else prediction

    def predict_next_frames(self, frames: torch.Tensor, action_ids: torch.Tensor) -> torch.Tensor:
        """Like :meth:`decode_next_frames` with action ids int64 ``(B, T-1)``; returns ``[0, 1]`` images."""
        return self.decode_next_frames(frames, self.action_vectors(action_ids)).clamp(0.0, 1.0)

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss = MSE of the predicted frames ``1..T-1`` + VQ loss, on ``batch["frames"]`` uint8 ``(B, T, 64, 64, 3)``.

        Metrics: ``loss``, ``mse``, ``vq_loss``, ``psnr`` (of the predicted frames), ``codebook_usage`` (fraction
        of the latent actions used in the batch), ``dead_codes``.
        """
        images = self._images(batch["frames"])
        actions = self.encode_actions(images)
        prediction = self.decode_next_frames(images, actions.vectors)
        target = images[:, 1:]
        mse = F.mse_loss(prediction, target)
        loss = mse + actions.loss
        with torch.no_grad():
            per_frame = (prediction.clamp(0, 1) - target).pow(2).mean(dim=(2, 3, 4)).clamp_min(1e-10)
            psnr = (-10.0 * torch.log10(per_frame)).mean()
        metrics = {
            "loss": float(loss.detach()),
            "mse": float(mse.detach()),
            "vq_loss": float(actions.loss.detach()),
            "psnr": float(psnr),
            "codebook_usage": torch.unique(actions.ids).numel() / self.config.num_codes,
            "dead_codes": float(self.quantizer.dead_code_mask().sum()),
        }
        return loss, metrics

    def maintenance_step(self, step: int) -> dict[str, float]:
        """Called by the trainer after every optimiser step: revives unused latent actions periodically."""
        return self.quantizer.maintenance_step(step)
