"""Checkpoint I/O (safetensors + config.json) and model configs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from genie_gym.models import (
    CheckpointError,
    Dynamics,
    DynamicsConfig,
    LAMConfig,
    LatentActionModel,
    TokenizerConfig,
    VideoTokenizer,
    get_config,
    load_pretrained,
    save_pretrained,
)
from genie_gym.models.checkpoint_io import CONFIG_FILE, WEIGHTS_FILE
from genie_gym.models.configs import (
    SETTABLE_FIELDS,
    TRAINING_OPTIONS_FILE,
    DreamSettings,
    DynamicsTrainingOptions,
    FrameTrainingOptions,
    get_training_options,
)

TOKENIZER = TokenizerConfig(patch_size=8, d_model=32, num_heads=4, encoder_blocks=1, decoder_blocks=1, num_codes=64)
LAM = LAMConfig(patch_size=8, d_model=32, num_heads=4, encoder_blocks=1, decoder_blocks=1)
DYNAMICS = DynamicsConfig(num_codes=64, grid_size=8, d_model=32, num_heads=4, num_blocks=1, action_embed_dim=8)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def frames() -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (1, 3, 64, 64, 3), dtype=torch.uint8, generator=generator)


def _trained_tokenizer(frames: torch.Tensor) -> VideoTokenizer:
    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TOKENIZER)
    optimizer = torch.optim.AdamW(tokenizer.parameters(), lr=1e-3)
    for _ in range(2):  # so usage buffers and weights are not at their initial values
        loss, _ = tokenizer.compute_loss({"frames": frames})
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return tokenizer.eval()


def _dynamics(codebook: torch.Tensor) -> Dynamics:
    torch.manual_seed(1)
    model = Dynamics(DYNAMICS, codebook)
    with torch.no_grad():
        model.action_embed.weight.normal_()  # a non-default (trained-looking) action table
    return model.eval()


def test_save_load_gives_identical_outputs_for_every_model(tmp_path, frames):
    tokenizer = _trained_tokenizer(frames)
    save_pretrained(tokenizer, tmp_path / "tok")
    loaded = load_pretrained(tmp_path / "tok")
    assert isinstance(loaded, VideoTokenizer) and loaded.config == tokenizer.config
    with torch.no_grad():
        assert torch.equal(loaded.reconstruct(frames), tokenizer.reconstruct(frames))
        assert torch.equal(loaded.encode(frames), tokenizer.encode(frames))
    assert torch.equal(loaded.quantizer.usage_ema, tokenizer.quantizer.usage_ema)

    torch.manual_seed(0)
    lam = LatentActionModel(LAM).eval()
    lam.save_pretrained(tmp_path / "lam")
    loaded_lam = LatentActionModel.from_pretrained(tmp_path / "lam")
    with torch.no_grad():
        assert torch.equal(loaded_lam.infer_actions(frames), lam.infer_actions(frames))
        actions = lam.infer_actions(frames)
        assert torch.equal(loaded_lam.predict_next_frames(frames, actions), lam.predict_next_frames(frames, actions))

    dynamics = _dynamics(tokenizer.codebook_vectors().detach())
    dynamics.save_pretrained(tmp_path / "dyn")
    loaded_dynamics = Dynamics.from_pretrained(tmp_path / "dyn")
    assert torch.equal(loaded_dynamics.codebook, dynamics.codebook)
    assert torch.equal(loaded_dynamics.action_embed.weight, dynamics.action_embed.weight)
    ids = tokenizer.encode(frames)
    actions = torch.tensor([[4, 1]])
    with torch.no_grad():
        assert torch.equal(loaded_dynamics(ids, actions), dynamics(ids, actions))

    meta = json.loads((tmp_path / "dyn" / CONFIG_FILE).read_text())
    assert meta["model_kind"] == "dynamics" and meta["format_version"] == 1
    assert meta["config"] == DYNAMICS.to_dict()
    assert meta["num_parameters"] == sum(p.numel() for p in dynamics.parameters())
    assert not list((tmp_path / "dyn").glob("*.tmp")), "no temporary files may be left behind"


def test_float16_checkpoint_loads_back_as_float32(tmp_path, frames):
    tokenizer = _trained_tokenizer(frames)
    save_pretrained(tokenizer, tmp_path / "full")
    save_pretrained(tokenizer, tmp_path / "half", dtype=torch.float16)
    assert (tmp_path / "half" / WEIGHTS_FILE).stat().st_size < 0.6 * (tmp_path / "full" / WEIGHTS_FILE).stat().st_size
    loaded = load_pretrained(tmp_path / "half", expected_kind="tokenizer")
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    assert loaded.quantizer.steps_since_used.dtype == torch.int64
    with torch.no_grad():
        assert torch.allclose(loaded.reconstruct(frames), tokenizer.reconstruct(frames), atol=2e-2)


def test_missing_directory_and_files(tmp_path, frames):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_pretrained(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="config.json"):
        load_pretrained(tmp_path / "empty")
    save_pretrained(LatentActionModel(LAM), tmp_path / "lam")
    (tmp_path / "lam" / WEIGHTS_FILE).unlink()
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_pretrained(tmp_path / "lam")


def test_truncated_or_corrupt_weights(tmp_path):
    directory = save_pretrained(LatentActionModel(LAM), tmp_path / "lam")
    weights = directory / WEIGHTS_FILE
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated"):
        load_pretrained(directory)
    # without the checksum the safetensors parser itself must catch it
    meta = json.loads((directory / CONFIG_FILE).read_text())
    del meta["weights_sha256"]
    (directory / CONFIG_FILE).write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_pretrained(directory)
    weights.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_pretrained(directory)
    (directory / CONFIG_FILE).write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_pretrained(directory)


def _edit_config(directory, **changes) -> None:
    meta = json.loads((directory / CONFIG_FILE).read_text())
    meta["config"].update(changes)
    (directory / CONFIG_FILE).write_text(json.dumps(meta))


def test_config_and_weights_mismatch_is_reported(tmp_path):
    directory = save_pretrained(_dynamics(torch.randn(64, 32)), tmp_path / "dyn")
    _edit_config(directory, d_model=64)
    with pytest.raises(CheckpointError, match=r"shape mismatch.*token_embed.weight"):
        load_pretrained(directory)
    _edit_config(directory, d_model=32, token_input_skip=False)
    with pytest.raises(CheckpointError, match=r"unexpected tensors: codebook_proj.bias, codebook_proj.weight"):
        load_pretrained(directory)
    _edit_config(directory, token_input_skip=True, num_blocks=2)
    with pytest.raises(CheckpointError, match=r"missing tensors: transformer.blocks.1.*\(\d+ in all\)"):
        load_pretrained(directory)
    _edit_config(directory, num_blocks=1, no_such_field=3)
    with pytest.raises(CheckpointError, match="no_such_field"):
        load_pretrained(directory)


def test_wrong_model_kind(tmp_path):
    directory = save_pretrained(VideoTokenizer(TOKENIZER), tmp_path / "tok")
    with pytest.raises(CheckpointError, match=r"expected a dynamics checkpoint but .*tok holds a tokenizer"):
        load_pretrained(directory, expected_kind="dynamics")
    with pytest.raises(CheckpointError, match="expected a lam checkpoint"):
        LatentActionModel.from_pretrained(directory)
    with pytest.raises(CheckpointError, match="not a genie-gym model"):
        save_pretrained(torch.nn.Linear(2, 2), tmp_path / "linear")


def test_configs_round_trip_and_reject_unknown_keys(tmp_path):
    for kind, cls in (("tokenizer", TokenizerConfig), ("lam", LAMConfig), ("dynamics", DynamicsConfig)):
        for name in ("small", "paper"):
            config = get_config(kind, name)
            assert isinstance(config, cls)
            assert cls.from_dict(json.loads(json.dumps(config.to_dict()))) == config
        with pytest.raises(ValueError, match=r"unknown .* keys \['bogus'\]"):
            cls.from_dict({"bogus": 1})
    paper_tokenizer = get_config("tokenizer", "paper")
    assert (paper_tokenizer.encoder_blocks, paper_tokenizer.decoder_blocks, paper_tokenizer.d_model) == (8, 8, 512)
    assert (paper_tokenizer.num_heads, paper_tokenizer.patch_size, paper_tokenizer.num_codes) == (8, 4, 1024)
    assert paper_tokenizer.latent_dim == 32 and paper_tokenizer.grid_size == 16
    assert get_config("lam", "paper").num_codes == 7
    paper_dynamics = get_config("dynamics", "paper")
    assert (paper_dynamics.num_blocks, paper_dynamics.d_model, paper_dynamics.num_heads) == (12, 512, 8)
    small_tokenizer, small_dynamics = get_config("tokenizer", "small"), get_config("dynamics", "small")
    shipped = Path(__file__).resolve().parents[1] / "checkpoints" / "genie-redux-g-smb"
    assert get_config("tokenizer", shipped / "tokenizer" / CONFIG_FILE) == small_tokenizer  # small = shipped shape
    shipped_dynamics = get_config("dynamics", shipped / "dynamics" / CONFIG_FILE)  # the architecture only
    # the shipped shape; holding unchanged ids is how it encodes real frames, not part of the shape
    assert shipped_dynamics.replace(hold_unchanged_tokens=small_dynamics.hold_unchanged_tokens) == small_dynamics
    assert small_dynamics.grid_size == small_tokenizer.grid_size
    assert (small_dynamics.num_codes, small_dynamics.latent_dim) == (
        small_tokenizer.num_codes,
        small_tokenizer.latent_dim,
    )

    path = tmp_path / "dyn.json"
    path.write_text(json.dumps({"d_model": 64, "num_heads": 4}))
    assert get_config("dynamics", str(path)).d_model == 64
    directory = save_pretrained(VideoTokenizer(TOKENIZER), tmp_path / "tok")
    assert get_config("tokenizer", directory / CONFIG_FILE) == TOKENIZER
    with pytest.raises(ValueError, match="holds a tokenizer config"):
        get_config("dynamics", directory / CONFIG_FILE)
    with pytest.raises(ValueError, match="no dynamics config named 'huge'"):
        get_config("dynamics", "huge")
    with pytest.raises(ValueError, match="unknown model kind"):
        get_config("policy", "small")
    with pytest.raises(ValueError, match="action_source"):
        DynamicsConfig(action_source="keyboard")


def test_a_dynamics_config_json_from_before_the_split_loads_and_gives_its_training_options(tmp_path):
    """Checkpoints whose config.json holds training options and sampling settings next to the architecture (every
    one written before the split) load unchanged; the training options are read from them, or from the
    training_options.json a run writes into its checkpoints."""
    model = Dynamics(DYNAMICS, codebook=torch.randn(64, 32))
    directory = save_pretrained(model, tmp_path / "dyn")
    meta = json.loads((directory / CONFIG_FILE).read_text())
    assert set(meta["config"]) == set(DynamicsConfig.field_names())  # what the weights need, nothing else
    old = {"tdce_lambda": 1.0, "visible_prefix_prob": 0.5, "context_stall_actions": [0], "maskgit_steps": 25,
           "temperature": 1.0}
    meta["config"].update(old)
    (directory / CONFIG_FILE).write_text(json.dumps(meta))
    loaded = load_pretrained(directory, expected_kind="dynamics")
    assert loaded.config == DYNAMICS and loaded.training_options == DynamicsTrainingOptions()
    assert get_config("dynamics", directory / CONFIG_FILE) == DYNAMICS
    options = get_training_options("dynamics", directory / CONFIG_FILE)
    assert options == DynamicsTrainingOptions(tdce_lambda=1.0, visible_prefix_prob=0.5, context_stall_actions=(0,))
    (directory / TRAINING_OPTIONS_FILE).write_text(json.dumps({"changed_token_weight": 2}))
    assert get_training_options("dynamics", directory / CONFIG_FILE) == DynamicsTrainingOptions(changed_token_weight=2)
    assert get_training_options("dynamics", "small") == DynamicsTrainingOptions()
    with pytest.raises(ValueError, match=r"has no field\(s\) \['tdce_lambda'\]"):
        DYNAMICS.replace(tdce_lambda=1.0)  # a training option is not part of the architecture
    with pytest.raises(ValueError, match="action ids in \\[0, 5\\)"):
        Dynamics(DYNAMICS, training_options=DynamicsTrainingOptions(context_stall_actions=(5,)))
    assert SETTABLE_FIELDS["dynamics"] == set(DynamicsTrainingOptions.field_names()) | {"hold_unchanged_tokens"}
    repo = Path(__file__).resolve().parents[1]
    before_split = repo / "campaign" / "weights" / "d128_shipped" / CONFIG_FILE  # options kept in its config.json
    assert json.loads(before_split.read_text())["config"]["visible_prefix_prob"] == 0.5
    assert get_training_options("dynamics", before_split).visible_prefix_prob == 0.5
    shipped = repo / "checkpoints" / "genie-redux-g-smb" / "dynamics"  # options in its training_options.json
    saved = json.loads((shipped / TRAINING_OPTIONS_FILE).read_text())
    assert get_training_options("dynamics", shipped / CONFIG_FILE) == DynamicsTrainingOptions.from_dict(saved)
    assert get_training_options("dynamics", shipped / CONFIG_FILE) != DynamicsTrainingOptions()


def test_a_frame_model_config_json_from_before_the_split_loads_and_gives_its_training_options(tmp_path, frames):
    """The quantizer's training options (commitment, usage EMA, dead-code revival) of a tokenizer or LAM are saved
    with the run, not with the weights; a config.json that holds them next to the architecture (every one written
    before the split, the shipped tokenizer's among them) loads unchanged, with the same outputs, and gives them."""
    old = {"commitment": 0.5, "usage_ema_decay": 0.9, "dead_code_after": 7, "dead_code_check_every": 3}
    tokenizer = _trained_tokenizer(frames)
    for kind, model, architecture in (("tokenizer", tokenizer, TOKENIZER), ("lam", LatentActionModel(LAM), LAM)):
        directory = save_pretrained(model.eval(), tmp_path / kind)
        meta = json.loads((directory / CONFIG_FILE).read_text())
        assert set(meta["config"]) == set(type(architecture).field_names())  # what the weights need, nothing else
        assert not set(meta["config"]) & set(old)
        meta["config"].update(old)
        (directory / CONFIG_FILE).write_text(json.dumps(meta))
        loaded = load_pretrained(directory, expected_kind=kind)
        assert loaded.config == architecture and loaded.training_options == FrameTrainingOptions()
        assert get_config(kind, directory / CONFIG_FILE) == architecture
        assert get_training_options(kind, directory / CONFIG_FILE) == FrameTrainingOptions(**old)
        (directory / TRAINING_OPTIONS_FILE).write_text(json.dumps({"dead_code_after": 9}))
        assert get_training_options(kind, directory / CONFIG_FILE) == FrameTrainingOptions(dead_code_after=9)
        assert SETTABLE_FIELDS[kind] == set(FrameTrainingOptions.field_names())
    with torch.no_grad():
        assert torch.equal(load_pretrained(tmp_path / "tokenizer").reconstruct(frames), tokenizer.reconstruct(frames))
    with pytest.raises(ValueError, match=r"has no field\(s\) \['commitment'\]"):
        TOKENIZER.replace(commitment=0.5)  # a training option is not part of the architecture
    assert get_training_options("tokenizer", "small") == FrameTrainingOptions()
    assert get_training_options("lam", "small") == FrameTrainingOptions(dead_code_after=25, dead_code_check_every=25)
    assert get_training_options("lam", "paper") == FrameTrainingOptions()
    shipped = Path(__file__).resolve().parents[1] / "checkpoints" / "genie-redux-g-smb" / "tokenizer"
    config = json.loads((shipped / CONFIG_FILE).read_text())["config"]
    held = {key: config[key] for key in FrameTrainingOptions.field_names()}
    assert not (shipped / TRAINING_OPTIONS_FILE).exists()  # the options are in its config.json, from before the split
    assert get_training_options("tokenizer", shipped / CONFIG_FILE) == FrameTrainingOptions(**held)
    assert load_pretrained(shipped, expected_kind="tokenizer").config == get_config("tokenizer", "small")


def test_each_sampling_setting_has_one_default() -> None:
    """DreamSettings holds the sampling defaults; dream.json's defaults and the model code's take them from it."""
    import inspect

    from genie_gym.models.maskgit import generate
    from genie_gym.world_model import DREAM_DEFAULTS

    defaults = DreamSettings().to_dict()
    assert {key: DREAM_DEFAULTS[key] for key in defaults} == defaults
    assert inspect.signature(generate).parameters["sampling"].default == DreamSettings()
    assert DreamSettings.resolve({"maskgit_steps": 8, "game": "SMB"}, temperature=0.5) == DreamSettings(
        maskgit_steps=8, temperature=0.5)


def test_checkpoint_io_is_a_leaf_and_models_register_their_kinds(tmp_path) -> None:
    """The file format imports no model (each model class registers its kind as it is defined), and the LAM gets
    its quantizer without the tokenizer module."""
    import ast

    from genie_gym.models import checkpoint_io
    from genie_gym.models.checkpoint_io import PretrainedMixin, model_classes

    def imported(module) -> set[str]:
        tree = ast.parse(Path(module.__file__).read_text())
        return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module} | {
            alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}

    assert not {name for name in imported(checkpoint_io) if name.startswith("genie_gym.models")}
    from genie_gym.models import lam

    assert "genie_gym.models.tokenizer" not in imported(lam) and "genie_gym.models.quantizer" in imported(lam)
    from genie_gym.models.upscaler import Upscaler

    assert model_classes() == {"tokenizer": VideoTokenizer, "lam": LatentActionModel, "dynamics": Dynamics,
                               "upscaler": Upscaler}

    class Other(VideoTokenizer):  # a subclass that names no kind of its own registers nothing
        pass

    assert model_classes()["tokenizer"] is VideoTokenizer
    with pytest.raises(TypeError, match="already registered by VideoTokenizer"):
        type("Impostor", (PretrainedMixin, torch.nn.Module), {"model_kind": "tokenizer"})
    assert model_classes()["tokenizer"] is VideoTokenizer
