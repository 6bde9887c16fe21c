"""The ``genie`` command line.

Library commands (``roms``, ``data``, ...) are defined in ``genie_gym``. Commands that live in the ``agents`` and
``trainers`` packages (``collect``, ``train``, ...) plug in through the ``genie_gym.commands`` entry-point group, so
``genie_gym`` never imports them directly. A plug-in is a function ``register(subparsers)`` that adds its
sub-parser and sets ``func`` on it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from types import ModuleType

from genie_gym.allocator import keep_freed_memory

CommandRegistrar = Callable[[argparse._SubParsersAction], None]
LIBRARY_COMMANDS: list[str] = [
    "genie_gym.commands.roms_command",
    "genie_gym.commands.data_command",
    "genie_gym.commands.annotate_command",
    "genie_gym.commands.play_command",
    "genie_gym.commands.eval_command",
    "genie_gym.commands.world_model_command",
    "genie_gym.commands.probe_command",
]
# The plug-ins of this repository, used when they are importable but not installed as entry points (a source
# checkout on PYTHONPATH, e.g. `python -m genie_gym.trainers` on a machine where the package is not pip-installed).
BUNDLED_PLUGINS: dict[str, str] = {"collect": "genie_gym.agents.collect_command",
                                   "explore": "genie_gym.agents.explore_settings", "train": "genie_gym.trainers.cli"}


def _missing(module_name: str, exc: ModuleNotFoundError) -> bool:
    """True when ``exc`` says ``module_name`` itself (or a package above it) is absent, not one of its imports."""
    return exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + "."))


def _import_command_module(module_name: str) -> ModuleType | None:
    """The module that registers a command, or None when it is not part of this install."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if not _missing(module_name, exc):
            raise
        return None


def build_parser() -> argparse.ArgumentParser:
    """The full ``genie`` parser with library commands and every installed plug-in command."""
    parser = argparse.ArgumentParser(prog="genie", description="genie-gym: world models of retro games as Gym envs")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in LIBRARY_COMMANDS:
        module = _import_command_module(module_name)
        if module is not None:
            module.register(subparsers)
    registered: set[str] = set()
    for entry in sorted(entry_points(group="genie_gym.commands"), key=lambda e: e.name):
        try:
            registrar: CommandRegistrar = entry.load()
        except ModuleNotFoundError as exc:  # a plug-in package that is not importable in this install
            if not _missing(entry.value.split(":")[0], exc):
                raise
            continue
        registrar(subparsers)
        registered.add(entry.name)
    for name, module_name in BUNDLED_PLUGINS.items():
        module = None if name in registered else _import_command_module(module_name)
        if module is not None:
            module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``genie`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    keep_freed_memory()  # large tensors reuse freed heap memory (genie_gym.allocator; GENIE_GYM_MALLOC=system: off)
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError, RuntimeError, KeyError) as exc:
        if getattr(args, "debug", False):
            raise
        print(f"genie {args.command}: error: {exc}", file=sys.stderr)
        return 1
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
