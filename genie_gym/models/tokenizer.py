"""The video tokenizer: an ST-ViViT VQ-VAE that turns 64x64 frames into a grid of codebook ids and back.

    frames (B, T, 64, 64, 3) uint8 -> patches (B, T, h, w, p*p*3) -> Linear -> ST encoder (causal in time)
    -> Linear to latent_dim -> cosine-similarity VQ (l2-normalised codes, straight-through) -> ids (B, T, h, w)
    ids -> normalised code vectors -> Linear -> ST decoder (causal in time) -> Linear -> patches -> (B, T, 3, 64, 64)

Loss: pixel MSE + VQ loss (codebook term + ``commitment`` (0.25) times the commitment term). The codebook keeps usage
statistics; codes unused for ``dead_code_after`` training steps are replaced by recent encoder outputs
(``maintenance_step``). Both are training options (:class:`~genie_gym.models.configs.FrameTrainingOptions`).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genie_gym.models.configs import FrameTrainingOptions, TokenizerConfig
from genie_gym.models.frame_model import FrameModel
from genie_gym.models.image_ops import as_float_frames, frames_to_float, patchify, unpatchify
from genie_gym.models.quantizer import CosineVectorQuantizer, Quantized
from genie_gym.models.st_transformer import init_weights


class VideoTokenizer(FrameModel[TokenizerConfig]):
    """ST-ViViT VQ-VAE over 64x64 RGB clips (see the module docstring) of a :class:`TokenizerConfig` (default: the
    paper's); ``training_options``: see :class:`FrameModel`. ``Tokenizer`` is an alias."""

    model_kind: ClassVar[str] = "tokenizer"
    config_class: ClassVar[type[TokenizerConfig]] = TokenizerConfig

    def __init__(self, config: TokenizerConfig | None = None,
                 training_options: FrameTrainingOptions | None = None) -> None:
        super().__init__(config)
        # decoder fine-tuning only (``genie train tokenizer --decoder-only --decoder-held-ids``): the loss decodes the
        # ids of unchanged patches held from the previous frame (hold_unchanged_tokens), as a dream's are
        self.decode_held_ids = False
        c = self.config
        self.patch_embed, self.encoder, self.to_latent = self.new_encoder()
        self.quantizer = CosineVectorQuantizer(c.num_codes, c.latent_dim, training_options)
        self.from_latent = nn.Linear(c.latent_dim, c.d_model)
        self.decoder, self.to_pixels = self.new_decoder()
        for module in (self.patch_embed, self.to_latent, self.from_latent, self.to_pixels):
            module.apply(init_weights)
        nn.init.constant_(self.to_pixels.bias, 0.5)  # outputs start at mid-grey

    def _images(self, frames: torch.Tensor) -> torch.Tensor:
        images = as_float_frames(frames).to(self.patch_embed.weight)
        if images.ndim != 5 or images.shape[-2:] != (self.config.image_size, self.config.image_size):
            size = self.config.image_size
            raise ValueError(
                f"expected frames (B, T, {size}, {size}, 3) uint8 or (B, T, 3, {size}, {size}) float, "
                f"got shape {tuple(images.shape)}"
            )
        return images

    def encode_latents(self, frames: torch.Tensor) -> torch.Tensor:
        """Continuous encoder outputs ``(B, T, h, w, latent_dim)`` (before normalisation and quantisation)."""
        images = self._images(frames)
        tokens = self.patch_embed(patchify(images * 2.0 - 1.0, self.config.patch_size))
        return self.to_latent(self.encoder(tokens))

    def encode(self, frames: torch.Tensor) -> torch.Tensor:
        """Token ids int64 ``(B, T, h, w)`` of uint8 frames ``(B, T, H, W, 3)`` or float ``(B, T, 3, H, W)``."""
        return self.quantizer(self.encode_latents(frames)).ids

    def decode_vectors(self, vectors: torch.Tensor) -> torch.Tensor:
        """Decode code vectors ``(B, T, h, w, latent_dim)`` to images ``(B, T, 3, H, W)`` (not clamped)."""
        patches = self.to_pixels(self.decoder(self.from_latent(vectors)))
        return unpatchify(patches, self.config.patch_size)

    def decode(self, ids: torch.Tensor) -> torch.Tensor:
        """Images float ``(B, T, 3, H, W)`` in ``[0, 1]`` from token ids int64 ``(B, T, h, w)``."""
        if ids.ndim != 4:
            raise ValueError(f"decode expects token ids (B, T, h, w), got shape {tuple(ids.shape)}")
        return self.decode_vectors(self.quantizer.ids_to_vectors(ids)).clamp(0.0, 1.0)

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, Quantized]:
        """Reconstruction ``(B, T, 3, H, W)`` (not clamped) and the :class:`Quantized` codes of ``frames``."""
        quantized = self.quantizer(self.encode_latents(frames))
        return self.decode_vectors(quantized.vectors), quantized

    def reconstruct(self, frames: torch.Tensor) -> torch.Tensor:
        """Encode and decode: float ``(B, T, 3, H, W)`` in ``[0, 1]``."""
        return self(frames)[0].clamp(0.0, 1.0)

    def codebook_vectors(self) -> torch.Tensor:
        """The normalised code vectors used for lookup, float ``(num_codes, latent_dim)``."""
        return self.quantizer.codebook_vectors()

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss = pixel MSE + VQ loss on ``batch["frames"]`` (uint8 ``(B, T, 64, 64, 3)``).

        Metrics: ``loss``, ``mse``, ``vq_loss``, ``psnr`` (dB, mean over frames), ``codebook_usage`` (fraction of
        codes used in the batch), ``dead_codes`` (codes unused for ``dead_code_after`` training steps).
        """
        target = self._images(batch["frames"])
        reconstruction, quantized = self(target)
        if self.decode_held_ids:  # decoder fine-tune on the ids a hold_unchanged_tokens dynamics model predicts
            if not self.encoder_frozen:
                raise RuntimeError("decode_held_ids trains the decoder only: call freeze_encoder() first")
            held = hold_unchanged_tokens(quantized.ids, batch["frames"], self.config.patch_size)
            reconstruction = self.decode_vectors(self.quantizer.ids_to_vectors(held))
        mse = F.mse_loss(reconstruction, target)
        loss = mse + quantized.loss
        with torch.no_grad():
            per_frame = (reconstruction.clamp(0, 1) - target).pow(2).mean(dim=(2, 3, 4)).clamp_min(1e-10)
            psnr = (-10.0 * torch.log10(per_frame)).mean()
            used = torch.unique(quantized.ids).numel()
        metrics = {
            "loss": float(loss.detach()),
            "mse": float(mse.detach()),
            "vq_loss": float(quantized.loss.detach()),
            "psnr": float(psnr),
            "codebook_usage": used / self.config.num_codes,
            "dead_codes": float(self.quantizer.dead_code_mask().sum()),
        }
        return loss, metrics

    def revive_dead_codes(self, encoder_outputs: torch.Tensor | None = None) -> int:
        """Replace dead codes with random encoder outputs ``(N, latent_dim)`` (default: recent ones); returns count."""
        return self.quantizer.revive_dead_codes(encoder_outputs)

    def maintenance_step(self, step: int) -> dict[str, float]:
        """Called by the trainer after every optimiser step: revives dead codes periodically (cheap otherwise).

        Does nothing once the encoder is frozen (:meth:`freeze_encoder`): the codebook must not change then.
        """
        if self.encoder_frozen:
            return {"dead_codes": float(self.quantizer.dead_code_mask().sum()), "revived": 0.0}
        return self.quantizer.maintenance_step(step)

    @property
    def encoder_frozen(self) -> bool:
        """Whether only the decoder trains (see :meth:`freeze_encoder`)."""
        return not self.patch_embed.weight.requires_grad

    def freeze_encoder(self) -> None:
        """Freeze the encoder and the codebook so only the decoder trains (the paper's decoder fine-tuning).

        Token ids stay exactly what they were, so a dynamics model trained on them keeps working with the
        fine-tuned decoder.
        """
        for module in (self.patch_embed, self.encoder, self.to_latent, self.quantizer):
            module.requires_grad_(False)


Tokenizer = VideoTokenizer


class DecoderStream:
    """Decode a stream of frames one at a time, caching the decoder's activations of the past frames.

    The decoder is causal in time, so decoding frame ``t`` needs the temporal keys/values of frames ``< t`` (kept in
    an :class:`~genie_gym.models.st_transformer.STCache`), not a re-decode of a window of past frames. Each
    :meth:`next_frame` costs one frame of decoder compute.

    Args:
        tokenizer: the tokenizer whose decoder is used.
        context_ids: int64 ``(B, Tc, h, w)`` ids of the frames before the stream (``Tc >= 0`` frames).
        max_context_frames: the decoder attends to at most this many past frames (sliding window, flat memory).
    """

    def __init__(self, tokenizer: VideoTokenizer, context_ids: torch.Tensor, max_context_frames: int = 16) -> None:
        if max_context_frames < 1:
            raise ValueError(f"max_context_frames must be >= 1, got {max_context_frames}")
        self.tokenizer = tokenizer
        self.max_context_frames = int(max_context_frames)
        self.cache = tokenizer.decoder.new_cache()
        self.cache.drop_oldest(self.max_context_frames)  # the cache keeps this window on every later update
        if context_ids.ndim != 4:
            raise ValueError(f"context_ids must be (B, Tc, h, w), got shape {tuple(context_ids.shape)}")
        if context_ids.shape[1] > 0:
            self._decode(context_ids)

    @property
    def num_cached_frames(self) -> int:
        """Past frames the next decode attends to."""
        return self.cache.num_frames

    @torch.no_grad()
    def _decode(self, ids: torch.Tensor) -> torch.Tensor:
        tokenizer = self.tokenizer
        vectors = tokenizer.quantizer.ids_to_vectors(ids)
        hidden = tokenizer.decoder(tokenizer.from_latent(vectors), cache=self.cache, update_cache=True)
        return unpatchify(tokenizer.to_pixels(hidden), tokenizer.config.patch_size).clamp(0.0, 1.0)

    def next_frame(self, ids: torch.Tensor) -> torch.Tensor:
        """Images float ``(B, 3, H, W)`` in ``[0, 1]`` of the frame with token ids int64 ``(B, h, w)``."""
        if ids.ndim != 3:
            raise ValueError(f"next_frame expects token ids (B, h, w), got shape {tuple(ids.shape)}")
        return self._decode(ids[:, None])[:, 0]


def unchanged_patches(frames: torch.Tensor | np.ndarray, patch_size: int) -> torch.Tensor:
    """bool ``(B, T - 1, H / patch_size, W / patch_size)``: which patches of frames 1.. have exactly the previous
    frame's pixels. ``frames``: ``(B, T, H, W, C)``, torch or numpy."""
    frames = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.array(frames))
    batch, length, height, width, _ = frames.shape
    same = (frames[:, 1:] == frames[:, :-1]).all(dim=-1)  # (B, T-1, H, W)
    return same.reshape(batch, length - 1, height // patch_size, patch_size, width // patch_size,
                        patch_size).all(dim=5).all(dim=3)


def hold_unchanged_tokens(ids: torch.Tensor, frames: torch.Tensor | np.ndarray, patch_size: int) -> torch.Tensor:
    """Token ids in which every patch whose pixels equal the previous frame's keeps the previous frame's id.

    The encoder attends across the whole frame and across time, and its cosine codebook has near-ties, so a patch
    whose pixels did not change often gets another, near-duplicate id (measured on SMB 1-1 with the shipped
    tokenizer: 18% of the unchanged patches when clips are encoded 16 frames at a time, 5% frame by frame). A
    dynamics model trained on such ids learns that still screens flip at random, and its dreams drift where the
    game stands still. Holding the id of an unchanged patch makes "nothing moved" exactly predictable, while the
    decoded frame stays what the encoder gives (the held id encoded the same pixels one frame earlier).

    Args:
        ids: int64 ``(B, T, h, w)`` encoder ids of ``frames``.
        frames: uint8 ``(B, T, H, W, 3)`` (torch or numpy), ``H = h * patch_size``.
        patch_size: pixels per token side.
    Returns:
        int64 ``(B, T, h, w)``, a new tensor; frame 0 is unchanged.
    """
    frames = frames if isinstance(frames, torch.Tensor) else torch.from_numpy(np.array(frames))
    batch, length, height, width, _ = frames.shape
    h, w = height // patch_size, width // patch_size
    if ids.shape != (batch, length, h, w):
        raise ValueError(f"ids {tuple(ids.shape)} do not match frames {tuple(frames.shape)} at patch {patch_size}")
    same = unchanged_patches(frames, patch_size).to(ids.device)
    held = ids.clone()
    for t in range(1, length):
        held[:, t] = torch.where(same[:, t - 1], held[:, t - 1], ids[:, t])
    return held


def hold_unchanged_pixels(previous_frame: torch.Tensor, previous_ids: torch.Tensor, decoded: torch.Tensor,
                          ids: torch.Tensor, patch_size: int, tolerance: int = 0) -> torch.Tensor:
    """The decoded frame with every patch whose id equals the previous frame's id copied from the previous frame.

    The decoding counterpart of :func:`hold_unchanged_tokens`: a model trained on held ids says "this patch did not
    change" by repeating its id, so the patch's previous pixels are the exact answer, where decoding the id again
    would give the tokenizer's approximation of them (about 34 dB on SMB) and let a still screen drift over a long
    dream. Patches whose id changed keep the decoder's pixels, unless they come within ``tolerance`` of the previous
    ones: the codebook has near-duplicate ids, and a patch that flips to one of them decodes to almost the same
    pixels, a change nobody sees that still costs a still screen its exactness (on SMB's near-black screens between
    lives one such patch turns the repeated frame's 100 dB into ~75 dB: docs/DESIGN.md §5.7).

    Args:
        previous_frame: ``(B, H, W, C)`` the frame before (real or already held), channels last, any dtype.
        previous_ids: int64 ``(B, h, w)`` its token ids.
        decoded: ``(B, H, W, C)`` the decoder's frame for ``ids``, same dtype as ``previous_frame``.
        ids: int64 ``(B, h, w)``.
        patch_size: pixels per token side.
        tolerance: a patch whose decoded values all lie within this of the previous frame's (uint8 levels, or the
            frames' own units) keeps the previous pixels too; 0: only repeated ids.
    Returns:
        ``(B, H, W, C)``, a new tensor.
    """
    previous_frame = previous_frame.to(decoded.device)
    same = (ids == previous_ids).to(decoded.device)
    if tolerance > 0:
        batch, height, width, channels = decoded.shape
        gap = (decoded.float() - previous_frame.float()).abs()
        gap = gap.reshape(batch, height // patch_size, patch_size, width // patch_size, patch_size, channels)
        same = same | (gap.amax(dim=(2, 4, 5)) <= tolerance)
    same = same.repeat_interleave(patch_size, dim=1).repeat_interleave(patch_size, dim=2)[..., None]
    return torch.where(same, previous_frame, decoded)


def frames_to_ids(tokenizer: VideoTokenizer, frames: torch.Tensor, batch_size: int = 8) -> torch.Tensor:
    """Tokenize uint8 clips ``(N, T, H, W, 3)`` in batches without gradients -> int64 ``(N, T, h, w)`` on CPU."""
    outputs = []
    with torch.no_grad():
        for start in range(0, frames.shape[0], batch_size):
            chunk = frames_to_float(frames[start : start + batch_size])
            outputs.append(tokenizer.encode(chunk).cpu())
    return torch.cat(outputs)
