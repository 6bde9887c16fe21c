"""Configurations of the tokenizer, the latent action model and the dynamics model.

Every field has a default (the defaults are the paper's values, appendix A); :func:`get_config` returns the named
presets ``"paper"`` (for GPUs) and ``"small"`` (measured to train on a 2-core CPU, see the notes at ``PRESETS``), or
reads a JSON file. ``to_dict()`` / ``from_dict()`` round-trip through plain JSON types; ``from_dict`` rejects
unknown keys.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

ConfigT = TypeVar("ConfigT", bound="_ConfigBase")

ACTION_SOURCES: tuple[str, ...] = ("ground_truth", "latent")
CHANGED_TOKEN_WEIGHT_SCOPES: tuple[str, ...] = ("all", "after_stall")


class _ConfigBase:
    """``to_dict`` / ``from_dict`` / ``replace`` shared by the config dataclasses."""

    model_kind: ClassVar[str] = ""

    def to_dict(self) -> dict[str, Any]:
        """The config as a JSON-serialisable dict (every field; tuples as lists, as JSON reads them back)."""
        values = dataclasses.asdict(self)  # type: ignore[call-overload]
        return {key: list(value) if isinstance(value, tuple) else value for key, value in values.items()}

    @classmethod
    def from_dict(cls: type[ConfigT], values: dict[str, Any]) -> ConfigT:
        """Build the config from ``values``; missing keys take their defaults, unknown keys raise ``ValueError``."""
        if not isinstance(values, dict):
            raise ValueError(f"{cls.__name__}.from_dict expects a dict, got {type(values).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys {unknown}; valid keys are {sorted(names)}")
        return cls(**values)

    def replace(self: ConfigT, **changes: Any) -> ConfigT:
        """A copy with some fields changed (validated like a new config)."""
        return self.from_dict({**self.to_dict(), **changes})


def _check_positive(config: object, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if not value > 0:
            raise ValueError(f"{type(config).__name__}.{name} must be > 0, got {value!r}")


def _check_patch(config: TokenizerConfig | LAMConfig) -> None:
    if config.image_size % config.patch_size:
        raise ValueError(
            f"{type(config).__name__}: image_size {config.image_size} must be a multiple of "
            f"patch_size {config.patch_size}"
        )
    if config.d_model % config.num_heads:
        raise ValueError(f"{type(config).__name__}: d_model {config.d_model} must be divisible by num_heads")


@dataclass
class TokenizerConfig(_ConfigBase):
    """ST-ViViT VQ-VAE video tokenizer (paper Tab. 7).

    ``grid_size = image_size // patch_size`` tokens per side; ``dead_code_after``: a code unused for this many
    training steps is dead and gets replaced (every ``dead_code_check_every`` steps) by a recent encoder output.
    """

    model_kind: ClassVar[str] = "tokenizer"

    image_size: int = 64
    patch_size: int = 4
    d_model: int = 512
    num_heads: int = 8
    encoder_blocks: int = 8
    decoder_blocks: int = 8
    mlp_ratio: float = 4.0
    num_codes: int = 1024
    latent_dim: int = 32
    commitment: float = 0.25
    usage_ema_decay: float = 0.99
    dead_code_after: int = 200
    dead_code_check_every: int = 50

    def __post_init__(self) -> None:
        _check_positive(self, "image_size", "patch_size", "d_model", "num_heads", "encoder_blocks")
        _check_positive(self, "decoder_blocks", "num_codes", "latent_dim", "dead_code_after", "dead_code_check_every")
        _check_patch(self)

    @property
    def grid_size(self) -> int:
        """Tokens per side of a frame (``image_size // patch_size``)."""
        return self.image_size // self.patch_size


@dataclass
class LAMConfig(_ConfigBase):
    """Latent action model (paper Tab. 9): same backbone as the tokenizer, ``num_codes`` latent actions.

    ``residual_decoder``: the decoder predicts the change from frame ``t`` to ``t+1`` (added to frame ``t``) instead
    of frame ``t+1`` itself; the paper does not say, this trains much faster (the action carries the change).
    """

    model_kind: ClassVar[str] = "lam"

    image_size: int = 64
    patch_size: int = 4
    d_model: int = 512
    num_heads: int = 8
    encoder_blocks: int = 8
    decoder_blocks: int = 8
    mlp_ratio: float = 4.0
    num_codes: int = 7
    latent_dim: int = 32
    commitment: float = 0.25
    usage_ema_decay: float = 0.99
    dead_code_after: int = 200
    dead_code_check_every: int = 50
    residual_decoder: bool = True

    def __post_init__(self) -> None:
        _check_positive(self, "image_size", "patch_size", "d_model", "num_heads", "encoder_blocks")
        _check_positive(self, "decoder_blocks", "num_codes", "latent_dim", "dead_code_after", "dead_code_check_every")
        _check_patch(self)

    @property
    def grid_size(self) -> int:
        """Patches per side of a frame (``image_size // patch_size``)."""
        return self.image_size // self.patch_size


@dataclass
class DynamicsConfig(_ConfigBase):
    """MaskGIT dynamics over tokenizer ids (paper Tab. 8).

    ``num_codes`` / ``latent_dim`` / ``grid_size`` must match the tokenizer. ``action_source``:
    ``"ground_truth"`` (GenieRedux-G: an ``nn.Embedding`` of the ``num_actions`` real actions, concatenated to every
    block's input) or ``"latent"`` (GenieRedux: LAM codes, ``num_actions`` = the LAM's ``num_codes``, embedded and
    added to the token embeddings). ``token_input_skip`` adds the (projected) codebook vector of each visible token to
    its embedding. ``tdce_lambda`` weighs the token-distance term of the loss (0: plain cross-entropy).
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
    ``hold_unchanged_tokens``: the model reads and predicts ids in which a patch whose pixels did not change keeps
    the previous frame's id (:func:`genie_gym.models.tokenizer.hold_unchanged_tokens`): the trainer caches its tokens
    so, and a world model encodes real frames so before the model sees them. False: the encoder's ids as they are.
    Training-only fields (see :data:`TRAINING_ONLY_FIELDS`) can be changed when fine-tuning a trained model.
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
    maskgit_steps: int = 25
    temperature: float = 1.0
    hold_unchanged_tokens: bool = False

    def __post_init__(self) -> None:
        _check_positive(self, "num_codes", "latent_dim", "grid_size", "d_model", "num_heads", "num_blocks")
        _check_positive(self, "num_actions", "action_embed_dim", "maskgit_steps")
        if self.action_source not in ACTION_SOURCES:
            raise ValueError(
                f"DynamicsConfig.action_source must be one of {ACTION_SOURCES}, got {self.action_source!r}"
            )
        if self.d_model % self.num_heads:
            raise ValueError(f"DynamicsConfig: d_model {self.d_model} must be divisible by num_heads {self.num_heads}")
        if not 0.0 < self.mask_ratio_min <= self.mask_ratio_max <= 1.0:
            raise ValueError("DynamicsConfig needs 0 < mask_ratio_min <= mask_ratio_max <= 1")
        if self.tdce_lambda < 0 or self.temperature < 0:
            raise ValueError("DynamicsConfig.tdce_lambda and temperature must be >= 0")
        if not 0.0 <= self.visible_prefix_prob <= 1.0:
            raise ValueError(f"DynamicsConfig.visible_prefix_prob must be in [0, 1], got {self.visible_prefix_prob}")
        if self.changed_token_weight <= 0:
            raise ValueError(f"DynamicsConfig.changed_token_weight must be > 0, got {self.changed_token_weight}")
        if self.changed_token_weight_scope not in CHANGED_TOKEN_WEIGHT_SCOPES:
            raise ValueError(f"DynamicsConfig.changed_token_weight_scope must be one of {CHANGED_TOKEN_WEIGHT_SCOPES}, "
                             f"got {self.changed_token_weight_scope!r}")
        if not 0.0 <= self.context_stall_prob <= 1.0:
            raise ValueError(f"DynamicsConfig.context_stall_prob must be in [0, 1], got {self.context_stall_prob}")
        if not 0.0 <= self.context_rollout_prob <= 1.0:
            raise ValueError(f"DynamicsConfig.context_rollout_prob must be in [0, 1], got {self.context_rollout_prob}")
        if not self.context_rollout_frames >= 1:
            raise ValueError(f"DynamicsConfig.context_rollout_frames must be >= 1, got {self.context_rollout_frames}")
        self.context_stall_actions = tuple(self.context_stall_actions)  # JSON gives a list
        bad_actions = [a for a in self.context_stall_actions
                       if isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < self.num_actions]
        if bad_actions:
            raise ValueError(f"DynamicsConfig.context_stall_actions must hold action ids in [0, {self.num_actions}), "
                             f"got {list(self.context_stall_actions)}")
        if self.changed_token_weight_scope == "after_stall" and self.changed_token_weight != 1.0 \
                and self.context_stall_prob == 0.0:
            raise ValueError("DynamicsConfig.changed_token_weight_scope 'after_stall' needs context_stall_prob > 0 "
                             "(without stalled frames the weight never applies)")


TRAINING_ONLY_FIELDS: dict[str, frozenset[str]] = {
    "dynamics": frozenset(
        {"tdce_lambda", "mask_ratio_min", "mask_ratio_max", "visible_prefix_prob", "changed_token_weight",
         "changed_token_weight_scope", "context_stall_prob", "context_stall_actions", "context_rollout_prob",
         "context_rollout_frames", "maskgit_steps", "temperature", "hold_unchanged_tokens"}
    ),
}
"""Config fields that change how a model trains or samples, not its weights: ``genie train --set`` may change them."""

CONFIG_CLASSES: dict[str, type[_ConfigBase]] = {
    "tokenizer": TokenizerConfig,
    "lam": LAMConfig,
    "dynamics": DynamicsConfig,
}

# Presets. "paper": appendix A (tokenizer 67.6M, LAM 67.6M, dynamics 55.0M parameters in this implementation).
# "small": chosen by measurement on the 2-core CPU (torch 2.13, 1 thread per run, fwd + bwd + AdamW, batches of
# 4 x 8-frame clips of real SMB), and it is the shape of the shipped SMB world model (checkpoints/genie-redux-g-smb).
# - Tokenizer: patch 4 as in the paper (16 x 16 tokens), d128, 3+3 blocks (1.66M, ~10 training frames/s): 28.5 dB
#   after 750 steps (52 min), 37.6 dB held-out after 3,000 more decoder-only steps (~2.6 h), 39.7 dB after 3,000
#   more on deeper-level frames (~40 min on 2 threads). A patch-8 d128 2+4 model (64 tokens, ~4x the frames/s)
#   reached 20.9 dB after 5 min but was not trained longer; at equal wall time a d256 4+4 patch-8 model (8.6M)
#   stayed far behind it (14.1 dB after 5 min), so width was kept at 128.
# - Dynamics over that 16 x 16 grid: d128, 4 heads, 4 blocks (1.42M, ~11-12 training frames/s); the shipped dream
#   is this shape after 2.7k steps (~2.3 h of one core).
# - LAM: patch 8, d128, 2+4 blocks (1.69M, ~57 frames/s); latent actions unused for 25 steps are replaced (the
#   paper's 200 steps would leave a CPU run with a collapsed action codebook for its first ~20 minutes).
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
    "dead_code_after": 25,
    "dead_code_check_every": 25,
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


def config_class(kind: str) -> type[_ConfigBase]:
    """The config dataclass for ``kind`` (``"tokenizer"``, ``"lam"`` or ``"dynamics"``)."""
    try:
        return CONFIG_CLASSES[kind]
    except KeyError:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {sorted(CONFIG_CLASSES)}") from None


def get_config(kind: str, name_or_path: str | Path = "small") -> TokenizerConfig | LAMConfig | DynamicsConfig:
    """The config of ``kind`` named ``"small"`` / ``"paper"``, or read from a JSON file.

    The JSON file holds either the config's fields or a checkpoint's ``config.json`` (``{"model_kind", "config"}``,
    whose kind must match).
    """
    cls = config_class(kind)
    name = str(name_or_path)
    if name in PRESETS:
        return cls.from_dict(dict(PRESETS[name][kind]))  # type: ignore[return-value]
    path = Path(name)
    if not path.is_file():
        raise ValueError(f"no {kind} config named {name!r}: use one of {sorted(PRESETS)} or the path of a JSON file")
    try:
        values = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {kind} config JSON {path}: {exc}") from exc
    if isinstance(values, dict) and "model_kind" in values and "config" in values:
        if values["model_kind"] != kind:
            raise ValueError(f"{path} holds a {values['model_kind']} config, expected a {kind} config")
        values = values["config"]
    return cls.from_dict(values)  # type: ignore[return-value]
