"""The settings of the models, one dataclass per concern (docs/DESIGN.md §5.8):

- architecture, what the weights need, saved with them in a checkpoint's ``config.json``: :class:`TokenizerConfig`,
  :class:`LAMConfig` (both :class:`FrameModelConfig`) and :class:`DynamicsConfig`;
- training options, saved with the run (its ``config.json`` and each checkpoint's ``training_options.json``):
  :class:`FrameTrainingOptions` (tokenizer and LAM) and :class:`DynamicsTrainingOptions`;
- sampling settings of a dream or an evaluation: :class:`DreamSettings`, whose defaults are the only ones; a world
  model's ``dream.json`` and the caller's arguments override them (:meth:`DreamSettings.resolve`).

Every architecture field has a default (the paper's values, appendix A); :func:`get_config` returns the named presets
``"paper"`` and ``"small"`` (see ``PRESETS``), or reads a JSON file; :func:`get_training_options` reads the training
options from the same sources. ``to_dict()`` / ``from_dict()`` round-trip through plain JSON types; ``from_dict``
rejects unknown keys.

A ``config.json`` written before the split holds the training options (and, for the dynamics, the sampling
settings ``maskgit_steps`` / ``temperature``) next to the architecture: ``from_dict`` of the architecture leaves them
out and :func:`get_training_options` reads the training options from it, so every such checkpoint loads as it did.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

ConfigT = TypeVar("ConfigT", bound="_ConfigBase")

ACTION_SOURCES: tuple[str, ...] = ("ground_truth", "latent")
CHANGED_TOKEN_WEIGHT_SCOPES: tuple[str, ...] = ("all", "after_stall")
TRAINING_OPTIONS_FILE = "training_options.json"
"""Written by the trainer into each checkpoint of a run (tokenizer, LAM, dynamics), beside ``config.json``."""


class _ConfigBase:
    """``to_dict`` / ``from_dict`` / ``replace`` shared by the settings dataclasses."""

    model_kind: ClassVar[str] = ""
    # keys that older files hold but that now belong to another dataclass: from_dict leaves them out
    moved_keys: ClassVar[frozenset[str]] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-serialisable dict (every field; tuples as lists, as JSON reads them back)."""
        values = dataclasses.asdict(self)  # type: ignore[call-overload]
        return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}

    @classmethod
    def field_names(cls) -> list[str]:
        """The fields, in order."""
        return [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls: type[ConfigT], values: Mapping[str, Any]) -> ConfigT:
        """Build from ``values``; missing keys take their defaults, unknown keys raise ``ValueError``
        (:attr:`moved_keys` are left out)."""
        if not isinstance(values, Mapping):
            raise ValueError(f"{cls.__name__}.from_dict expects a dict, got {type(values).__name__}")
        names = cls.field_names()
        unknown = sorted(set(values) - set(names) - cls.moved_keys)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys {unknown}; valid keys are {sorted(names)}")
        return cls(**{key: value for key, value in values.items() if key in names})

    def replace(self: ConfigT, **changes: Any) -> ConfigT:
        """A copy with some fields changed (validated like a new config)."""
        unknown = sorted(set(changes) - set(self.field_names()))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no field(s) {unknown}; valid keys are "
                             f"{sorted(self.field_names())}")
        return self.from_dict({**self.to_dict(), **changes})


def _check_positive(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not value > 0:
            raise ValueError(f"{type(config).__name__}.{name} must be > 0, got {value!r}")


def _check_probability(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{type(config).__name__}.{name} must be in [0, 1], got {value}")


# ------------------------------------------------------------------------------------------------ architecture
@dataclass
class FrameModelConfig(_ConfigBase):
    """The backbone the tokenizer and the latent action model share: an ST-ViViT encoder and decoder over
    ``patch_size`` patches, and a vector quantizer of ``num_codes`` codes of ``latent_dim``.
    ``grid_size = image_size // patch_size`` patches per side. How the quantizer trains: :class:`FrameTrainingOptions`.
    """

    image_size: int = 64
    patch_size: int = 4
    d_model: int = 512
    num_heads: int = 8
    encoder_blocks: int = 8
    decoder_blocks: int = 8
    mlp_ratio: float = 4.0
    num_codes: int = 1024
    latent_dim: int = 32

    def __post_init__(self) -> None:
        _check_positive(self, "image_size", "patch_size", "d_model", "num_heads", "encoder_blocks")
        _check_positive(self, "decoder_blocks", "num_codes", "latent_dim")
        name = type(self).__name__
        if self.image_size % self.patch_size:
            raise ValueError(f"{name}: image_size {self.image_size} must be a multiple of patch_size {self.patch_size}")
        if self.d_model % self.num_heads:
            raise ValueError(f"{name}: d_model {self.d_model} must be divisible by num_heads")

    @property
    def grid_size(self) -> int:
        """Patches (tokens) per side of a frame (``image_size // patch_size``)."""
        return self.image_size // self.patch_size


@dataclass
class TokenizerConfig(FrameModelConfig):
    """ST-ViViT VQ-VAE video tokenizer (paper Tab. 7): the backbone of :class:`FrameModelConfig`, ``num_codes``
    token ids."""

    model_kind: ClassVar[str] = "tokenizer"


@dataclass
class LAMConfig(FrameModelConfig):
    """Latent action model (paper Tab. 9): the tokenizer's backbone, ``num_codes`` latent actions.

    ``residual_decoder``: the decoder predicts the change from frame ``t`` to ``t+1`` (added to frame ``t``) instead
    of frame ``t+1`` itself; the paper does not say, this trains much faster (the action carries the change).
    """

    model_kind: ClassVar[str] = "lam"

    num_codes: int = 7  # overrides the backbone's default in place: the field order (and config.json's) is kept
    residual_decoder: bool = True


@dataclass
class DynamicsConfig(_ConfigBase):
    """MaskGIT dynamics over tokenizer ids (paper Tab. 8): what its weights need.

    ``num_codes`` / ``latent_dim`` / ``grid_size`` must match the tokenizer. ``action_source``:
    ``"ground_truth"`` (GenieRedux-G: an ``nn.Embedding`` of the ``num_actions`` real actions, concatenated to every
    block's input) or ``"latent"`` (GenieRedux: LAM codes, ``num_actions`` = the LAM's ``num_codes``, embedded and
    added to the token embeddings). ``token_input_skip`` adds the (projected) codebook vector of each visible token to
    its embedding.
    ``hold_unchanged_tokens``: the model reads and predicts ids in which a patch whose pixels did not change keeps
    the previous frame's id (:func:`genie_gym.models.tokenizer.hold_unchanged_tokens`): the trainer caches its tokens
    so, and a world model encodes real frames so before the model sees them. False: the encoder's ids as they are.
    No weight's shape depends on it, so ``genie train --set`` may change it (see :data:`SETTABLE_FIELDS`).

    How it trains: :class:`DynamicsTrainingOptions`; how it samples: :class:`DreamSettings`.
    """

    model_kind: ClassVar[str] = "dynamics"

    num_codes: int = 1024
    latent_dim: int = 32
    grid_size: int = 16
    d_model: int = 512
    num_heads: int = 8
    num_blocks: int = 12
    mlp_ratio: float = 4.0
    action_source: str = "ground_truth"
    num_actions: int = 5
    action_embed_dim: int = 32
    token_input_skip: bool = True
    hold_unchanged_tokens: bool = False

    def __post_init__(self) -> None:
        _check_positive(self, "num_codes", "latent_dim", "grid_size", "d_model", "num_heads", "num_blocks")
        _check_positive(self, "num_actions", "action_embed_dim")
        if self.action_source not in ACTION_SOURCES:
            raise ValueError(
                f"DynamicsConfig.action_source must be one of {ACTION_SOURCES}, got {self.action_source!r}"
            )
        if self.d_model % self.num_heads:
            raise ValueError(f"DynamicsConfig: d_model {self.d_model} must be divisible by num_heads {self.num_heads}")


# ------------------------------------------------------------------------------------------------ training
@dataclass
class FrameTrainingOptions(_ConfigBase):
    """How the vector quantizer of a tokenizer or LAM trains; none of it is in the weights.

    ``commitment`` weighs the commitment loss; code usage is tracked with an EMA of decay ``usage_ema_decay``; a code
    unused for ``dead_code_after`` training steps is dead and gets replaced (checked every ``dead_code_check_every``
    steps) by a recent encoder output.
    """

    commitment: float = 0.25
    usage_ema_decay: float = 0.99
    dead_code_after: int = 200
    dead_code_check_every: int = 50

    def __post_init__(self) -> None:
        _check_positive(self, "dead_code_after", "dead_code_check_every")


@dataclass
class DynamicsTrainingOptions(_ConfigBase):
    """How the dynamics trains (paper: MaskGIT with the TDCE loss); none of it is in the weights.

    ``tdce_lambda`` weighs the token-distance term of the loss (0: plain cross-entropy). Each clip draws one mask
    ratio ``p ~ U(mask_ratio_min, mask_ratio_max)``.
    ``visible_prefix_prob``: the fraction of training clips whose first ``c`` frames (``c ~ U{1..T-1}``) are left
    fully visible, the masking applying only to the frames after them. 0 is the paper's masking (only frame 0 is
    always visible), where the past frames of a predicted frame are themselves half masked; a dream predicts each
    frame from fully visible past frames, which these clips train for.
    ``changed_token_weight``: loss weight of the masked tokens whose id differs from the same position in the previous
    frame (where something moves: a walking sprite, a scrolling camera); the other tokens weigh 1. Those are a few
    percent of a frame, and a small model fitting a mostly static world learns to copy them; 1 is the plain loss.
    ``changed_token_weight_scope``: where that weight applies. ``"all"``: every masked token that differs from the
    real previous frame. ``"after_stall"``: only in target frames whose previous input frame is a stalled copy (see
    ``context_stall_prob``; there the tokens that differ from that copy), the case a dream that stopped moving is in;
    elsewhere the loss stays the plain one.
    ``context_stall_prob``: each fully visible input frame (frames 1.., not the last) is, with this probability,
    replaced by the frame before it (which may itself be such a copy), while the targets stay the real frames. A dream
    that once copies a frame instead of moving (Mario not stepping) feeds that copy back; these clips teach the model
    to carry on from a stalled past. 0: off.
    ``context_stall_actions``: the actions whose frames may be stalled: frame ``t`` is replaced only when the action
    taken at it (``actions[t]``, the one that makes the target ``t+1``) is in this list; empty (the default): any
    action. A stall teaches "after a frame that did not move, this action moves on by the real amount"; right for
    RIGHT (a dream whose Mario stood still must still walk), wrong for actions under which the real game only coasts
    and slows down (DOWN, UP, LEFT after a run), whose outcome after a stalled copy then looks like a full step.
    ``context_rollout_prob``: the probability that a clip's last ``context_rollout_frames`` fully visible input
    frames (frames ``1..``, before its first target frame) are replaced by the model's own predictions of them, one
    frame after the other (one pass each, every token masked, argmax, from the input frames before it), while the
    targets stay real: the model learns to carry on from the past it dreams (exposure bias), e.g. to stop a coasting
    camera it keeps scrolling, or to walk on after a frame in which it did not move Mario. 0: off.

    Every option can change when fine-tuning a trained model (``genie train --set KEY=VALUE``).
    """

    tdce_lambda: float = 3.0
    mask_ratio_min: float = 0.5
    mask_ratio_max: float = 1.0
    visible_prefix_prob: float = 0.0
    changed_token_weight: float = 1.0
    changed_token_weight_scope: str = "all"
    context_stall_prob: float = 0.0
    context_stall_actions: tuple[int, ...] = ()
    context_rollout_prob: float = 0.0
    context_rollout_frames: int = 1

    def __post_init__(self) -> None:
        name = type(self).__name__
        if not 0.0 < self.mask_ratio_min <= self.mask_ratio_max <= 1.0:
            raise ValueError(f"{name} needs 0 < mask_ratio_min <= mask_ratio_max <= 1")
        if self.tdce_lambda < 0:
            raise ValueError(f"{name}.tdce_lambda must be >= 0, got {self.tdce_lambda}")
        _check_probability(self, "visible_prefix_prob", "context_stall_prob", "context_rollout_prob")
        if self.changed_token_weight <= 0:
            raise ValueError(f"{name}.changed_token_weight must be > 0, got {self.changed_token_weight}")
        if self.changed_token_weight_scope not in CHANGED_TOKEN_WEIGHT_SCOPES:
            raise ValueError(f"{name}.changed_token_weight_scope must be one of {CHANGED_TOKEN_WEIGHT_SCOPES}, "
                             f"got {self.changed_token_weight_scope!r}")
        if not self.context_rollout_frames >= 1:
            raise ValueError(f"{name}.context_rollout_frames must be >= 1, got {self.context_rollout_frames}")
        self.context_stall_actions = tuple(self.context_stall_actions)  # JSON gives a list
        bad_actions = [a for a in self.context_stall_actions if isinstance(a, bool) or not isinstance(a, int) or a < 0]
        if bad_actions:
            raise ValueError(f"{name}.context_stall_actions must hold action ids >= 0, "
                             f"got {list(self.context_stall_actions)}")
        if self.changed_token_weight_scope == "after_stall" and self.changed_token_weight != 1.0 \
                and self.context_stall_prob == 0.0:
            raise ValueError(f"{name}.changed_token_weight_scope 'after_stall' needs context_stall_prob > 0 "
                             "(without stalled frames the weight never applies)")

    def check_model(self, config: DynamicsConfig) -> DynamicsTrainingOptions:
        """These options, checked against the model they train (``context_stall_actions`` must be its actions)."""
        bad = [a for a in self.context_stall_actions if a >= config.num_actions]
        if bad:
            raise ValueError(f"DynamicsTrainingOptions.context_stall_actions must hold action ids in "
                             f"[0, {config.num_actions}), got {list(self.context_stall_actions)}")
        return self


SAMPLING_KEYS_BEFORE_SPLIT = frozenset({"maskgit_steps", "temperature"})
"""Sampling settings that dynamics ``config.json`` files held before the split (always the defaults, 25 and 1.0:
a world model samples with its ``dream.json``); loading leaves them out."""
DynamicsConfig.moved_keys = frozenset(DynamicsTrainingOptions.field_names()) | SAMPLING_KEYS_BEFORE_SPLIT
DynamicsTrainingOptions.moved_keys = frozenset(DynamicsConfig.field_names()) | SAMPLING_KEYS_BEFORE_SPLIT
# a tokenizer or LAM config.json written before the split holds the quantizer's training options too
FrameModelConfig.moved_keys = frozenset(FrameTrainingOptions.field_names())
FrameTrainingOptions.moved_keys = frozenset(LAMConfig.field_names())

SETTABLE_FIELDS: dict[str, frozenset[str]] = {
    "tokenizer": frozenset(FrameTrainingOptions.field_names()),
    "lam": frozenset(FrameTrainingOptions.field_names()),
    "dynamics": frozenset(DynamicsTrainingOptions.field_names()) | {"hold_unchanged_tokens"},
}
"""What ``genie train --set KEY=VALUE`` may change, also of an ``--init`` model: the training options, and the
dynamics' ``hold_unchanged_tokens`` (no weight's shape depends on it: it says which ids the trainer caches)."""


# ------------------------------------------------------------------------------------------------ sampling
@dataclass(frozen=True)
class DreamSettings(_ConfigBase):
    """How dreams are started and sampled, and how ``genie eval`` samples. The defaults here are the only ones; each
    value is the argument given, else the world model's ``dream.json``'s, else this default (:meth:`resolve`).

    Attributes:
        context_frames: real frames a dream starts from.
        maskgit_steps: MaskGIT steps per dreamed frame (25 in the paper).
        temperature: sampling temperature (0: the most likely ids).
        action_guidance: weight ``w`` that pushes each frame towards what the action changes, at ``num_actions`` times
            the compute (``genie_gym.models.maskgit``; 0: none).
        hold_pixels: keep the previous frame's pixels where the predicted id repeats.
        hold_tolerance: with ``hold_pixels``, also keep them where a patch's decoded pixels all lie within this many
            uint8 levels of the previous frame's (a near-duplicate id; 0: only repeated ids; 0-255).
        hold_bias: log-probability bonus of each patch's previous id while sampling (0: none).
        change_temperature: temperature of each patch's draw between keeping its previous id and changing, apart
            from which id it changes to (``genie_gym.models.maskgit``; 1: the model's own odds; 0: off).
    """

    context_frames: int = 2
    maskgit_steps: int = 25
    temperature: float = 1.0
    action_guidance: float = 0.0
    hold_pixels: bool = False
    hold_tolerance: int = 0
    hold_bias: float = 0.0
    change_temperature: float = 0.0

    def __post_init__(self) -> None:
        kinds = {"int": int, "float": float, "bool": bool}
        for field in dataclasses.fields(self):
            object.__setattr__(self, field.name, kinds[field.type](getattr(self, field.name)))
        for name, least in (("context_frames", 1), ("maskgit_steps", 1), ("temperature", 0), ("action_guidance", 0),
                            ("hold_tolerance", 0), ("hold_bias", 0), ("change_temperature", 0)):
            if getattr(self, name) < least:
                raise ValueError(f"{name} must be >= {least}, got {getattr(self, name)}")
        if self.hold_tolerance > 255:
            raise ValueError(f"hold_tolerance is in uint8 levels, 0-255, got {self.hold_tolerance}")

    @classmethod
    def names(cls) -> list[str]:
        """The settings' names (keys of ``dream.json``, keyword arguments of the dream envs)."""
        return cls.field_names()

    @classmethod
    def resolve(cls, file_settings: Mapping[str, Any] | None = None, **arguments: Any) -> DreamSettings:
        """The settings of ``file_settings`` (a world model's ``settings``, read from ``dream.json``; other keys in it
        are ignored), each overridden by the argument of its name unless that is ``None``."""
        unknown = sorted(set(arguments) - set(cls.names()))
        if unknown:
            raise TypeError(f"unknown dream setting(s) {unknown}: the settings are {', '.join(cls.names())}")
        file_settings = file_settings or {}
        chosen = {name: arguments.get(name) for name in cls.names()}
        chosen = {name: file_settings.get(name) if value is None else value for name, value in chosen.items()}
        return cls(**{name: value for name, value in chosen.items() if value is not None})


SAMPLING_DEFAULTS = DreamSettings()
"""The default of every sampling setting (for code that takes one setting as an argument that may be ``None``)."""


CONFIG_CLASSES: dict[str, type[_ConfigBase]] = {
    "tokenizer": TokenizerConfig,
    "lam": LAMConfig,
    "dynamics": DynamicsConfig,
}
TRAINING_OPTION_CLASSES: dict[str, type[_ConfigBase]] = {
    "tokenizer": FrameTrainingOptions,
    "lam": FrameTrainingOptions,
    "dynamics": DynamicsTrainingOptions,
}
"""The model kinds with training options of their own."""

# Presets: the architecture (PRESETS) and the training options that differ from their defaults (TRAINING_PRESETS).
# "paper": the paper's sizes, appendix A, for GPUs. "small": the shipped SMB world model's shape
# (checkpoints/genie-redux-g-smb), sized to train on a 2-core CPU: tokenizer patch 4 (16 x 16 tokens), d128, 3+3
# blocks; dynamics over that grid, d128, 4 heads, 4 blocks; LAM patch 8, d128, 2+4 blocks, whose unused latent
# actions are replaced after 25 steps instead of 200 (a training option), so a short CPU run does not train with a
# collapsed action codebook. Parameter counts: docs/DESIGN.md §5.8; how these sizes were chosen:
# docs/EXPERIMENTS.md#the-small-preset-how-its-sizes-were-chosen.
_SMALL_TOKENIZER: dict[str, Any] = {
    "patch_size": 4,
    "d_model": 128,
    "num_heads": 4,
    "encoder_blocks": 3,
    "decoder_blocks": 3,
}
_SMALL_LAM: dict[str, Any] = {
    "patch_size": 8,
    "d_model": 128,
    "num_heads": 4,
    "encoder_blocks": 2,
    "decoder_blocks": 4,
}
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "paper": {
        "tokenizer": {},
        "lam": {},
        "dynamics": {},
    },
    "small": {
        "tokenizer": _SMALL_TOKENIZER,
        "lam": _SMALL_LAM,
        "dynamics": {"grid_size": 16, "d_model": 128, "num_heads": 4, "num_blocks": 4},
    },
}
TRAINING_PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "small": {"lam": {"dead_code_after": 25, "dead_code_check_every": 25}},
}


def config_class(kind: str) -> type[_ConfigBase]:
    """The config dataclass for ``kind`` (``"tokenizer"``, ``"lam"`` or ``"dynamics"``)."""
    try:
        return CONFIG_CLASSES[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(CONFIG_CLASSES)}") from None


def _read_values(kind: str, name_or_path: str | Path,
                 presets: Mapping[str, Mapping[str, Any]] = PRESETS) -> tuple[dict[str, Any], Path | None]:
    """The fields ``name_or_path`` gives a ``kind`` model (a preset's in ``presets``, or a JSON file's) and the
    checkpoint directory when the file is a checkpoint's ``config.json``."""
    config_class(kind)
    name = str(name_or_path)
    if name in PRESETS:
        return dict(presets.get(name, {}).get(kind, {})), None
    return read_config_file(kind, name, PRESETS)


def read_config_file(kind: str, name_or_path: str | Path, preset_names: Iterable[str]) -> tuple[Any, Path | None]:
    """The values a JSON config file gives a ``kind`` model (its fields, or a checkpoint's ``config.json``
    ``{"model_kind", "config"}``, whose kind must match) and the checkpoint directory when it is a checkpoint's.
    ``preset_names`` are named in the error when ``name_or_path`` is no file."""
    path = Path(name_or_path)
    if not path.is_file():
        raise ValueError(f"no {kind} config named {str(name_or_path)!r}: use one of {sorted(preset_names)} or the "
                         "path of a JSON file")
    try:
        values = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {kind} config JSON {path}: {exc}") from exc
    if isinstance(values, dict) and "model_kind" in values and "config" in values:
        if values["model_kind"] != kind:
            article = "an" if kind[0] in "aeiou" else "a"
            raise ValueError(f"{path} holds a {values['model_kind']} config, expected {article} {kind} config")
        return values["config"], path.parent
    return values, None


def get_config(kind: str, name_or_path: str | Path = "small") -> TokenizerConfig | LAMConfig | DynamicsConfig:
    """The architecture of ``kind`` named ``"small"`` / ``"paper"``, or read from a JSON file.

    The JSON file holds either the config's fields or a checkpoint's ``config.json`` (``{"model_kind", "config"}``,
    whose kind must match). The file may also hold training options (read by :func:`get_training_options`).
    """
    values, _ = _read_values(kind, name_or_path)
    return config_class(kind).from_dict(values)  # type: ignore[return-value]


def get_training_options(
    kind: str, name_or_path: str | Path = "small"
) -> FrameTrainingOptions | DynamicsTrainingOptions:
    """The training options that the source of :func:`get_config` gives a ``kind`` model: a preset's
    (``TRAINING_PRESETS``, else the defaults); a JSON file's training fields; for a checkpoint's ``config.json``, its
    ``training_options.json`` (written by the trainer) or else the training fields a ``config.json`` held before the
    split."""
    if kind not in TRAINING_OPTION_CLASSES:
        raise ValueError(f"a {kind} model has no training options of its own; kinds with some: "
                         f"{sorted(TRAINING_OPTION_CLASSES)}")
    values, checkpoint = _read_values(kind, name_or_path, TRAINING_PRESETS)
    options_class = TRAINING_OPTION_CLASSES[kind]
    if not isinstance(values, dict):
        raise ValueError(f"{name_or_path} must hold a JSON object of {kind} config fields")
    chosen = {key: value for key, value in values.items() if key in options_class.field_names()}
    saved = checkpoint / TRAINING_OPTIONS_FILE if checkpoint is not None else None
    if saved is not None and saved.is_file():
        try:
            chosen = json.loads(saved.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read {saved}: {exc}; the checkpoint is damaged, use another one") from exc
    return options_class.from_dict(chosen)  # type: ignore[return-value]
