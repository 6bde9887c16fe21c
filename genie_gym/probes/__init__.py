"""Behaviour probes of a world model against the real game: what the dream does, not how fast it runs.

Each probe is a module with its settings (a dataclass whose fields are its command-line options,
:mod:`genie_gym.options`) and its report (``run``), run as ``genie probe NAME`` (``genie probe --help`` lists them):

- ``control`` (:mod:`genie_gym.probes.control`): does the dream answer held actions, does Mario walk, jump, stop;
- ``hold-from-start`` (:mod:`genie_gym.probes.hold_from_start`): how far the camera goes from the reset;
- ``long-dream`` (:mod:`genie_gym.probes.long_dream`): does a long dream keep going forward;
- ``lam`` (:mod:`genie_gym.probes.lam`): does a latent action model carry the change to the next frame;
- ``hold-action`` (:mod:`genie_gym.probes.hold_action`): does Mario stay through 300 steps of one key.

The probes that dream (all but ``lam``) set the dream only through ``--set KEY=VALUE``, any ``dream.json`` key the
probe can change, the sampling ones included (:func:`dream_overrides_option`); a probe may keep its own default for
a key (``control``: 1 MaskGIT step) unless ``--set`` names it.

Speed and scale measurements stay in ``benchmarks/``, quality evaluations in ``evals/``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

from genie_gym.models.configs import DreamSettings
from genie_gym.options import option
from genie_gym.world_model import DREAM_DEFAULTS, WorldModel

_KINDS: dict[str, str] = {"game": "str", "context_window": "int", "decode_window": "int", "dreams_per_pass": "int",
                          **{field.name: field.type for field in dataclasses.fields(DreamSettings)}}
"""The kind of value each ``dream.json`` key takes (its ints are >= 1, or as :class:`DreamSettings` checks them)."""
_NULLABLE = ("dreams_per_pass",)
# JSON reads true / 1 / 1.0 as bool / int / float; Python's bool is an int, so it is told apart first
_KIND_CHECKS: dict[str, tuple[str, Callable[[object], bool]]] = {
    "int": ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "float": ("a number", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "str": ("text", lambda v: isinstance(v, str)),
}


def dream_overrides_option(defaults: Mapping[str, object] | None = None) -> Any:
    """The ``--set KEY=VALUE`` field (repeatable) of a probe's settings: a ``dream.json`` key of the probed world
    model, overridden for this run; :func:`parse_dream_overrides` reads and checks it. ``defaults``: the probe's own
    overrides where the user sets none of that key (only named in the help here; the settings apply them)."""
    own = " ".join(f"--set {key}={json.dumps(value)}" for key, value in (defaults or {}).items())
    own = f"; this probe's default: {own}" if own else ""
    return option(default_factory=list, flag="--set", action="append", metavar="KEY=VALUE",
                  help="override a dream.json setting for this run, e.g. --set maskgit_steps=1 --set "
                       "change_temperature=1 --set context_window=8 (repeatable; VALUE is read as JSON, else as "
                       f"text{own})")


def parse_dream_overrides(items: list[str], fixed: Collection[str] = ()) -> dict[str, object]:
    """``--set`` items as ``{key: value}`` (VALUE read as JSON, else as text), each checked before any model loads:
    ``ValueError`` for a key that is not a ``dream.json`` key or is one of the probe's ``fixed`` keys (naming those it
    takes), or a value its setting refuses."""
    keys = [key for key in DREAM_DEFAULTS if key not in fixed]
    overrides: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or key not in keys:
            fixed_here = f" ({key} is fixed in this probe)" if sep and key in fixed else ""
            raise ValueError(f"--set takes KEY=VALUE with KEY one of {', '.join(keys)}; got {item!r}{fixed_here}")
        try:
            overrides[key] = json.loads(text)
        except json.JSONDecodeError:
            overrides[key] = text
        _check_value(item, key, overrides[key])
    return overrides


def _check_value(item: str, key: str, value: object) -> None:
    """``ValueError`` naming the ``--set`` ``item`` when ``value`` is not of the kind the ``dream.json`` key ``key``
    takes, or out of its range."""
    kind = _KINDS.get(key)
    if kind is None or (key in _NULLABLE and value is None):
        return
    description, fits = _KIND_CHECKS[kind]
    if not fits(value):
        raise ValueError(f"--set {item}: {key} takes {description}, got {value!r}")
    try:
        if key in DreamSettings.names():
            DreamSettings(**{key: value})
        elif kind == "int" and value < 1:
            raise ValueError(f"{key} must be >= 1, got {value}")
    except ValueError as error:
        raise ValueError(f"--set {item}: {error}") from None


def apply_dream_overrides(world_model: WorldModel, overrides: dict[str, object]) -> None:
    """Apply ``--set`` overrides (:func:`parse_dream_overrides`) to ``world_model.settings``, checked again as the
    dream checks them, now with the world model's own settings."""
    world_model.settings.update(overrides)
    world_model.dream_settings()
