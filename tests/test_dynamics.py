"""The MaskGIT dynamics model on real SMB tokens: causality, overfitting, action control, sampling, the cache."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import genie_gym
from genie_gym.models import Dynamics, DynamicsConfig, TokenizerConfig, VideoTokenizer
from genie_gym.models.configs import DreamSettings, DynamicsTrainingOptions
from genie_gym.models.maskgit import guided_logits

NUM_CODES = 128
TINY = dict(num_codes=NUM_CODES, grid_size=8, d_model=64, num_heads=4, num_blocks=2, action_embed_dim=16)


def tiny_with(codebook: torch.Tensor, **options) -> Dynamics:
    """A TINY model that trains with these training options."""
    return Dynamics(DynamicsConfig(**TINY), codebook, DynamicsTrainingOptions(**options))
BRANCH_ACTIONS = (0, 1, 4)  # RIGHT, LEFT, JUMP
PREFIXES = (8, 20, 32)  # steps walked right before branching
CLIP_STEPS = 4  # actions per clip (clips of 5 frames)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def real_tokens() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Real SMB clips where the action matters, as tokens.

    From 3 states of the level, the same state is continued with RIGHT, LEFT or JUMP for 4 steps: 9 clips
    of 5 frames whose first frames agree within each group of 3. Tokenized by a tiny tokenizer whose codebook is
    initialised (k-means++) from the encoder outputs of these frames. Returns ``(ids (9, 5, 8, 8), actions (9, 4),
    codebook (128, 32))``.
    """
    env = genie_gym.GenieRetroEnv("SMB")
    clips, actions = [], []
    try:
        for prefix in PREFIXES:
            for action in BRANCH_ACTIONS:
                obs, _ = env.reset(seed=0)
                for _ in range(prefix):
                    obs, *_ = env.step(0)
                frames = [obs]
                for _ in range(CLIP_STEPS):
                    obs, *_ = env.step(action)
                    frames.append(obs)
                clips.append(np.stack(frames))
                actions.append([action] * CLIP_STEPS)
    finally:
        env.close()
    frames = torch.from_numpy(np.stack(clips))
    torch.manual_seed(0)
    tokenizer = VideoTokenizer(
        TokenizerConfig(patch_size=8, d_model=64, num_heads=4, encoder_blocks=1, decoder_blocks=1, num_codes=NUM_CODES)
    ).eval()
    with torch.no_grad():
        tokenizer.quantizer.steps_since_used.fill_(10**6)  # every code dead: initialise them all from the data
        tokenizer.revive_dead_codes(tokenizer.encode_latents(frames).reshape(-1, 32))
        ids = tokenizer.encode(frames)
    assert torch.equal(ids[0, 0], ids[1, 0]), "the branches of one state must start from the same frame"
    assert (ids[0, -1] != ids[2, -1]).any(), "JUMP and RIGHT must lead to different tokens"
    return ids, torch.tensor(actions), tokenizer.codebook_vectors().detach()


@pytest.fixture(scope="module")
def trained(real_tokens) -> Dynamics:
    """A GenieRedux-G dynamics model overfit to the real token set (full batch, 160 AdamW steps)."""
    ids, actions, codebook = real_tokens
    torch.manual_seed(0)
    model = Dynamics(DynamicsConfig(**TINY), codebook)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    for _ in range(160):
        loss, metrics = model.compute_loss({"tokens": ids, "actions": actions})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert set(metrics) >= {"loss", "ce", "token_distance", "masked_accuracy", "mask_ratio"}
    return model.eval()


def _masked_eval(model: Dynamics, ids: torch.Tensor, actions: torch.Tensor) -> tuple[float, float]:
    """Cross-entropy and accuracy on the masked tokens of a fixed random training mask."""
    mask = model.sample_mask(ids.shape[0], ids.shape[1], generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(ids.masked_fill(mask, model.mask_id), actions)[mask]
    targets = ids[mask]
    return float(torch.nn.functional.cross_entropy(logits, targets)), float(
        (logits.argmax(-1) == targets).float().mean()
    )


def test_overfits_a_tiny_real_token_set(trained, real_tokens):
    ids, actions, _ = real_tokens
    _, accuracy = _masked_eval(trained, ids, actions)
    assert accuracy > 0.85, f"masked-token accuracy after overfitting is only {accuracy:.2f}"


def test_ground_truth_actions_control_the_prediction(trained, real_tokens):
    ids, actions, _ = real_tokens
    # within each state, give every clip the action of another branch
    swapped = actions.view(len(PREFIXES), len(BRANCH_ACTIONS), CLIP_STEPS).roll(1, dims=1).reshape(-1, CLIP_STEPS)
    ce_true, _ = _masked_eval(trained, ids, actions)
    ce_swapped, _ = _masked_eval(trained, ids, swapped)
    assert ce_true < 0.7 * ce_swapped, (ce_true, ce_swapped)
    kwargs = dict(num_frames=3, mode="autoregressive", sampling=DreamSettings(temperature=0.0, maskgit_steps=8))
    true_prediction = trained.generate(ids[:, :2], actions, **kwargs).tokens
    swapped_prediction = trained.generate(ids[:, :2], swapped, **kwargs).tokens
    assert (true_prediction != swapped_prediction).flatten(1).any(dim=1).float().mean() > 0.5
    accuracy_true = float((true_prediction == ids[:, 2:]).float().mean())
    accuracy_swapped = float((swapped_prediction == ids[:, 2:]).float().mean())
    assert accuracy_true > accuracy_swapped + 0.05, (accuracy_true, accuracy_swapped)


def test_logits_are_causal_in_time(real_tokens):
    ids, actions, codebook = real_tokens
    torch.manual_seed(0)
    model = Dynamics(DynamicsConfig(**TINY), codebook).double().eval()
    with torch.no_grad():
        base = model(ids[:2], actions[:2])
        changed_ids = ids[:2].clone()
        changed_ids[:, 3] = (changed_ids[:, 3] + 7) % NUM_CODES
        changed_actions = actions[:2].clone()
        changed_actions[:, 2] = 3  # the action that produces frame 3
        for tokens, acts in ((changed_ids, actions[:2]), (ids[:2], changed_actions)):
            out = model(tokens, acts)
            assert torch.equal(out[:, :3], base[:, :3])
            assert not torch.allclose(out[:, 3], base[:, 3])


@pytest.mark.parametrize("change_temperature", [0.0, 1.0])
def test_cached_stream_equals_full_recompute(trained, real_tokens, change_temperature):
    ids, actions, _ = real_tokens
    context, num_new = ids[:3, :2], 3
    sampling = DreamSettings(maskgit_steps=10, temperature=1.0, change_temperature=change_temperature)
    full = trained.generate(
        context,
        actions[:3, :4],
        num_frames=num_new,
        mode="autoregressive",
        frames_per_step=1,
        sampling=sampling,
        generator=torch.Generator().manual_seed(7),
        use_cache=False,
    )
    stream = trained.start_stream(context, actions[:3, :1], max_context_frames=None)
    generator = torch.Generator().manual_seed(7)
    tokens, entropies = [], []
    for t in range(num_new):
        frame_tokens, entropy = stream.next_frame(actions[:3, 1 + t], sampling, generator)
        tokens.append(frame_tokens)
        entropies.append(entropy)
    assert torch.equal(torch.stack(tokens, dim=1), full.tokens)
    assert torch.allclose(torch.stack(entropies, dim=1), full.entropy, atol=1e-5)
    assert stream.frames_seen == 5 and stream.num_cached_frames == 5


@pytest.mark.parametrize("mode,frames_per_step,guidance", [("single", 1, 0.0), ("autoregressive", 2, 0.0),
                                                              ("single", 1, 1.5), ("autoregressive", 2, 1.5)])
def test_generate_with_the_context_cache_equals_the_full_recompute(trained, real_tokens, mode, frames_per_step,
                                                                   guidance):
    ids, actions, _ = real_tokens
    kwargs = dict(num_frames=3, mode=mode, frames_per_step=frames_per_step,
                  sampling=DreamSettings(maskgit_steps=6, temperature=1.0, action_guidance=guidance))
    full = trained.generate(ids[:3, :2], actions[:3, :4], generator=torch.Generator().manual_seed(11),
                            use_cache=False, **kwargs)
    cached = trained.generate(ids[:3, :2], actions[:3, :4], generator=torch.Generator().manual_seed(11), **kwargs)
    assert float((cached.tokens == full.tokens).float().mean()) > 0.99
    assert torch.allclose(cached.entropy[cached.tokens == full.tokens], full.entropy[cached.tokens == full.tokens],
                          atol=1e-4)


def test_stream_sliding_window_keeps_memory_flat(trained, real_tokens):
    ids, actions, _ = real_tokens
    stream = trained.start_stream(ids[:1, :3], actions[:1, :2], max_context_frames=3)
    sizes = []
    for step in range(6):
        tokens, entropy = stream.next_frame(step % 5, DreamSettings(maskgit_steps=3),
                                            torch.Generator().manual_seed(step))
        assert tokens.shape == (1, 8, 8) and tokens.dtype == torch.int64 and entropy.shape == (1, 8, 8)
        sizes.append(sum(layer.keys.numel() for layer in stream.cache.layers))
    assert stream.num_cached_frames == 3 and len(set(sizes)) == 1
    with pytest.raises(ValueError, match="action"):
        stream.next_frame(5)


def test_generate_is_deterministic_with_a_seed_and_reports_uncertainty(real_tokens):
    ids, actions, codebook = real_tokens
    torch.manual_seed(0)
    model = Dynamics(DynamicsConfig(**TINY), codebook).eval()
    for mode, per_step in (("single", 1), ("autoregressive", 2)):
        kwargs = dict(num_frames=3, mode=mode, frames_per_step=per_step, sampling=DreamSettings(maskgit_steps=6))
        first = model.generate(ids[:2, :2], actions[:2, :4], generator=torch.Generator().manual_seed(3), **kwargs)
        again = model.generate(ids[:2, :2], actions[:2, :4], generator=torch.Generator().manual_seed(3), **kwargs)
        other = model.generate(ids[:2, :2], actions[:2, :4], generator=torch.Generator().manual_seed(4), **kwargs)
        assert first.tokens.shape == (2, 3, 8, 8) and first.tokens.dtype == torch.int64
        assert torch.equal(first.tokens, again.tokens) and torch.equal(first.entropy, again.entropy)
        assert not torch.equal(first.tokens, other.tokens)
        assert float(first.entropy.min()) >= 0.0 and float(first.entropy.max()) <= 1.0 + 1e-6
        assert float(first.entropy.mean()) > 0.5, "an untrained model is uncertain"
        assert float(first.probs_of_chosen.min()) > 0.0 and float(first.probs_of_chosen.max()) <= 1.0
    with pytest.raises(ValueError, match="Tc\\+N-1"):
        model.generate(ids[:2, :2], actions[:2, :3], num_frames=3)
    with pytest.raises(ValueError, match="mode"):
        model.generate(ids[:2, :2], actions[:2, :4], num_frames=3, mode="beam")


def test_action_embedding_is_trained_and_saved_and_latent_actions_work(real_tokens):
    ids, actions, codebook = real_tokens
    torch.manual_seed(0)
    model = tiny_with(codebook, tdce_lambda=0.0)
    assert "action_embed.weight" in model.state_dict() and "codebook" in model.state_dict()
    assert model.action_embed.weight.requires_grad
    loss, metrics = model.compute_loss({"tokens": ids[:2], "actions": actions[:2]})
    loss.backward()
    assert float(model.action_embed.weight.grad.abs().sum()) > 0
    assert metrics["loss"] == pytest.approx(metrics["ce"]) and metrics["token_distance"] == 0.0
    with pytest.raises(ValueError, match=r"\[0, 5\)"):
        model.compute_loss({"tokens": ids[:2], "actions": torch.full_like(actions[:2], 5)})

    latent = Dynamics(DynamicsConfig(**TINY, action_source="latent", num_actions=7, token_input_skip=False), codebook)
    assert latent.codebook_proj is None
    latent_actions = torch.randint(0, 7, actions[:2].shape, generator=torch.Generator().manual_seed(0))
    loss, _ = latent.compute_loss({"tokens": ids[:2], "actions": latent_actions})
    loss.backward()
    assert float(latent.action_embed.weight.grad.abs().sum()) > 0
    with torch.no_grad():
        other = latent_actions.clone()
        other[:, 0] = (other[:, 0] + 1) % 7
        assert not torch.allclose(latent(ids[:2], latent_actions)[:, 1], latent(ids[:2], other)[:, 1])
    with pytest.raises(ValueError, match="needs a GenieRedux-G model"):
        latent.generate(ids[:1, :2], latent_actions[:1, :2], num_frames=1,
                        sampling=DreamSettings(maskgit_steps=1, action_guidance=1.0))


def test_token_input_skip_uses_the_codebook(real_tokens):
    ids, actions, codebook = real_tokens
    torch.manual_seed(0)
    model = Dynamics(DynamicsConfig(**TINY), codebook).eval()
    with torch.no_grad():
        base = model(ids[:1], actions[:1])
        model.codebook.mul_(-1.0)
        assert not torch.allclose(model(ids[:1], actions[:1]), base)
    with pytest.raises(ValueError, match="codebook"):
        Dynamics(DynamicsConfig(**TINY), torch.zeros(NUM_CODES + 1, 32))


def test_a_single_context_frame_is_enough(trained, real_tokens):
    ids, actions, _ = real_tokens
    full = trained.generate(
        ids[:2, :1],
        actions[:2, :2],
        num_frames=2,
        mode="autoregressive",
        sampling=DreamSettings(maskgit_steps=4),
        generator=torch.Generator().manual_seed(0),
    )
    stream = trained.start_stream(ids[:2, :1], actions[:2, :0])
    generator = torch.Generator().manual_seed(0)
    streamed = [stream.next_frame(actions[:2, t], DreamSettings(maskgit_steps=4), generator)[0] for t in range(2)]
    assert full.tokens.shape == (2, 2, 8, 8)
    assert torch.equal(torch.stack(streamed, dim=1), full.tokens)


def test_action_gain_measures_how_much_the_actions_are_used(trained, real_tokens):
    """The trained model loses accuracy when its actions are replaced; an untrained one (and a model whose action
    embedding is constant) does not care, so the logged ``action_gain`` tells whether a run learns control."""
    ids, actions, codebook = real_tokens
    mask = trained.sample_mask(ids.shape[0], ids.shape[1], generator=torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    gains = trained.action_gain(ids, actions, mask)
    assert gains["action_gain"] > 0.1 and gains["action_gain_changed"] > gains["action_gain"]
    deaf = Dynamics(DynamicsConfig(**TINY), codebook)
    deaf.load_state_dict(trained.state_dict())
    with torch.no_grad():
        deaf.action_embed.weight[:] = deaf.action_embed.weight.mean(dim=0)
    assert all(abs(value) < 1e-4 for value in deaf.eval().action_gain(ids, actions, mask).values())
    _, metrics = trained.train().compute_loss({"tokens": ids, "actions": actions})
    trained.eval()
    assert metrics["action_gain"] > 0.02



def test_visible_prefix_masking_keeps_whole_past_frames_visible(real_tokens):
    _, _, codebook = real_tokens
    paper = Dynamics(DynamicsConfig(**TINY), codebook)
    mask = paper.sample_mask(256, 6, generator=torch.Generator().manual_seed(0))
    masked_per_frame = mask.flatten(2).sum(-1)  # (B, T)
    assert not mask[:, 0].any()
    assert (masked_per_frame[:, 1] > 0).float().mean() > 0.95  # the paper's masking hides part of frame 1 almost always

    prefix = tiny_with(codebook, visible_prefix_prob=1.0)
    mask = prefix.sample_mask(256, 6, generator=torch.Generator().manual_seed(0))
    masked_per_frame = mask.flatten(2).sum(-1)
    assert (masked_per_frame.sum(1) > 0).all()
    first_masked = (masked_per_frame > 0).float().argmax(dim=1)  # first frame with a masked token
    after = torch.arange(6)[None, :] >= first_masked[:, None]
    assert not mask[~after].any()  # every frame before it is fully visible
    assert set(first_masked.tolist()) == {1, 2, 3, 4, 5}  # c ~ U{1..T-1}
    ratio = mask.flatten(2).float().mean(-1)[after & (torch.arange(6)[None, :] > 0)]
    assert 0.25 < float(ratio.min()) and 0.7 < float(ratio.mean()) < 0.8  # masked frames keep the U(0.5, 1) ratio
    overridden = prefix.sample_mask(256, 6, generator=torch.Generator().manual_seed(0), visible_prefix_prob=0.0)
    assert torch.equal(overridden, paper.sample_mask(256, 6, generator=torch.Generator().manual_seed(0)))

    half = tiny_with(codebook, visible_prefix_prob=0.5)
    mask = half.sample_mask(2000, 6, generator=torch.Generator().manual_seed(1))
    with_prefix = ~mask[:, 1].flatten(1).any(dim=1)  # frame 1 fully visible
    assert 0.35 < float(with_prefix.float().mean()) < 0.45  # 0.5 * P(c >= 2) = 0.5 * 4/5
    with pytest.raises(ValueError, match="visible_prefix_prob"):
        DynamicsTrainingOptions(visible_prefix_prob=1.5)


def test_guided_logits_push_towards_what_the_action_changes():
    given = torch.log(torch.tensor([[[0.50, 0.45, 0.05]]]))  # (B=1, K=1, V=3) under the given action
    other = torch.log(torch.tensor([[[0.80, 0.10, 0.10]]]))  # another action: token 1 is the given action's effect
    alternatives = torch.stack([given, other])  # (A=2, B, K, V)
    assert torch.allclose(guided_logits(given, alternatives, 0.0), torch.log_softmax(given, -1))
    assert int(guided_logits(given, alternatives, 0.0).argmax()) == 0
    assert int(guided_logits(given, alternatives, 2.0).argmax()) == 1
    same = torch.stack([given, given])  # an action that changes nothing is not pushed anywhere
    assert torch.allclose(guided_logits(given, same, 5.0), torch.log_softmax(given, -1))


def test_action_guidance_cached_equals_full_and_strengthens_the_actions(trained, real_tokens):
    ids, actions, _ = real_tokens
    swapped = actions.view(len(PREFIXES), len(BRANCH_ACTIONS), CLIP_STEPS).roll(1, dims=1).reshape(-1, CLIP_STEPS)
    differ = {}
    for weight in (0.0, 2.0):
        kwargs = dict(num_frames=3, mode="autoregressive",
                      sampling=DreamSettings(temperature=0.0, maskgit_steps=8, action_guidance=weight))
        true = trained.generate(ids[:, :2], actions, **kwargs).tokens
        other = trained.generate(ids[:, :2], swapped, **kwargs).tokens
        differ[weight] = float((true != other).float().mean())
    assert differ[2.0] > differ[0.0], differ
    # the cached stream scores every action's rows on one shared cache; rows of different actions must not mix
    context = ids[:3, :2]
    guided = DreamSettings(maskgit_steps=6, temperature=1.0, action_guidance=1.5)
    full = trained.generate(context, actions[:3, :4], num_frames=3, mode="autoregressive", sampling=guided,
                            generator=torch.Generator().manual_seed(5), use_cache=False)
    stream = trained.start_stream(context, actions[:3, :1], max_context_frames=None)
    generator = torch.Generator().manual_seed(5)
    streamed = [stream.next_frame(actions[:3, 1 + t], guided, generator)[0] for t in range(3)]
    assert float((torch.stack(streamed, dim=1) == full.tokens).float().mean()) > 0.99
    with pytest.raises(ValueError, match="action_guidance must be >= 0"):
        DreamSettings(action_guidance=-1.0)


def test_maskgit_sampling_draws_from_the_tempered_softmax():
    from genie_gym.models.maskgit import _sample_categorical

    logits = torch.tensor([0.0, 1.0, -1.0, 2.0, -40.0, 0.5])
    rows = logits.expand(60000, 6).contiguous()
    for temperature in (1.0, 0.5):
        ids = _sample_categorical(rows.clone(), temperature, torch.Generator().manual_seed(0))
        assert ids.shape == (60000,) and ids.dtype == torch.int64
        frequency = torch.bincount(ids, minlength=6).float() / len(ids)
        assert torch.allclose(frequency, torch.softmax(logits / temperature, 0), atol=0.01)
        assert int((ids == 4).sum()) == 0  # a (numerically) zero-probability id is never drawn
    again = _sample_categorical(rows[:100].clone(), 1.0, torch.Generator().manual_seed(3))
    assert torch.equal(again, _sample_categorical(rows[:100].clone(), 1.0, torch.Generator().manual_seed(3)))
    one_hot = torch.full((50, 8), -1e4).index_fill_(1, torch.tensor([7]), 0.0)
    assert (_sample_categorical(one_hot, 1.0, None) == 7).all()  # the last id is reachable


def test_change_temperature_draws_keep_or_change_at_the_models_odds_and_the_new_id_apart():
    from genie_gym.models.maskgit import _sample_hold_or_change, maskgit_decode

    # id 0 held with p 0.7; ids 1 / 2 share the rest 2:1 (0.2 / 0.1); id 3 impossible
    probs = torch.tensor([0.7, 0.2, 0.1, 0.0])
    logits = probs.clamp(min=1e-30).log().expand(1, 60000, 4).contiguous()
    held = torch.zeros(1, 60000, dtype=torch.long)
    ids, confidence = _sample_hold_or_change(logits, held, 1.0, 1.0, torch.Generator().manual_seed(0))
    assert torch.allclose(confidence, torch.tensor(0.7).log())  # of the decision, whatever was drawn
    frequency = torch.bincount(ids.flatten(), minlength=4).float() / ids.numel()
    assert torch.allclose(frequency, probs, atol=0.01)  # c = 1, T = 1: the model's own distribution
    ids, _ = _sample_hold_or_change(logits, held, 0.0, 1.0, torch.Generator().manual_seed(0))
    frequency = torch.bincount(ids.flatten(), minlength=4).float() / ids.numel()
    # T = 0: the change still happens 30% of the time (plain argmax would hold always), always to the likelier id
    assert abs(frequency[0] - 0.7) < 0.01 and abs(frequency[1] - 0.3) < 0.01 and frequency[2:].sum() == 0
    sharp, _ = _sample_hold_or_change(logits, held, 0.0, 0.05, torch.Generator().manual_seed(0))
    assert (sharp == 0).all()  # a cold decision keeps the likelier outcome
    certain = torch.tensor([1.0, 0.0, 0.0, 0.0]).clamp(min=1e-30).log().expand(1, 1000, 4).contiguous()
    assert (_sample_hold_or_change(certain, held[:, :1000], 1.0, 1.0, None)[0] == 0).all()

    # through maskgit_decode: the argmax of every step holds; with c = 1 the change rate is the model's
    def logits_fn(ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return probs.clamp(min=1e-30).log().expand(*positions.shape, 4)

    previous = torch.zeros(4, 500, dtype=torch.long)
    plain, _, _ = maskgit_decode(logits_fn, 4, 500, 4, 8, 0.25, torch.Generator().manual_seed(1), torch.device("cpu"))
    assert (plain == 0).float().mean() > 0.95
    calibrated, _, _ = maskgit_decode(logits_fn, 4, 500, 4, 8, 0.25, torch.Generator().manual_seed(1),
                                      torch.device("cpu"), previous=previous, change_temperature=1.0)
    assert abs((calibrated != 0).float().mean() - 0.3) < 0.03
    with pytest.raises(ValueError, match="needs the previous ids"):
        maskgit_decode(logits_fn, 4, 500, 4, 8, 0.25, None, torch.device("cpu"), change_temperature=1.0)


def test_changed_token_weight_upweights_the_tokens_that_change(real_tokens):
    ids, actions, codebook = real_tokens
    batch = {"tokens": ids, "actions": actions}
    torch.manual_seed(0)
    plain = Dynamics(DynamicsConfig(**TINY), codebook)
    weighted = tiny_with(codebook, changed_token_weight=5.0)
    weighted.load_state_dict(plain.state_dict())
    changed = torch.zeros_like(ids, dtype=torch.bool)
    changed[:, 1:] = ids[:, 1:] != ids[:, :-1]
    assert changed.any() and (~changed[:, 1:]).any()

    def losses(model):
        torch.manual_seed(1)  # the same mask for both models
        mask = model.sample_mask(ids.shape[0], ids.shape[1])
        torch.manual_seed(1)
        loss, metrics = model.compute_loss(batch)
        with torch.no_grad():
            logits = model(ids.masked_fill(mask, model.mask_id), actions)[mask]
        per_token = torch.nn.functional.cross_entropy(logits, ids[mask], reduction="none")
        return metrics["ce"], per_token, changed[mask]

    ce_plain, per_token, is_changed = losses(plain)
    ce_weighted, per_token_w, _ = losses(weighted)
    assert torch.allclose(per_token, per_token_w)
    assert ce_plain == pytest.approx(float(per_token.mean()), rel=1e-4)
    weights = torch.where(is_changed, 5.0, 1.0)
    assert ce_weighted == pytest.approx(float((per_token * weights).sum() / weights.sum()), rel=1e-4)
    assert abs(ce_weighted - ce_plain) > 1e-3
    with pytest.raises(ValueError, match="changed_token_weight"):
        DynamicsTrainingOptions(changed_token_weight=0.0)


def test_context_stall_repeats_visible_frames_and_keeps_targets_real(real_tokens):
    ids, actions, codebook = real_tokens
    model = tiny_with(codebook, visible_prefix_prob=1.0, context_stall_prob=1.0)
    generator = torch.Generator().manual_seed(0)
    mask = model.sample_mask(ids.shape[0], ids.shape[1], generator=generator)
    stalled = model.stall_context(ids, mask, generator=generator)
    visible = ~mask.flatten(2).any(dim=2)
    for clip in range(ids.shape[0]):
        for t in range(ids.shape[1]):
            if t == 0 or t == ids.shape[1] - 1 or not visible[clip, t]:
                assert torch.equal(stalled[clip, t], ids[clip, t])  # frame 0, the last frame and targets stay real
            else:  # every visible frame in between repeats the (stalled) frame before it: frame 0 at the end
                assert torch.equal(stalled[clip, t], ids[clip, 0])
    assert (visible[:, 1:-1]).any(), "the test needs clips with a visible frame to stall"
    off = tiny_with(codebook, visible_prefix_prob=1.0)
    torch.manual_seed(3)
    loss_off, _ = off.compute_loss({"tokens": ids, "actions": actions})
    model.load_state_dict(off.state_dict())
    torch.manual_seed(3)
    loss_on, _ = model.compute_loss({"tokens": ids, "actions": actions})
    assert float(loss_on.detach()) != pytest.approx(float(loss_off.detach()))
    with pytest.raises(ValueError, match="context_stall_prob"):
        DynamicsTrainingOptions(context_stall_prob=1.5)



def test_context_stall_actions_stall_only_frames_whose_action_is_listed(real_tokens):
    ids, actions, codebook = real_tokens
    listed = int(actions.flatten().mode().values)  # the clips' most common action: some frames have it, some not
    model = tiny_with(codebook, visible_prefix_prob=1.0, context_stall_prob=1.0, context_stall_actions=[listed])
    assert model.training_options.context_stall_actions == (listed,)
    generator = torch.Generator().manual_seed(0)
    mask = model.sample_mask(ids.shape[0], ids.shape[1], generator=generator)
    stalled = model.stall_context(ids, mask, actions, generator=generator)
    visible = ~mask.flatten(2).any(dim=2)
    kept = replaced = 0
    for clip in range(ids.shape[0]):
        expected = ids[clip, 0]
        for t in range(1, ids.shape[1]):
            may_stall = bool(visible[clip, t]) and t < ids.shape[1] - 1 and int(actions[clip, t]) == listed
            expected = expected if may_stall else ids[clip, t]
            assert torch.equal(stalled[clip, t], expected), (clip, t)
            if bool(visible[clip, t]) and 0 < t < ids.shape[1] - 1:
                replaced += may_stall
                kept += not may_stall
    assert replaced and kept, "the test needs visible frames with and without the listed action"
    with pytest.raises(ValueError, match="needs the clip's actions"):
        model.stall_context(ids, mask, generator=generator)
    with pytest.raises(ValueError, match="context_stall_actions"):
        tiny_with(codebook, context_stall_actions=[5])
    restored = DynamicsConfig.from_dict(json.loads(json.dumps(model.config.to_dict())))
    assert restored == model.config


@pytest.mark.parametrize("frames_back", [1, 2])
def test_context_rollout_replaces_the_last_visible_frames_by_the_models_own_predictions(real_tokens, frames_back):
    ids, actions, codebook = real_tokens
    torch.manual_seed(0)
    model = tiny_with(codebook, context_rollout_prob=1.0, context_rollout_frames=frames_back)
    model.eval()
    num_clips, num_frames = ids.shape[:2]
    prefix = torch.tensor([1 + clip % (num_frames - 1) for clip in range(num_clips)])  # visible frames 0..c-1
    mask = (torch.arange(num_frames)[None, :] >= prefix[:, None])[:, :, None, None].expand_as(ids).clone()
    frame_actions = model.frame_actions(actions, num_frames)
    out = model.rollout_context(ids, mask, frame_actions)
    for clip in range(num_clips):
        c = int(prefix[clip])
        dreamed = range(c - frames_back, c) if c - frames_back >= 1 else range(0)
        expected = ids[clip : clip + 1].clone()
        for t in dreamed:  # the reference: one frame after the other, each from the frames before it
            query = expected[:, : t + 1].clone()
            query[:, t] = model.mask_id
            expected[:, t] = model(query, actions[clip : clip + 1, :t]).argmax(dim=-1)[:, t]
        assert torch.equal(out[clip], expected[0]), clip
        for t in range(num_frames):
            if t not in dreamed:
                assert torch.equal(out[clip, t], ids[clip, t])  # frame 0, earlier frames and targets stay real
        if len(dreamed):
            assert not torch.equal(out[clip, c - 1], ids[clip, c - 1])  # an untrained model's guess is not the frame
    assert (prefix - frames_back >= 1).any() and (prefix - frames_back < 1).any()
    off = tiny_with(codebook, context_rollout_prob=0.0)
    off.load_state_dict(model.state_dict())
    assert torch.equal(off.rollout_context(ids, mask, frame_actions), ids)
    loss, _ = model.compute_loss({"tokens": ids, "actions": actions})
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="context_rollout_prob"):
        DynamicsTrainingOptions(context_rollout_prob=2.0)
    with pytest.raises(ValueError, match="context_rollout_frames"):
        DynamicsTrainingOptions(context_rollout_frames=0)

def test_after_stall_scope_weights_only_the_frames_after_a_stalled_copy(real_tokens):
    ids, actions, codebook = real_tokens
    model = tiny_with(codebook, changed_token_weight=4.0, changed_token_weight_scope="after_stall",
                      context_stall_prob=0.5)
    inputs = ids.clone()
    inputs[:, 2] = ids[:, 1]  # frame 2 is a stalled copy of frame 1 in every clip
    weights = model.token_weights(ids, inputs)
    moved = ids[:, 3] != ids[:, 1]  # what frame 3 must change relative to the copy the model sees
    assert moved.any() and (~moved).any()
    assert torch.equal(weights[:, 3] == 4.0, moved)
    others = [t for t in range(ids.shape[1]) if t != 3]
    assert (weights[:, others] == 1.0).all()  # no stall before them: the plain loss
    everywhere = tiny_with(codebook, changed_token_weight=4.0, context_stall_prob=0.5)
    assert (everywhere.token_weights(ids, inputs)[:, 1:] == 4.0).sum() > (weights == 4.0).sum()
    with pytest.raises(ValueError, match="needs context_stall_prob"):
        DynamicsTrainingOptions(changed_token_weight=4.0, changed_token_weight_scope="after_stall")
    with pytest.raises(ValueError, match="changed_token_weight_scope"):
        DynamicsTrainingOptions(changed_token_weight_scope="stalls")
