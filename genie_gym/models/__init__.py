"""GenieRedux / GenieRedux-G models: video tokenizer, latent action model, MaskGIT dynamics, and their I/O.

Example::

    >>> from genie_gym.models import Dynamics, VideoTokenizer, get_config
    >>> tokenizer = VideoTokenizer(get_config("tokenizer", "small"))
    >>> dynamics = Dynamics(get_config("dynamics", "small"), codebook=tokenizer.codebook_vectors().detach())
"""

# Importing the model modules here registers their kinds with checkpoint_io (load_pretrained builds them by kind).
from genie_gym.models.checkpoint_io import CheckpointError, load_pretrained, read_checkpoint_config, save_pretrained
from genie_gym.models.configs import DynamicsConfig, LAMConfig, TokenizerConfig, config_class, get_config
from genie_gym.models.dynamics import Dynamics
from genie_gym.models.image_ops import float_to_frames, frames_to_float
from genie_gym.models.lam import LatentActionModel
from genie_gym.models.maskgit import DynamicsStream, GenerationResult
from genie_gym.models.st_transformer import STTransformer, count_parameters
from genie_gym.models.tdce import tdce_loss, token_distance_table
from genie_gym.models.tokenizer import Tokenizer, VideoTokenizer
from genie_gym.models.upscaler import Upscaler, UpscalerConfig

__all__ = [
    "CheckpointError",
    "Dynamics",
    "DynamicsConfig",
    "DynamicsStream",
    "GenerationResult",
    "LAMConfig",
    "LatentActionModel",
    "STTransformer",
    "Tokenizer",
    "TokenizerConfig",
    "Upscaler",
    "UpscalerConfig",
    "VideoTokenizer",
    "config_class",
    "count_parameters",
    "float_to_frames",
    "frames_to_float",
    "get_config",
    "load_pretrained",
    "read_checkpoint_config",
    "save_pretrained",
    "tdce_loss",
    "token_distance_table",
]
