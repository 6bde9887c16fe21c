"""``genie probe NAME``: the behaviour probes of :mod:`genie_gym.probes`, one sub-command each."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from types import ModuleType

import torch

from genie_gym.probes import control, hold_action, hold_from_start, lam, long_dream

PROBES: dict[str, ModuleType] = {"control": control, "hold-from-start": hold_from_start, "long-dream": long_dream,
                                 "hold-action": hold_action, "lam": lam}


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie probe`` and its probes to the command line."""
    parser = subparsers.add_parser(
        "probe", help="behaviour probes of a world model against the real game",
        description="What a world model does against the real game (speed and scale: benchmarks/); "
                    "`genie probe NAME --help` says what each probe measures and prints.")
    probes = parser.add_subparsers(dest="probe", metavar="NAME", required=True)
    for name, module in PROBES.items():
        probe = probes.add_parser(name, help=module.__doc__.split("\n", 1)[0], description=module.__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(probe)
        probe.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
        probe.set_defaults(func=_with_threads(module.run))


def _with_threads(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """``run`` after setting torch's thread count to ``--threads`` (when given)."""

    def run_probe(args: argparse.Namespace) -> int:
        if args.threads:
            torch.set_num_threads(args.threads)
        return run(args)

    return run_probe
