"""The dream's sampling settings as command-line options, declared here once for every command that samples
(``genie play``, ``genie eval``, ``genie explore``).

The settings themselves are :class:`~genie_gym.models.configs.DreamSettings`' (``context_frames`` aside), resolved
as a dream resolves them: the option given, else the world model's ``dream.json``, else ``DreamSettings``' default.
A command takes the options it offers field by field, ``maskgit_steps: int | None = sampling_option("maskgit_steps")``
(:func:`sampling_option`), and hands on what was given with :func:`given_sampling`.

No torch here (``genie_gym.models`` imports it): the commands' modules import this one to build ``genie``'s parser.
"""

from __future__ import annotations

from typing import Any

from genie_gym.options import option

FROM_DREAM_JSON = "the checkpoint's dream.json"
"""What a sampling option left unset takes."""

_HELP = {
    "maskgit_steps": "MaskGIT steps per decode: a dreamed frame, or the frames predicted together (default: "
                     "{default}); 1 or 2 dream in about real time on a 2-core CPU",
    "temperature": "sampling temperature (default: {default}, else 1)",
    "action_guidance": "action-guidance weight, 0 = none (default: {default}; off for the shipped SMB model); 1 makes "
                       "the dreamed Mario answer RIGHT more reliably, 2.3x slower",
    "hold_pixels": "copy the pixels of patches whose predicted id repeats the previous frame's (default: {default})",
    "hold_tolerance": "with hold_pixels, also keep the pixels of patches decoded within this many levels (0-255) of "
                      "the previous frame's: near-duplicate ids, 0 = repeated ids only (default: {default})",
    "hold_bias": "log-probability bonus of each patch's previous id while sampling, 0 = none (default: {default})",
    "change_temperature": "temperature of each patch's draw between keeping its previous id and changing, 0 = off, 1 = "
                          "the model's own odds (default: {default}; off for the shipped SMB model); 0.1 keeps a long "
                          "dream scrolling, less exact over a few frames",
}
"""Each sampling option's help, ``{default}`` standing for what its default is."""
_METAVARS = {"action_guidance": "W", "change_temperature": "C"}

SAMPLING_NAMES: tuple[str, ...] = tuple(_HELP)
"""The sampling settings offered as options: ``DreamSettings.names()`` but ``context_frames``, in their order."""


def sampling_option(name: str, default: Any = None, default_help: str = FROM_DREAM_JSON) -> Any:
    """The :func:`~genie_gym.options.option` field of the sampling setting ``name``; where a command's default is not
    ``dream.json``'s, ``default`` and ``default_help``, the words that say what it is (``%(default)s``: the value)."""
    if name not in _HELP:
        raise ValueError(f"unknown sampling setting {name!r}: the settings are {', '.join(SAMPLING_NAMES)}")
    metavar = {"metavar": _METAVARS[name]} if name in _METAVARS else {}
    return option(default, _HELP[name].format(default=default_help), **metavar)


def given_sampling(settings: Any) -> dict[str, Any]:
    """The sampling settings of ``settings`` (a command's settings object) that are set, by ``DreamSettings`` name:
    the arguments that override a world model's ``dream.json`` (``DreamSettings.resolve``,
    ``WorldModel.dream_settings``, the dream envs' keywords)."""
    return {name: value for name in SAMPLING_NAMES if (value := getattr(settings, name, None)) is not None}
