"""Behaviour probes of a world model against the real game: what the dream does, not how fast it runs.

Each probe is a module with its options (``add_arguments``) and its report (``run``), run as ``genie probe NAME``
(``genie probe --help`` lists them):

- ``control`` (:mod:`genie_gym.probes.control`): does the dream answer held actions, does Mario walk, jump, stop;
- ``hold-from-start`` (:mod:`genie_gym.probes.hold_from_start`): how far the camera goes from the reset;
- ``long-dream`` (:mod:`genie_gym.probes.long_dream`): does a long dream keep going forward;
- ``lam`` (:mod:`genie_gym.probes.lam`): does a latent action model carry the change to the next frame;
- ``hold-action`` (:mod:`genie_gym.probes.hold_action`): does Mario stay through 300 steps of one key.

The probes of a packed world model take ``--set KEY=VALUE`` to try another dream setting (:func:`add_dream_overrides`).

Speed and scale measurements stay in ``benchmarks/``.
"""

from __future__ import annotations

import argparse
import json

from genie_gym.world_model import DREAM_DEFAULTS, WorldModel


def add_dream_overrides(parser: argparse.ArgumentParser) -> None:
    """``--set KEY=VALUE`` (repeatable): a ``dream.json`` key of the probed world model, overridden for this run."""
    parser.add_argument("--set", dest="dream_overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a dream.json setting for this run, e.g. --set change_temperature=1 "
                             "--set context_window=8 (repeatable; VALUE is read as JSON, else as text)")


def apply_dream_overrides(world_model: WorldModel, overrides: list[str]) -> dict[str, object]:
    """Apply ``--set`` overrides to ``world_model.settings`` (checked as the dream checks them); returns them."""
    applied: dict[str, object] = {}
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or key not in DREAM_DEFAULTS:
            raise ValueError(f"--set takes KEY=VALUE with KEY one of {', '.join(DREAM_DEFAULTS)}; got {item!r}")
        try:
            applied[key] = json.loads(text)
        except json.JSONDecodeError:
            applied[key] = text
    world_model.settings.update(applied)
    world_model.dream_settings()  # a bad value fails here, before any game runs
    return applied
