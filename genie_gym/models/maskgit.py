"""MaskGIT sampling for the dynamics model: full-recompute generation and a cached frame-by-frame stream.

Decoding ``M`` unknown tokens takes ``S`` steps. At step ``i`` the model predicts all tokens; a candidate is drawn
for every still-masked token at temperature ``T_i = temperature * (S-1-i)/(S-1)`` (argmax at the last step); the
most confident candidates (log-probability plus Gumbel noise scaled by ``T_i``) are fixed so that
``floor(M cos(pi/2 (i+1)/S))`` tokens stay masked (cosine schedule); fixed tokens never change again. For every token
we report the normalised entropy ``H / log(num_codes)`` of the (untempered) distribution it was drawn from and the
probability of the chosen id, both at the step where it was fixed. How a frame is drawn is one
:class:`~genie_gym.models.configs.DreamSettings` (``sampling``): the MaskGIT steps, the temperature and the three
options below.

- :func:`generate`: ``mode="single"`` decodes all future frames together; ``"autoregressive"`` decodes
  ``frames_per_step`` frames at a time given everything before. The known frames are run once into a cache and
  each MaskGIT step computes only the frames being decoded (``use_cache=False``: the whole sequence at every step).
- :class:`DynamicsStream`: autoregressive, one frame at a time, with a per-layer cache of the past frames (temporal
  keys/values and PEG inputs); gives the same tokens as ``generate(mode="autoregressive", frames_per_step=1)`` for
  the same generator state, at a fraction of the cost, and can keep only the last ``max_context_frames`` frames.

Hold bias (both paths, ``hold_bias=b > 0``, for a model trained on held ids: ``hold_unchanged_tokens``): ``b`` is
added to the log-probability of the id each patch had in the latest known frame (the frame before the one being
decoded; in a chunk of several frames, the last frame before the chunk) at every MaskGIT step. A held id means
"nothing moved here", and wrongly changing a still patch costs more pixels than wrongly holding a moving one
(measured: docs/WORLD_MODEL_CAMPAIGN.md), so the decision is shifted towards holding. Entropies are those of the
biased distribution. ``b = 0`` is the plain model.

Change temperature (both paths, ``change_temperature=c > 0``): whether a patch keeps its id of the latest known frame
is drawn apart from which id it changes to. At each MaskGIT step a masked patch changes with probability
``sigmoid((log(1 - p_hold) - log p_hold) / c)`` (``c = 1``: the model's own probability ``1 - p_hold``), and a
changing patch draws its new id among the other ids at the step's temperature. Without it a low temperature, and
the argmax of the last steps, turn every patch whose change is likely but not the single most likely outcome into
a held patch: Mario moves about half a pixel of the 64-wide frame per step, most steps' most likely id is the held
one, and a dream sampled that way stands still (docs/WORLD_MODEL_CAMPAIGN.md). ``c = 0`` is the plain sampler.

Action guidance (both paths, ``action_guidance=w > 0``, ground-truth actions only): the logits of the predicted
frame(s) are computed for every action ``b`` in one batched pass, and the tokens are drawn from
``log p(x|a) + w * (log p(x|a) - mean_b log p(x|b))`` -- the given action's distribution pushed away from the
average over all actions (classifier-free guidance with the action average as the unconditional model, which stays
in the training distribution; the learned "no action" id is only ever seen at frame 0). It costs ``num_actions``
times the compute of a plain step; ``w = 0`` is the plain model. Entropies are those of the guided distribution.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from genie_gym.models.configs import SAMPLING_DEFAULTS, DreamSettings
from genie_gym.models.st_transformer import STCache

if TYPE_CHECKING:
    from genie_gym.models.dynamics import Dynamics

GENERATION_MODES: tuple[str, ...] = ("single", "autoregressive")


@dataclass
class GenerationResult:
    """Predicted frames' tokens and per-token uncertainty.

    Attributes:
        tokens: int64 ``(B, N, h, w)`` predicted token ids.
        entropy: float ``(B, N, h, w)`` entropy of each token's distribution divided by ``log(num_codes)`` (in [0, 1]).
        probs_of_chosen: float ``(B, N, h, w)`` probability the model gave to the chosen id.
    """

    tokens: torch.Tensor
    entropy: torch.Tensor
    probs_of_chosen: torch.Tensor


def cosine_masked_fraction(step: int, total: int) -> float:
    """Fraction of tokens still masked after ``step`` of ``total`` MaskGIT steps: ``cos(pi/2 * step/total)``."""
    return math.cos(0.5 * math.pi * step / total)


def annealed_temperature(temperature: float, step: int, total: int) -> float:
    """Sampling temperature at ``step`` (0-based): linear from ``temperature`` to 0 (argmax) at the last step."""
    if total <= 1:
        return 0.0
    return temperature * (total - 1 - step) / (total - 1)


def _log_exponential(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """``log(E)``, ``E ~ Exp(1)``, drawn from ``generator`` (on its device, then moved to ``device``).

    ``-log(E)`` is standard Gumbel noise; this form needs two passes over the tensor instead of five.
    """
    source = generator.device if generator is not None else device
    noise = torch.empty(shape, device=source).exponential_(generator=generator).clamp_min_(1e-30).log_()
    return noise.to(device)


def _sample_categorical(logits: torch.Tensor, temperature: float, generator: torch.Generator | None) -> torch.Tensor:
    """One id per row of ``logits (..., V)`` drawn from ``softmax(logits / temperature)``; int64 ``(...)``.

    Inverse-CDF sampling: one uniform number per row against the cumulative sum of the (unnormalised) probabilities.
    Same distribution as Gumbel-max, but it draws ``V`` times fewer random numbers (at batch 64 on a CPU, drawing
    ``Exp(1)`` noise for every logit took ~20% of a dream step). ``right=True`` never lands on a zero-probability id.
    """
    cdf = (logits - logits.amax(dim=-1, keepdim=True)).div_(temperature).exp_().cumsum_(dim=-1)
    source = generator.device if generator is not None else logits.device
    uniform = torch.rand((*cdf.shape[:-1], 1), generator=generator, device=source).to(logits.device)
    ids = torch.searchsorted(cdf, uniform.mul_(cdf[..., -1:]), right=True).squeeze(-1)
    return ids.clamp_max_(logits.shape[-1] - 1)


def _sample_hold_or_change(logits: torch.Tensor, held: torch.Tensor, temperature: float, change_temperature: float,
                           generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids (B, K), confidence (B, K))`` from ``logits (B, K, V)``: each position keeps ``held`` or changes (drawn at
    ``change_temperature``), a changing one drawing among the other ids at ``temperature`` (0: their argmax).

    The confidence that orders the fixing is that of the decision, ``log max(p_hold, 1 - p_hold)``, not of its
    outcome: ordered by the drawn id's probability, the positions that drew the rarer outcome would stay masked and
    draw again, and the changes would mostly vanish by the last step."""
    log_probs = logits.log_softmax(dim=-1)
    log_hold = log_probs.gather(-1, held[..., None]).squeeze(-1).clamp(max=-1e-7)
    log_change = torch.log(-torch.expm1(log_hold))  # log(1 - p_hold), exact near p_hold = 1
    change_prob = torch.sigmoid((log_change - log_hold) / change_temperature)
    change = torch.rand(change_prob.shape, generator=generator, device=logits.device) < change_prob
    others = logits.scatter(-1, held[..., None], float("-inf"))
    new = _sample_categorical(others, temperature, generator) if temperature > 0 else others.argmax(dim=-1)
    return torch.where(change, new, held), torch.maximum(log_hold, log_change)


@torch.no_grad()
def maskgit_decode(
    logits_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    batch: int,
    num_tokens: int,
    num_codes: int,
    steps: int,
    temperature: float,
    generator: torch.Generator | None,
    device: torch.device,
    previous: torch.Tensor | None = None,
    change_temperature: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Decode ``num_tokens`` unknown tokens per sample with MaskGIT (see the module docstring).

    Only the still-masked positions are scored and sampled at each step (fixed tokens never change), so the output
    head, the softmax and the noise cost ``K`` rather than ``M`` positions.

    Args:
        logits_fn: ``(ids, positions) -> logits``: ids int64 ``(B, M)`` (unknown = ``num_codes``, the mask id) and
            positions int64 ``(B, K)`` (the masked positions, ascending, the same count ``K`` in every row) ->
            logits ``(B, K, num_codes)`` of those positions.
        batch, num_tokens: ``B`` and ``M``.
        num_codes: codebook size ``V``.
        steps: number of MaskGIT steps ``S`` (>= 1).
        temperature: initial sampling temperature (0: greedy throughout).
        generator: source of randomness (``None``: the global RNG).
        device: where the ids live.
        previous: int64 ``(B, M)`` each position's id in the latest known frame (needed by ``change_temperature``).
        change_temperature: temperature of the hold-or-change decision (module docstring; 0: the plain sampler).

    Returns ids int64 ``(B, M)``, normalised entropy float ``(B, M)`` and probability of the chosen id ``(B, M)``.
    """
    if steps < 1:
        raise ValueError(f"maskgit_steps must be >= 1, got {steps}")
    if change_temperature < 0 or (change_temperature > 0 and previous is None):
        raise ValueError(f"change_temperature must be >= 0 and needs the previous ids, got {change_temperature}")
    tokens = torch.full((batch, num_tokens), num_codes, dtype=torch.long, device=device)
    entropy = torch.zeros(batch, num_tokens, device=device)
    chosen_prob = torch.zeros(batch, num_tokens, device=device)
    # Masked positions per row, ascending; every row has the same count at every step.
    masked = torch.arange(num_tokens, device=device).expand(batch, num_tokens)
    log_codes = math.log(num_codes)
    for step in range(steps):
        num_masked = masked.shape[1]
        logits = logits_fn(tokens, masked).float()  # (B, K, V)
        temp = annealed_temperature(temperature, step, steps)
        decision_confidence = None
        if change_temperature > 0:
            sampled, decision_confidence = _sample_hold_or_change(logits, previous.gather(1, masked), temp,
                                                                  change_temperature, generator)
        elif temp > 0:
            sampled = _sample_categorical(logits, temp, generator)
        else:
            sampled = logits.argmax(dim=-1)
        log_norm = torch.logsumexp(logits, dim=-1)  # (B, K)
        sampled_log_prob = logits.gather(-1, sampled[..., None]).squeeze(-1) - log_norm  # (B, K)
        confidence = sampled_log_prob if decision_confidence is None else decision_confidence
        if temp > 0:
            confidence = confidence - temp * _log_exponential((batch, num_masked), generator, device)
        keep_masked = 0 if step == steps - 1 else math.floor(num_tokens * cosine_masked_fraction(step + 1, steps))
        keep_masked = max(0, min(keep_masked, num_masked - 1))
        if keep_masked > 0:
            fix = torch.ones(batch, num_masked, dtype=torch.bool, device=device)
            fix = fix.scatter(1, confidence.topk(keep_masked, dim=-1, largest=False).indices, False)
            fixed_logits, fixed_log_norm = logits[fix], log_norm[fix]  # (B*F, V), (B*F,)
            fixed_positions, fixed_ids = masked[fix].view(batch, -1), sampled[fix].view(batch, -1)
            fixed_log_prob = sampled_log_prob[fix]
        else:  # every remaining token is fixed now (always at the last step): no gathering copies
            fixed_logits, fixed_log_norm = logits.reshape(-1, logits.shape[-1]), log_norm.reshape(-1)
            fixed_positions, fixed_ids, fixed_log_prob = masked, sampled, sampled_log_prob.reshape(-1)
        # entropy -sum p log p of the (untempered) distributions of the tokens fixed now; log p = logits - log_norm
        fixed_log_probs = fixed_logits - fixed_log_norm[:, None]
        step_entropy = (fixed_log_probs.exp() * fixed_log_probs).sum(dim=-1).neg_().div_(log_codes)
        tokens = tokens.scatter(1, fixed_positions, fixed_ids)
        entropy = entropy.scatter(1, fixed_positions, step_entropy.view(batch, -1))
        chosen_prob = chosen_prob.scatter(1, fixed_positions, fixed_log_prob.exp().view(batch, -1))
        if keep_masked == 0:
            break
        masked = masked[~fix].view(batch, -1)
    return tokens, entropy, chosen_prob


def hold_biased(logits_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], previous: torch.Tensor,
                frames: int, bias: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """``logits_fn`` with ``bias`` added to each position's id in ``previous`` (module docstring, hold bias).

    Args:
        logits_fn: as :func:`maskgit_decode` takes it, over ``frames`` frames of ``h * w`` positions.
        previous: int64 ``(B, h, w)`` the latest known frame's ids.
        frames: frames being decoded together.
        bias: the log-probability bonus (``<= 0``: ``logits_fn`` itself).
    """
    if bias < 0:
        raise ValueError(f"hold_bias must be >= 0, got {bias}")
    if bias == 0:
        return logits_fn
    held = previous.reshape(previous.shape[0], -1).repeat(1, frames)  # (B, frames * h * w)

    def biased(ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        logits = logits_fn(ids, positions).float()
        return logits.scatter_add(-1, held.gather(1, positions)[..., None],
                                  torch.full((*positions.shape, 1), float(bias), device=logits.device))

    return biased


def guided_logits(given: torch.Tensor, alternatives: torch.Tensor, weight: float) -> torch.Tensor:
    """Action-guided logits ``(B, K, V)``: ``log p(.|a) + weight * (log p(.|a) - mean_b log p(.|b))``.

    Args:
        given: logits ``(B, K, V)`` under the given actions ``a``.
        alternatives: logits ``(A, B, K, V)`` under each of the ``A`` actions ``b``.
        weight: guidance weight (0: the given distribution).
    """
    log_given = torch.log_softmax(given.float(), dim=-1)
    reference = torch.log_softmax(alternatives.float(), dim=-1).mean(dim=0)
    return log_given + weight * (log_given - reference)


def _check_guidance(model: Dynamics, action_guidance: float) -> float:
    """``action_guidance`` (>= 0, as :class:`DreamSettings` checks it) if this model can take it."""
    if action_guidance > 0 and model.config.action_source != "ground_truth":
        raise ValueError("action_guidance needs a GenieRedux-G model (ground-truth actions); this model's actions "
                         f"are {model.config.action_source!r}")
    return action_guidance


def _gather_positions(hidden: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """Hidden states ``(B, T, h, w, d)`` at flat token positions ``(B, K)`` (over ``T*h*w``) -> ``(B, K, d)``."""
    flat = hidden.reshape(hidden.shape[0], -1, hidden.shape[-1])
    if positions.shape[1] == flat.shape[1]:
        return flat
    return flat.gather(1, positions[..., None].expand(-1, -1, flat.shape[-1]))


def _check_context(model: Dynamics, context_tokens: torch.Tensor) -> torch.Tensor:
    if context_tokens.ndim != 4 or context_tokens.shape[1] < 1:
        raise ValueError(f"context_tokens must be (B, Tc>=1, h, w), got shape {tuple(context_tokens.shape)}")
    return model.check_tokens(context_tokens.to(model.codebook.device), what="context_tokens")


@torch.no_grad()
def generate(
    model: Dynamics,
    context_tokens: torch.Tensor,
    actions: torch.Tensor,
    num_frames: int,
    mode: str = "single",
    frames_per_step: int = 1,
    sampling: DreamSettings = SAMPLING_DEFAULTS,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> GenerationResult:
    """Predict ``num_frames`` frames after the context.

    Args:
        model: the dynamics model.
        context_tokens: int64 ``(B, Tc, h, w)`` ids of the given frames.
        actions: int64 ``(B, Tc + num_frames - 1)``; ``actions[t]`` is applied at frame ``t`` and produces frame
            ``t+1`` (frames ``Tc..Tc+N-1`` use actions ``Tc-1..Tc+N-2``; actions ``0..Tc-2`` link the context frames).
        num_frames: ``N`` frames to predict.
        mode: ``"single"`` (all ``N`` frames in one MaskGIT decode) or ``"autoregressive"``.
        frames_per_step: frames decoded together in ``"autoregressive"`` mode (the paper's A.2 uses 2).
        sampling: how each decode draws (:class:`~genie_gym.models.configs.DreamSettings`; this function reads
            ``maskgit_steps``, ``temperature`` (annealed to argmax at the last step), ``action_guidance`` (module
            docstring; the alternatives hold one action ``b`` over all frames being decoded, and the guided action of
            every frame is its given one), ``hold_bias`` (a bonus for each patch's id in the last frame before the
            frames being decoded) and ``change_temperature``; the pixel settings are the world model's).
        generator: seeded ``torch.Generator`` for reproducible samples.
        use_cache: run the known frames once into an :class:`STCache` (frames decoded so far are appended to it) so
            each MaskGIT step computes only the frames being decoded; ``False`` recomputes the whole sequence at
            every step (the reference the cache is tested against). Same tokens either way, up to float rounding.

    Returns a :class:`GenerationResult` with ``(B, N, h, w)`` tensors.
    """
    if mode not in GENERATION_MODES:
        raise ValueError(f"mode must be one of {GENERATION_MODES}, got {mode!r}")
    if num_frames < 1 or frames_per_step < 1:
        raise ValueError(f"num_frames and frames_per_step must be >= 1, got {num_frames} and {frames_per_step}")
    context = _check_context(model, context_tokens)
    batch, num_context, h, w = context.shape
    _check_actions(actions, batch, num_context, num_frames)
    frame_actions = model.frame_actions(actions.to(context.device), num_context + num_frames)
    action_guidance = _check_guidance(model, sampling.action_guidance)
    chunk = num_frames if mode == "single" else frames_per_step
    cache: STCache | None = None
    if use_cache:
        cache = model.transformer.new_cache()
        model.hidden(context, frame_actions[:, :num_context], cache=cache, update_cache=True)
    sequence = context
    results: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []
    for start in range(0, num_frames, chunk):
        count = min(chunk, num_frames - start)
        first = sequence.shape[1]
        logits_fn = _chunk_logits_fn(model, sequence, count, frame_actions, cache, action_guidance)
        ids, entropy, probs = maskgit_decode(
            hold_biased(logits_fn, sequence[:, -1], count, sampling.hold_bias), batch, count * h * w,
            model.config.num_codes, sampling.maskgit_steps, sampling.temperature, generator, context.device,
            previous=sequence[:, -1].reshape(batch, -1).repeat(1, count),
            change_temperature=sampling.change_temperature,
        )
        results.append((ids, entropy, probs))
        decoded = ids.view(batch, count, h, w)
        if cache is not None and start + count < num_frames:
            model.hidden(decoded, frame_actions[:, first : first + count], cache=cache, update_cache=True)
        sequence = torch.cat([sequence, decoded], dim=1)
    tokens, entropy, probs = (torch.cat([r[i].view(batch, -1, h, w) for r in results], dim=1) for i in range(3))
    return GenerationResult(tokens=tokens, entropy=entropy, probs_of_chosen=probs)


def _check_actions(actions: torch.Tensor, batch: int, num_context: int, num_frames: int) -> None:
    """Raise unless ``actions`` is ``(B, Tc + N - 1)``: one action per frame transition, the context's included."""
    total = num_context + num_frames
    if actions.ndim != 2 or actions.shape[0] != batch or actions.shape[1] != total - 1:
        raise ValueError(
            f"actions must be (B={batch}, Tc+N-1={total - 1}) for {num_context} context and {num_frames} predicted "
            f"frames (actions[t] produces frame t+1), got shape {tuple(actions.shape)}"
        )


def _chunk_logits_fn(model: Dynamics, known: torch.Tensor, count: int, frame_actions: torch.Tensor,
                     cache: STCache | None, action_guidance: float
                     ) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The ``logits_fn`` of :func:`maskgit_decode` for the ``count`` frames after ``known`` ``(B, T, h, w)``.

    With a ``cache`` (holding ``known``), only the frames being decoded are run; without, the whole sequence is
    recomputed at every MaskGIT step. ``action_guidance > 0`` scores every action in one batched pass
    (module docstring).
    """
    batch, first, h, w = known.shape
    num_actions = model.config.num_actions

    def logits_fn(ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        new = ids.view(batch, count, h, w)
        if cache is not None:  # only the frames being decoded, after the cached ones
            inputs, actions_now, skip = new, frame_actions[:, first : first + count], 0
        else:
            inputs, actions_now, skip = torch.cat([known, new], dim=1), frame_actions[:, : first + count], first
        if action_guidance == 0:
            hidden = model.hidden(inputs, actions_now, cache=cache, update_cache=False)[:, skip:]
            return model.head(_gather_positions(hidden, positions))
        # rows: the given actions, then every action b held over the decoded frames (row (1 + b) * B + i);
        # with the cache, the 1 + A groups of rows attend to the one cached copy of the known frames
        rows = actions_now.repeat(1 + num_actions, 1)
        held = torch.arange(num_actions, device=new.device).repeat_interleave(batch)[:, None]
        rows[batch:, skip:] = held
        hidden = model.hidden(inputs.repeat(1 + num_actions, 1, 1, 1), rows, cache=cache,
                              update_cache=False)[:, skip:]
        logits = model.head(_gather_positions(hidden, positions.repeat(1 + num_actions, 1)))
        logits = logits.view(1 + num_actions, batch, *logits.shape[1:])
        return guided_logits(logits[0], logits[1:], action_guidance)

    return logits_fn


class DynamicsStream:
    """Frame-by-frame prediction with a cache of the past frames' activations (fast stepping, docs/DESIGN.md §5.6).

    Args:
        model: the dynamics model.
        context_tokens: int64 ``(B, Tc, h, w)`` ids of the given frames.
        actions: int64 ``(B, Tc-1)`` actions linking the context frames (``actions[t]`` produced frame ``t+1``).
        max_context_frames: keep at most this many past frames in the cache (sliding window, flat memory);
            ``None`` keeps all. With a window, the prediction equals a full recompute only while the sequence is no
            longer than the window.

    ``next_frame(action, ...)`` predicts the frame produced by ``action`` (applied at the latest frame), computing
    only that frame's tokens at each MaskGIT step, then appends it to the cache.
    """

    def __init__(
        self,
        model: Dynamics,
        context_tokens: torch.Tensor,
        actions: torch.Tensor,
        max_context_frames: int | None = 16,
    ) -> None:
        if max_context_frames is not None and max_context_frames < 1:
            raise ValueError(f"max_context_frames must be >= 1 or None, got {max_context_frames}")
        self.model = model
        self.max_context_frames = max_context_frames
        context = _check_context(model, context_tokens)
        self.batch_size, num_context, self.grid_h, self.grid_w = context.shape
        frame_actions = model.frame_actions(actions.to(context.device), num_context)
        self.cache: STCache = model.transformer.new_cache()
        if max_context_frames is not None:
            self.cache.drop_oldest(max_context_frames)  # the cache keeps this window on every later update
        with torch.no_grad():
            model.hidden(context, frame_actions, cache=self.cache, update_cache=True)
        self.frames_seen = num_context
        self.last_tokens: torch.Tensor = context[:, -1]
        self.last_probs_of_chosen: torch.Tensor | None = None

    @property
    def num_cached_frames(self) -> int:
        """Number of past frames the next prediction attends to."""
        return self.cache.num_frames

    def _action_ids(self, action: torch.Tensor | int) -> torch.Tensor:
        device = self.model.codebook.device
        action = torch.as_tensor(action, device=device)
        if action.ndim == 0:
            action = action.expand(self.batch_size)
        if action.shape != (self.batch_size,):
            raise ValueError(f"action must be an int or ids (B={self.batch_size},), got shape {tuple(action.shape)}")
        return self.model.check_actions(action, what="action")[:, None]

    @torch.no_grad()
    def next_frame(
        self,
        action: torch.Tensor | int,
        sampling: DreamSettings = SAMPLING_DEFAULTS,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Predict the next frame given ``action`` (int or int64 ``(B,)``), drawn as :func:`generate` draws with
        ``sampling`` (with action guidance, every action's rows attend to the one cache; nothing is copied per action).

        Returns ``(tokens int64 (B, h, w), entropy float (B, h, w))``; ``last_probs_of_chosen`` keeps the chosen
        ids' probabilities.
        """
        model = self.model
        frame_action = self._action_ids(action)
        action_guidance = _check_guidance(model, sampling.action_guidance)
        b, h, w = self.batch_size, self.grid_h, self.grid_w

        num_actions = model.config.num_actions
        cache, frame_actions = self.cache, frame_action
        if action_guidance > 0:  # every action for this frame, action-major rows (a * B + i), sharing the cache
            frame_actions = torch.arange(num_actions, device=frame_action.device).repeat_interleave(b)[:, None]
        rows = torch.arange(b, device=frame_action.device)

        def logits_fn(ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
            if action_guidance == 0:
                hidden = model.hidden(ids.view(b, 1, h, w), frame_action, cache=cache, update_cache=False)
                return model.head(_gather_positions(hidden, positions))
            hidden = model.hidden(ids.view(b, 1, h, w).repeat(num_actions, 1, 1, 1), frame_actions, cache=cache,
                                  update_cache=False)
            logits = model.head(_gather_positions(hidden, positions.repeat(num_actions, 1)))
            logits = logits.view(num_actions, b, *logits.shape[1:])
            return guided_logits(logits[frame_action[:, 0], rows], logits, action_guidance)

        ids, entropy, probs = maskgit_decode(
            hold_biased(logits_fn, self.last_tokens, 1, sampling.hold_bias), b, h * w, model.config.num_codes,
            sampling.maskgit_steps, sampling.temperature, generator, model.codebook.device,
            previous=self.last_tokens.reshape(b, -1), change_temperature=sampling.change_temperature,
        )
        tokens = ids.view(b, h, w)
        model.hidden(tokens[:, None], frame_action, cache=self.cache, update_cache=True)
        self.frames_seen += 1
        self.last_tokens = tokens
        self.last_probs_of_chosen = probs.view(b, h, w)
        return tokens, entropy.view(b, h, w)
