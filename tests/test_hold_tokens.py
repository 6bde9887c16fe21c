"""Holding the token id of unchanged patches (``hold_unchanged_tokens``): the rule, the trainer's cache, the world
model's encoder, all on real SMB frames and a tiny real tokenizer."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from genie_gym.data.window_dataset import WindowDataset
from genie_gym.models.checkpoint_io import save_pretrained
from genie_gym.models.configs import DreamSettings, DynamicsConfig, TokenizerConfig
from genie_gym.models.dynamics import Dynamics
from genie_gym.models.tokenizer import VideoTokenizer, hold_unchanged_pixels, hold_unchanged_tokens
from genie_gym.trainers.tasks import cache_tokens
from genie_gym.world_model import WorldModel

TINY_TOKENIZER = dict(patch_size=8, d_model=32, num_heads=2, encoder_blocks=1, decoder_blocks=1, num_codes=64)


def test_unchanged_patches_keep_the_previous_id_and_changed_ones_the_encoders():
    frames = np.zeros((1, 3, 16, 16, 3), dtype=np.uint8)  # 2 x 2 patches of 8 px
    frames[0, 1, 0:8, 0:8] = 255  # frame 1: the top-left patch changes, the rest stays
    frames[0, 2] = frames[0, 1]
    frames[0, 2, 15, 15] = 1  # frame 2: one pixel of the bottom-right patch changes
    ids = torch.tensor([[[[1, 2], [3, 4]], [[5, 6], [7, 8]], [[9, 10], [11, 12]]]])
    held = hold_unchanged_tokens(ids, frames, patch_size=8)
    assert held[0, 0].tolist() == [[1, 2], [3, 4]]  # the first frame is the encoder's
    assert held[0, 1].tolist() == [[5, 2], [3, 4]]  # only the changed patch takes the new id
    assert held[0, 2].tolist() == [[5, 2], [3, 12]]  # held ids chain; the one-pixel change counts
    assert ids[0, 1, 0, 1] == 6  # the input is not modified
    with pytest.raises(ValueError, match="do not match"):
        hold_unchanged_tokens(ids, frames, patch_size=4)


@pytest.fixture(scope="module")
def tokenizer_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TokenizerConfig(**TINY_TOKENIZER)).eval()
    return save_pretrained(tokenizer, tmp_path_factory.mktemp("tok") / "tokenizer")


def test_the_trainer_caches_held_ids_apart_from_the_plain_ones(smb_store, tokenizer_checkpoint, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(smb_store, store)
    windows = WindowDataset(store, split="train", window=8)
    from genie_gym.models.checkpoint_io import load_pretrained

    tokenizer = load_pretrained(tokenizer_checkpoint, expected_kind="tokenizer").eval()
    plain = cache_tokens(windows, tokenizer, tokenizer_checkpoint, ctx=None, progress=False)
    held = cache_tokens(windows, tokenizer, tokenizer_checkpoint, ctx=None, progress=False, hold_unchanged=True)
    assert held.root != plain.root and held.root.parent == plain.root.parent
    changed_plain = changed_held = 0
    for ref in windows.episodes:
        frames = np.load(ref.frames_path)
        expected = hold_unchanged_tokens(torch.from_numpy(plain.load(ref).astype(np.int64))[None], frames[None],
                                         patch_size=8)[0].numpy()
        assert np.array_equal(held.load(ref), expected)
        changed_plain += int((plain.load(ref)[1:] != plain.load(ref)[:-1]).sum())
        changed_held += int((held.load(ref)[1:] != held.load(ref)[:-1]).sum())
    assert changed_held < changed_plain  # a frame's unchanged patches no longer flip ids


def test_a_world_model_encodes_held_ids_when_its_dynamics_was_trained_on_them(smb_store, tokenizer_checkpoint):
    from genie_gym.data.store import EpisodeStore
    from genie_gym.models.checkpoint_io import load_pretrained

    tokenizer = load_pretrained(tokenizer_checkpoint, expected_kind="tokenizer").eval()
    episode = next(iter(EpisodeStore(smb_store).iter_episodes(split="all")))
    frames = np.array(episode.frames[None, :6])
    frames[0, 3] = frames[0, 2]  # an exact repeat: every patch unchanged
    models = {}
    for hold in (False, True):
        dynamics = Dynamics(DynamicsConfig(num_codes=64, latent_dim=32, grid_size=8, d_model=32, num_heads=2,
                                           num_blocks=1, hold_unchanged_tokens=hold),
                            codebook=tokenizer.codebook_vectors().detach())
        models[hold] = WorldModel(tokenizer, dynamics, {"game": "SMB"})
    plain, held = models[False].encode(frames), models[True].encode(frames)
    assert torch.equal(held, hold_unchanged_tokens(plain, frames, patch_size=8))
    assert torch.equal(held[0, 3], held[0, 2])  # the repeated frame is the same tokens


def test_decoder_fine_tune_on_held_ids_trains_on_them(smb_store, tokenizer_checkpoint, tmp_path):
    """``genie train tokenizer --decoder-only --decoder-held-ids``: the loss decodes held ids (it differs from the
    plain decoder-only loss on real frames), the encoder and codebook stay fixed, and the flag needs --decoder-only."""
    from genie_gym.cli import main
    from genie_gym.models.checkpoint_io import load_pretrained
    from genie_gym.trainers.tasks import TaskSettings, build_task

    task = build_task(TaskSettings("tokenizer", data=smb_store, window=4, init=tokenizer_checkpoint, decoder_only=True,
                                   decoder_held_ids=True))
    model = task.model
    assert model.decode_held_ids and model.encoder_frozen
    frames = torch.from_numpy(np.stack([np.load(ref.frames_path)[:4] for ref in task.dataset.episodes[:2]]))
    torch.manual_seed(0)
    held_loss, _ = model.compute_loss({"frames": frames})
    model.decode_held_ids = False
    plain_loss, _ = model.compute_loss({"frames": frames})
    assert not torch.isclose(held_loss, plain_loss)
    with pytest.raises(ValueError, match="--decoder-held-ids goes with --decoder-only"):
        TaskSettings("tokenizer", data=smb_store, window=4, init=tokenizer_checkpoint, decoder_held_ids=True)
    out = tmp_path / "run"
    assert main(["train", "tokenizer", "--data", str(smb_store), "--init", str(tokenizer_checkpoint), "--out", str(out),
                 "--decoder-only", "--decoder-held-ids", "--steps", "2", "--batch-size", "1", "--window", "4",
                 "--image-every", "0", "--no-progress", "--threads", "1"]) == 0
    trained = load_pretrained(out / "latest" if (out / "latest").is_dir() else sorted(
        out.glob("checkpoints/step_*"))[-1], expected_kind="tokenizer")
    before = load_pretrained(tokenizer_checkpoint, expected_kind="tokenizer")
    assert torch.equal(trained.quantizer.codebook_vectors(), before.quantizer.codebook_vectors())


def test_repeated_ids_take_the_previous_pixels_and_new_ids_the_decoders():
    previous = np.full((1, 16, 16, 3), 7, dtype=np.uint8)
    decoded = np.full((1, 16, 16, 3), 200, dtype=np.uint8)
    previous_ids = torch.tensor([[[1, 2], [3, 4]]])
    ids = torch.tensor([[[1, 9], [3, 9]]])  # the left column repeats its ids
    held = hold_unchanged_pixels(torch.from_numpy(previous), previous_ids, torch.from_numpy(decoded), ids, 8).numpy()
    assert (held[0, :, :8] == 7).all() and (held[0, :, 8:] == 200).all()
    assert (decoded == 200).all()  # the inputs are not modified


def test_a_new_id_decoded_within_the_tolerance_takes_the_previous_pixels():
    """``hold_tolerance``: a patch with a new id whose decoded pixels all lie within the tolerance of the previous
    frame's (a near-duplicate id) keeps the previous pixels; one pixel beyond it decodes the whole patch."""
    previous = np.full((1, 16, 16, 3), 100, dtype=np.uint8)
    decoded = previous.copy()
    decoded[0, :8, :8] = 103  # top-left: 3 levels off everywhere
    decoded[0, :8, 8:] = 104
    decoded[0, 3, 12, 1] = 105  # top-right: 4 levels off, and one value 5 off
    decoded[0, 8:, :8] = 250  # bottom-left: a real change
    previous_ids, ids = torch.tensor([[[1, 2], [3, 4]]]), torch.tensor([[[5, 6], [7, 4]]])
    for tolerance, kept in ((0, [False, False, False]), (3, [True, False, False]), (4, [True, False, False]),
                            (5, [True, True, False]), (255, [True, True, True])):
        held = hold_unchanged_pixels(torch.from_numpy(previous), previous_ids, torch.from_numpy(decoded), ids, 8,
                                     tolerance).numpy()
        for (rows, cols), keep in zip(((slice(0, 8), slice(0, 8)), (slice(0, 8), slice(8, 16)),
                                       (slice(8, 16), slice(0, 8))), kept, strict=True):
            expected = previous[0, rows, cols] if keep else decoded[0, rows, cols]
            assert np.array_equal(held[0, rows, cols], expected), (tolerance, rows, cols)
        assert np.array_equal(held[0, 8:, 8:], previous[0, 8:, 8:])  # the repeated id, at any tolerance
    with pytest.raises(ValueError, match="hold_tolerance"):
        DreamSettings(hold_tolerance=256)
    with pytest.raises(ValueError, match="hold_tolerance must be >= 0"):
        DreamSettings(hold_tolerance=-1)


def test_the_hold_tolerance_reaches_both_dream_paths(tiny_checkpoint, monkeypatch):
    """A dream with ``hold_pixels`` and the widest tolerance repeats the last real frame exactly on the dream path
    (``step``) and on the evaluation path (``predict``), though every id is new; with none it does not."""
    world_model = WorldModel.from_pretrained(tiny_checkpoint)
    world_model.settings["hold_pixels"] = True
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 2, 64, 64, 3), dtype=np.uint8)
    _repeat_or_replace_ids(monkeypatch, torch.zeros(8, 8, dtype=torch.bool))  # every id new
    for tolerance, repeats in ((255, True), (0, False)):
        world_model.settings["hold_tolerance"] = tolerance
        state = world_model.start(frames, np.zeros((2, 1), dtype=np.int64))
        for _ in range(2):
            dreamed, _ = world_model.step(state, np.zeros(2, dtype=np.int64))
        assert np.array_equal(dreamed, frames[:, -1]) == repeats
        predicted, _ = world_model.predict(frames, np.zeros((2, 3), dtype=np.int64), 2, mode="autoregressive")
        assert np.array_equal(predicted[:, -1], frames[:, -1]) == repeats


def _repeat_or_replace_ids(monkeypatch, pattern: torch.Tensor) -> None:
    """Make every dream step repeat the previous frame's ids where ``pattern`` is True and draw id 0 elsewhere (the
    dynamics' choice, stubbed: the test is about what the world model does with the ids)."""
    from genie_gym.models.maskgit import DynamicsStream

    def next_frame(self, action, *args, **kwargs):
        previous = self._test_ids if hasattr(self, "_test_ids") else self._start_ids
        ids = torch.where(pattern, previous, torch.zeros_like(previous))
        self._test_ids = ids
        return ids, torch.zeros(ids.shape)

    original_init = DynamicsStream.__init__

    def init(self, model, tokens, *args, **kwargs):
        original_init(self, model, tokens, *args, **kwargs)
        self._start_ids = tokens[:, -1].clone()

    monkeypatch.setattr(DynamicsStream, "__init__", init)
    monkeypatch.setattr(DynamicsStream, "next_frame", next_frame)


@pytest.mark.parametrize("hold", [True, False])
def test_a_dream_keeps_the_pixels_of_the_patches_whose_id_it_repeats(tiny_checkpoint, monkeypatch, hold):
    """``hold_pixels``: where the dynamics repeats an id the dream shows the previous frame's pixels exactly (the real
    context frame, then its own), over several steps; off, every patch is the decoder's."""
    world_model = WorldModel.from_pretrained(tiny_checkpoint)
    world_model.settings["hold_pixels"] = hold
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 2, 64, 64, 3), dtype=np.uint8)
    pattern = torch.zeros(8, 8, dtype=torch.bool)
    pattern[:, :4] = True  # the left half of the 8 x 8 token grid repeats its ids
    _repeat_or_replace_ids(monkeypatch, pattern)
    state = world_model.start(frames, np.zeros((2, 1), dtype=np.int64))
    for _ in range(3):
        dreamed, _ = world_model.step(state, np.zeros(2, dtype=np.int64))
    left_same = np.array_equal(dreamed[:, :, :32], frames[:, -1, :, :32])
    assert left_same == hold
    assert not np.array_equal(dreamed[:, :, 32:], frames[:, -1, :, 32:])  # new ids: the decoder's pixels
    # predict() (the evaluation path) composes the same way
    predicted, _ = world_model.predict(frames, np.zeros((2, 4), dtype=np.int64), 3, mode="autoregressive")
    assert np.array_equal(predicted[:, -1, :, :32], frames[:, -1, :, :32]) == hold


def test_a_large_hold_bias_repeats_every_id_and_none_samples_freely(tiny_checkpoint):
    """``hold_bias``: the bonus on each patch's previous id reaches the sampler on the dream path (the stream) and on
    the evaluation path (``generate``, one chunk of frames holds the last known frame's ids)."""
    world_model = WorldModel.from_pretrained(tiny_checkpoint)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 2, 64, 64, 3), dtype=np.uint8)
    last = world_model.encode(frames)[:, -1]
    for bias, repeats in ((1e4, True), (0.0, False)):
        world_model.settings["hold_bias"] = bias
        state = world_model.start(frames, np.zeros((2, 1), dtype=np.int64))
        for _ in range(2):
            world_model.step(state, np.array([0, 4]))
        assert torch.equal(state.last_ids, last) == repeats
        tokens = world_model.encode(frames)
        result = world_model.dynamics.generate(tokens, torch.zeros(2, 4, dtype=torch.long), 3, mode="single",
                                               sampling=DreamSettings(maskgit_steps=3, hold_bias=bias))
        assert torch.equal(result.tokens, last[:, None].expand(-1, 3, -1, -1)) == repeats
    with pytest.raises(ValueError, match="hold_bias must be >= 0"):
        DreamSettings(hold_bias=-1.0)
