"""``genie probe NAME``: the behaviour probes of :mod:`genie_gym.probes`, one sub-command each."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import torch

from genie_gym.options import add_options, from_args, option
from genie_gym.probes import control, hold_action, hold_from_start, lam, long_dream

PROBES: dict[str, tuple[ModuleType, type]] = {
    "control": (control, control.ControlSettings),
    "hold-from-start": (hold_from_start, hold_from_start.HoldFromStartSettings),
    "long-dream": (long_dream, long_dream.LongDreamSettings),
    "hold-action": (hold_action, hold_action.HoldActionSettings),
    "lam": (lam, lam.LamSettings),
}
"""Each probe's name, module (its ``run(args)``) and settings (its options)."""


@dataclass(kw_only=True)
class ProbeInvocation:
    """The options every probe takes, about this invocation rather than the probe."""

    threads: int | None = option(None, "torch CPU threads (default: torch's)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie probe`` and its probes to the command line."""
    parser = subparsers.add_parser(
        "probe", help="behaviour probes of a world model against the real game",
        description="What a world model does against the real game (speed and scale: benchmarks/; quality "
                    "scores: genie eval, evals/); `genie probe NAME --help` says what each probe measures and prints.")
    probes = parser.add_subparsers(dest="probe", metavar="NAME", required=True)
    for name, (module, settings) in PROBES.items():
        probe = probes.add_parser(name, help=module.__doc__.split("\n", 1)[0], description=module.__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        add_options(probe, settings)
        add_options(probe, ProbeInvocation)
        probe.set_defaults(func=_with_threads(module.run))


def _with_threads(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``run`` after setting torch's thread count to ``--threads`` (when given)."""

    def run_probe(args: argparse.Namespace) -> int:
        threads = from_args(ProbeInvocation, args).threads
        if threads:
            torch.set_num_threads(threads)
        return run(args)

    return run_probe
