"""The base of the video tokenizer and the latent action model (:class:`FrameModel`), which share a backbone
(:class:`~genie_gym.models.configs.FrameModelConfig`): an ST-transformer encoder of frame patches down to
``latent_dim`` vectors, a cosine VQ, and an ST-transformer decoder back to patches.
"""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar, cast

from torch import nn

from genie_gym.models.checkpoint_io import PretrainedMixin
from genie_gym.models.configs import FrameModelConfig
from genie_gym.models.quantizer import QuantizerTrainingMixin
from genie_gym.models.st_transformer import STTransformer

FrameConfigT = TypeVar("FrameConfigT", bound=FrameModelConfig)


class FrameModel(PretrainedMixin, QuantizerTrainingMixin, nn.Module, Generic[FrameConfigT]):
    """A model over the backbone of its ``config``, a ``config_class`` (default: that class's defaults, the
    paper's). A subclass builds its layers in its ``__init__``, the backbone's with
    :meth:`new_encoder` / :meth:`new_decoder`, in the order of its saved weights (which also fixes the initial
    weights that a seed gives), and takes ``training_options``: how its quantizer trains (default:
    :class:`~genie_gym.models.configs.FrameTrainingOptions`' defaults); the trainer sets the run's. They are not saved
    with the weights.
    """

    config_class: ClassVar[type[FrameModelConfig]]  # the class of FrameConfigT (a ClassVar cannot name a TypeVar)

    def __init__(self, config: FrameConfigT | None = None) -> None:
        super().__init__()
        self.config: FrameConfigT = config if config is not None else cast(FrameConfigT, self.config_class())

    @property
    def patch_dim(self) -> int:
        """Values in one RGB patch: ``patch_size * patch_size * 3``."""
        return self.config.patch_size * self.config.patch_size * 3

    def new_encoder(self) -> tuple[nn.Linear, STTransformer, nn.Linear]:
        """New encoder layers, created in this order: the embedding of a patch, the ST transformer of
        ``encoder_blocks`` blocks, the projection to ``latent_dim``."""
        c = self.config
        embed = nn.Linear(self.patch_dim, c.d_model)
        encoder = STTransformer(c.d_model, c.encoder_blocks, c.num_heads, c.mlp_ratio)
        return embed, encoder, nn.Linear(c.d_model, c.latent_dim)

    def new_decoder(self) -> tuple[STTransformer, nn.Linear]:
        """New decoder layers, created in this order: the ST transformer of ``decoder_blocks`` blocks, the
        projection of its outputs to patches."""
        c = self.config
        decoder = STTransformer(c.d_model, c.decoder_blocks, c.num_heads, c.mlp_ratio)
        return decoder, nn.Linear(c.d_model, self.patch_dim)
