"""The dynamics model: a MaskGIT ST transformer over tokenizer ids, conditioned on actions.

Input at frame ``t``: the (partly masked) token ids of frame ``t`` and the action ``a_{t-1}`` that produced it (frame 0
gets a learned "no action"). The output at frame ``t`` is the logits of frame ``t``'s tokens; temporal attention is
causal, so frame ``t`` sees frames ``< t`` completely and its own visible tokens.

- GenieRedux-G (``action_source="ground_truth"``): an ``nn.Embedding`` of the real actions (a trained parameter,
  saved with the model) is concatenated to every block's input and projected back to ``d``.
- GenieRedux (``action_source="latent"``): the LAM's latent action ids are embedded and added to the token
  embeddings, as in Genie.
- Token-input skip: the codebook vector of each visible token (projected to ``d``) is added to its learned embedding.
- Training: predict frames ``1..T-1`` given frame 0: one mask ratio ``p ~ U(0.5, 1)`` per clip, each token of frames
  ``1..T-1`` masked with probability ``p``; loss = cross-entropy (or TDCE) on the masked tokens.

The tokenizer's codebook ``(num_codes, latent_dim)`` is a buffer saved with the model (token-input skip, TDCE).
Sampling lives in :mod:`genie_gym.models.maskgit` (``generate``, ``start_stream``).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from genie_gym.models.checkpoint_io import PretrainedMixin
from genie_gym.models.configs import DynamicsConfig, DynamicsTrainingOptions
from genie_gym.models.maskgit import DynamicsStream, generate
from genie_gym.models.st_transformer import STCache, STTransformer, init_weights
from genie_gym.models.tdce import tdce_loss, token_distance_table


def changed_tokens(tokens: torch.Tensor, previous: torch.Tensor | None = None) -> torch.Tensor:
    """Bool ``(B, T, h, w)``: where the id of ``tokens`` int64 ``(B, T, h, w)`` differs from the same position in the
    previous frame of ``previous`` (same shape; default ``tokens`` itself); False in frame 0."""
    previous = tokens if previous is None else previous
    changed = torch.zeros_like(tokens, dtype=torch.bool)
    changed[:, 1:] = tokens[:, 1:] != previous[:, :-1]
    return changed


def _uniform(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """Uniform [0, 1) draws of ``shape`` on ``device``, taken from ``generator`` (on its own device) when given."""
    source = device if generator is None else generator.device
    return torch.rand(shape, generator=generator, device=source).to(device)


class Dynamics(PretrainedMixin, nn.Module):
    """MaskGIT dynamics model (see the module docstring).

    Args:
        config: a :class:`DynamicsConfig` (default: the paper's GenieRedux-G).
        codebook: the tokenizer's normalised code vectors float ``(num_codes, latent_dim)``
            (``VideoTokenizer.codebook_vectors()``); ``None`` leaves zeros (e.g. before loading a checkpoint).
        training_options: how :meth:`compute_loss` trains it (default: :class:`DynamicsTrainingOptions`' defaults);
            the trainer sets the run's. They are not saved with the weights.
    """

    model_kind: ClassVar[str] = "dynamics"
    config_class: ClassVar[type[DynamicsConfig]] = DynamicsConfig

    def __init__(self, config: DynamicsConfig | None = None, codebook: torch.Tensor | None = None,
                 training_options: DynamicsTrainingOptions | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else DynamicsConfig()
        self.training_options = training_options if training_options is not None else DynamicsTrainingOptions()
        c = self.config
        self.mask_id = c.num_codes
        self.no_action_id = c.num_actions
        # compute_loss adds the action-gain diagnostic (one more forward pass on one clip) while this is True; the
        # trainer sets it on the steps it logs only (training_loop.DIAGNOSTICS_FLAG)
        self.diagnostics = True
        if codebook is None:
            codebook = torch.zeros(c.num_codes, c.latent_dim)
        if tuple(codebook.shape) != (c.num_codes, c.latent_dim):
            raise ValueError(
                f"codebook must be (num_codes={c.num_codes}, latent_dim={c.latent_dim}) to match the dynamics config, "
                f"got {tuple(codebook.shape)}"
            )
        self.register_buffer("codebook", codebook.detach().float().clone())
        self.token_embed = nn.Embedding(c.num_codes + 1, c.d_model)
        self.codebook_proj = nn.Linear(c.latent_dim, c.d_model) if c.token_input_skip else None
        conditioned = c.action_source == "ground_truth"
        self.action_embed = nn.Embedding(c.num_actions + 1, c.action_embed_dim if conditioned else c.d_model)
        self.transformer = STTransformer(
            c.d_model, c.num_blocks, c.num_heads, c.mlp_ratio, cond_dim=c.action_embed_dim if conditioned else 0
        )
        self.head = nn.Linear(c.d_model, c.num_codes)
        nn.init.normal_(self.token_embed.weight, std=0.02)
        nn.init.normal_(self.action_embed.weight, std=0.02)
        for module in (self.codebook_proj, self.head):
            if module is not None:
                module.apply(init_weights)

    @property
    def training_options(self) -> DynamicsTrainingOptions:
        """How :meth:`compute_loss` trains the model (checked against its config when set)."""
        return self._training_options

    @training_options.setter
    def training_options(self, options: DynamicsTrainingOptions) -> None:
        self._training_options = options.check_model(self.config)

    # ----------------------------------------------------------------------------------------------- inputs
    def check_tokens(self, tokens: torch.Tensor, allow_mask: bool = False, what: str = "tokens") -> torch.Tensor:
        """Validate token ids ``(B, T, h, w)`` (values in ``[0, num_codes)``, or the mask id if ``allow_mask``)."""
        g = self.config.grid_size
        if tokens.ndim != 4 or tuple(tokens.shape[2:]) != (g, g) or tokens.is_floating_point():
            raise ValueError(f"{what} must be integer ids (B, T, {g}, {g}), got {tokens.dtype} {tuple(tokens.shape)}")
        upper = self.mask_id if allow_mask else self.mask_id - 1
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) > upper):
            raise ValueError(f"{what} must lie in [0, {self.config.num_codes}); got [{tokens.min()}, {tokens.max()}]")
        return tokens.long()

    def check_actions(self, actions: torch.Tensor, what: str = "actions") -> torch.Tensor:
        """Validate integer action ids (any shape) in ``[0, num_actions)``; returns them as int64."""
        if actions.is_floating_point() or actions.dtype == torch.bool:
            raise ValueError(f"{what} must be integer action ids, got dtype {actions.dtype}")
        actions = actions.long()
        if actions.numel() and (int(actions.min()) < 0 or int(actions.max()) >= self.config.num_actions):
            raise ValueError(
                f"{what} must lie in [0, {self.config.num_actions}) ({self.config.action_source} actions); "
                f"got [{int(actions.min())}, {int(actions.max())}]"
            )
        return actions

    def frame_actions(self, actions: torch.Tensor, num_frames: int) -> torch.Tensor:
        """Per-frame action ids ``(B, num_frames)``: ``[no_action, a_0, ..., a_{T-2}]`` from ``actions (B, T-1)``."""
        if actions.ndim != 2 or actions.shape[1] != num_frames - 1:
            raise ValueError(
                f"actions must be (B, {num_frames - 1}) for {num_frames} frames (actions[t] produces frame t+1), "
                f"got shape {tuple(actions.shape)}"
            )
        actions = self.check_actions(actions)
        first = torch.full((actions.shape[0], 1), self.no_action_id, dtype=torch.long, device=actions.device)
        return torch.cat([first, actions], dim=1)

    def embed(self, tokens: torch.Tensor, frame_actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Input embeddings ``(B, T, h, w, d)`` of ids ``(B, T, h, w)`` (mask id allowed) and the per-frame
        conditioning ``(B, T, action_embed_dim)`` (``None`` for latent actions, which are added to the tokens)."""
        x = self.token_embed(tokens)
        if self.codebook_proj is not None:
            visible = tokens != self.mask_id
            vectors = self.codebook[tokens.clamp(max=self.mask_id - 1)]
            x = x + self.codebook_proj(vectors) * visible[..., None].to(x.dtype)
        action = self.action_embed(frame_actions)
        if self.config.action_source == "latent":
            return x + action[:, :, None, None, :], None
        return x, action

    def hidden(
        self,
        tokens: torch.Tensor,
        frame_actions: torch.Tensor,
        cache: STCache | None = None,
        update_cache: bool = False,
    ) -> torch.Tensor:
        """Final hidden states ``(B, T, h, w, d)`` for ids ``(B, T, h, w)`` and per-frame actions ``(B, T)``.

        With ``cache`` the frames follow the cached ones (see ``STTransformer.forward``).
        """
        x, cond = self.embed(tokens, frame_actions)
        return self.transformer(x, cond, cache=cache, update_cache=update_cache)

    def forward(self, tokens: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, h, w, num_codes)`` for ids ``(B, T, h, w)`` (masked positions = ``mask_id``) and actions
        ``(B, T-1)``; ``actions[t]`` is the action that produced frame ``t+1``."""
        tokens = self.check_tokens(tokens, allow_mask=True)
        return self.head(self.hidden(tokens, self.frame_actions(actions, tokens.shape[1])))

    # ----------------------------------------------------------------------------------------------- training
    def distance_table(self) -> torch.Tensor:
        """TDCE cosine-distance table ``K (num_codes, num_codes)`` of the stored codebook."""
        return token_distance_table(self.codebook)

    def sample_mask(self, batch: int, num_frames: int, generator: torch.Generator | None = None,
                    visible_prefix_prob: float | None = None) -> torch.Tensor:
        """Bool training mask ``(B, T, h, w)``: frame 0 visible, frames ``1..T-1`` masked with ratio ``p ~ U(min, max)``
        per clip (at least one masked token per clip).

        With ``visible_prefix_prob`` > 0, that fraction of the clips (drawn per clip) also keeps frames ``1..c-1``
        fully visible, ``c ~ U{1..T-1}``: only frames ``c..T-1`` are masked, as when a dream predicts frame ``c``.
        ``visible_prefix_prob`` overrides the training options' (evaluation uses 0, the paper's masking, for every
        model).
        """
        options, grid = self.training_options, self.config.grid_size
        prefix_prob = options.visible_prefix_prob if visible_prefix_prob is None else visible_prefix_prob
        device = self.codebook.device
        ratio = torch.rand(batch, 1, 1, 1, generator=generator, device=device)
        ratio = options.mask_ratio_min + (options.mask_ratio_max - options.mask_ratio_min) * ratio
        scores = torch.rand(batch, num_frames - 1, grid, grid, generator=generator, device=device)
        if prefix_prob > 0:
            first_masked = torch.randint(1, num_frames, (batch,), generator=generator, device=device)
            use_prefix = torch.rand(batch, generator=generator, device=device) < prefix_prob
            first_masked = torch.where(use_prefix, first_masked, torch.ones_like(first_masked))
            frame = torch.arange(1, num_frames, device=device)
            kept_visible = frame[None, :] < first_masked[:, None]  # (B, T-1): frames kept visible
            scores = scores.masked_fill(kept_visible[:, :, None, None], 2.0)  # 2 > any ratio, never the argmin
        mask = scores < ratio
        lowest = scores.flatten(1).argmin(dim=1)
        mask.view(batch, -1)[torch.arange(batch, device=device), lowest] = True
        return torch.cat([torch.zeros_like(mask[:, :1]), mask], dim=1)

    def stall_context(self, tokens: torch.Tensor, mask: torch.Tensor, actions: torch.Tensor | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """Input ids ``(B, T, h, w)`` where each fully visible frame ``1..T-2`` of ``tokens`` is, with probability
        ``context_stall_prob``, the (possibly already stalled) frame before it; ``mask`` bool ``(B, T, h, w)``.

        With ``context_stall_actions`` set, only frames ``t`` whose action ``actions[:, t]`` (int64 ``(B, T-1)``,
        required then) is in that list are replaced. Frames with a masked token (targets) and the last frame are never
        replaced, so every target stays real.
        """
        batch, num_frames = tokens.shape[:2]
        device = tokens.device
        visible = ~mask.flatten(2).any(dim=2)  # (B, T)
        draws = _uniform((batch, num_frames), generator, device)
        stalled = visible & (draws < self.training_options.context_stall_prob)
        if self.training_options.context_stall_actions:
            if actions is None:
                raise ValueError("stall_context needs the clip's actions when context_stall_actions is set")
            allowed = torch.tensor(self.training_options.context_stall_actions, device=device)
            stalled[:, :-1] &= torch.isin(actions.to(device), allowed)
        stalled[:, 0] = False
        stalled[:, -1] = False
        if not bool(stalled.any()):
            return tokens
        frames = list(tokens.unbind(dim=1))
        for t in range(1, num_frames - 1):
            frames[t] = torch.where(stalled[:, t, None, None], frames[t - 1], frames[t])
        return torch.stack(frames, dim=1)

    @torch.no_grad()
    def rollout_context(self, inputs: torch.Tensor, mask: torch.Tensor, frame_actions: torch.Tensor,
                        generator: torch.Generator | None = None) -> torch.Tensor:
        """Input ids ``(B, T, h, w)`` where, in a fraction ``context_rollout_prob`` of the clips, the last
        ``k = context_rollout_frames`` fully visible frames before the first target frame are the model's own
        predictions: frame by frame, every token of the frame masked, one pass, argmax, given the input frames before
        it (already replaced ones included). Only clips whose visible prefix holds frames ``1..k`` or more qualify
        (frame 0 stays real). ``inputs`` int64 ``(B, T, h, w)``; ``mask`` bool ``(B, T, h, w)`` (True: a target
        token); ``frame_actions`` int64 ``(B, T)`` from :meth:`frame_actions`. Targets are never changed.
        """
        batch = inputs.shape[0]
        device = inputs.device
        k = self.training_options.context_rollout_frames
        visible = ~mask.flatten(2).any(dim=2)  # (B, T)
        first_target = (~visible).to(torch.int64).argmax(dim=1)  # every clip has a masked token (sample_mask)
        draws = _uniform((batch,), generator, device)
        chosen = ((first_target - k) >= 1) & (draws < self.training_options.context_rollout_prob)
        if not bool(chosen.any()):
            return inputs
        rows = chosen.nonzero().squeeze(1)
        ids = inputs[rows].clone()  # (n, T, h, w)
        actions = frame_actions[rows]
        index = torch.arange(len(rows), device=device)
        for back in range(k, 0, -1):
            frame = first_target[rows] - back  # (n,): the frame to dream, after the (replaced) frames before it
            length = int(frame.max()) + 1  # causal in time: later frames do not matter
            query = ids[:, :length].clone()
            query[index, frame] = self.mask_id
            logits = self.head(self.hidden(query, actions[:, :length])[index, frame])  # (n, h, w, V)
            ids[index, frame] = logits.argmax(dim=-1)
        out = inputs.clone()
        out[rows] = ids
        return out

    def token_weights(self, tokens: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        """Float ``(B, T, h, w)`` loss weights, ``changed_token_weight`` on the changed tokens and 1 elsewhere.

        ``tokens`` int64 ``(B, T, h, w)`` are the real ids, ``inputs`` the same shape the model's input ids (``tokens``
        with stalled frames). Scope ``"all"``: the tokens that differ from the same position of the real previous
        frame. Scope ``"after_stall"``: only in the frames whose previous input frame is a stalled copy (differs from
        the real one), the tokens that differ from that copy (what the model must change to carry on).
        """
        if self.training_options.changed_token_weight_scope == "all":
            changed = changed_tokens(tokens)
        else:
            after_stall = torch.zeros(tokens.shape[:2], dtype=torch.bool, device=tokens.device)
            after_stall[:, 1:] = (inputs[:, :-1] != tokens[:, :-1]).flatten(2).any(dim=2)
            changed = changed_tokens(tokens, inputs) & after_stall[:, :, None, None]
        return torch.where(changed, self.training_options.changed_token_weight, 1.0)

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """MaskGIT loss on ``batch["tokens"]`` int64 ``(B, T, h, w)`` and ``batch["actions"]`` int64 ``(B, T-1)``.

        Metrics: ``loss``, ``ce``, ``token_distance`` (expected cosine distance of the prediction to the true token),
        ``masked_accuracy`` (argmax accuracy on masked tokens), ``mask_ratio``.
        """
        tokens = self.check_tokens(batch["tokens"])
        if tokens.shape[1] < 2:
            raise ValueError("dynamics training needs clips of at least 2 frames")
        actions = batch["actions"].to(tokens.device)
        frame_actions = self.frame_actions(actions, tokens.shape[1])
        mask = self.sample_mask(tokens.shape[0], tokens.shape[1])
        options = self.training_options
        inputs = self.stall_context(tokens, mask, actions) if options.context_stall_prob > 0 else tokens
        if options.context_rollout_prob > 0:
            inputs = self.rollout_context(inputs, mask, frame_actions)
        hidden = self.hidden(inputs.masked_fill(mask, self.mask_id), frame_actions)
        logits = self.head(hidden[mask])
        targets = tokens[mask]
        table = self.distance_table() if options.tdce_lambda > 0 else None
        weights = None
        if options.changed_token_weight != 1.0:
            weights = self.token_weights(tokens, inputs)[mask]
        loss, cross_entropy, distance = tdce_loss(logits, targets, table, options.tdce_lambda, weights)
        with torch.no_grad():
            accuracy = (logits.argmax(dim=-1) == targets).float().mean()
        metrics = {
            "loss": float(loss.detach()),
            "ce": float(cross_entropy.detach()),
            "token_distance": float(distance.detach()),
            "masked_accuracy": float(accuracy),
            "mask_ratio": float(mask[:, 1:].float().mean()),
        }
        if self.config.action_source == "ground_truth" and self.diagnostics:
            metrics.update(self.action_gain(tokens[:1], batch["actions"][:1], mask[:1], hidden[:1]))
        return loss, metrics

    @torch.no_grad()
    def action_gain(self, tokens: torch.Tensor, actions: torch.Tensor, mask: torch.Tensor,
                    hidden: torch.Tensor | None = None, generator: torch.Generator | None = None
                    ) -> dict[str, float]:
        """How much the model uses the actions: masked-token CE with replaced actions minus CE with the true ones.

        Args:
            tokens: int64 ``(B, T, h, w)``; actions: int64 ``(B, T-1)``; mask: bool ``(B, T, h, w)``.
            hidden: optionally the hidden states already computed with the true actions on the masked input.
            generator: draws the replacement actions.

        Each action is replaced by a different one (``(a + k) mod A``, ``k`` in ``1..A-1``). Returns, in nats,
        ``action_gain`` (mean over the masked tokens) and ``action_gain_changed`` (mean over the masked tokens whose
        id differs from the previous frame's, where the action's effect shows; 0 when there are none). A model that
        ignores actions scores ~0 on both.
        """
        masked_input = tokens.masked_fill(mask, self.mask_id)
        num_frames = tokens.shape[1]
        actions = actions.to(tokens.device)
        if hidden is None:
            hidden = self.hidden(masked_input, self.frame_actions(actions, num_frames))
        offsets = torch.randint(1, self.config.num_actions, actions.shape, generator=generator,
                                device=actions.device if generator is None else generator.device).to(actions.device)
        other = (actions + offsets) % self.config.num_actions
        hidden_other = self.hidden(masked_input, self.frame_actions(other, num_frames))
        targets = tokens[mask]
        ce_true = F.cross_entropy(self.head(hidden.detach()[mask]).float(), targets, reduction="none")
        ce_other = F.cross_entropy(self.head(hidden_other[mask]).float(), targets, reduction="none")
        gain = ce_other - ce_true
        changed = changed_tokens(tokens)[mask]
        return {"action_gain": float(gain.mean()),
                "action_gain_changed": float(gain[changed].mean()) if bool(changed.any()) else 0.0}

    def maintenance_step(self, step: int) -> dict[str, float]:
        """Nothing to maintain (present so every model offers the same trainer hook)."""
        return {}

    # ----------------------------------------------------------------------------------------------- sampling
    generate = generate
    """``model.generate(context_tokens, actions, num_frames, ...)``: :func:`genie_gym.models.maskgit.generate` with
    this model as its first argument."""

    def start_stream(
        self, context_tokens: torch.Tensor, actions: torch.Tensor, max_context_frames: int | None = 16
    ) -> DynamicsStream:
        """A cached frame-by-frame predictor; see :class:`genie_gym.models.maskgit.DynamicsStream`."""
        return DynamicsStream(self, context_tokens, actions, max_context_frames=max_context_frames)
