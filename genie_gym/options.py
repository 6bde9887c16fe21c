"""Command-line options declared on the settings dataclasses they set: one declaration (default, help, flag) per
option, from which the ``argparse`` options are built and the parsed arguments are turned back into settings.

    @dataclass
    class Settings:
        steps: int = option(10000, "optimizer steps of the whole run (default %(default)s)")
        betas: tuple[float, float] = (0.9, 0.99)  # a field without option() is a setting, not a command-line option

Rules: the parsed value is stored under the field's name unless ``dest=`` names another (kept as saved run
arguments use it), and the flag is that name with dashes unless ``flag=`` names another; a field without a default is
a required option (``positional=True``: a positional argument); a ``bool`` is a switch: ``--name`` for a ``False``
default, ``--no-name`` (stored as ``no_name``; the field gets its negation) for a ``True`` one; a ``bool | None``
defaulting to ``None`` is both, ``--name`` / ``--no-name`` (``None`` when neither is given); ``X | None`` takes an
``X``; ``list[X]`` takes ``nargs="+"`` unless ``action="append"`` is given (the option is then repeatable), and so
does ``tuple[X, ...]`` (the field gets a tuple). Other keywords go to ``add_argument``.

A command that offers some of another's options, some with its own default or flag, takes them with ``add_options(...,
only=NAMES)`` from a subclass whose fields redeclare those with :func:`override` (the help is kept unless given).

The options the user typed are recorded (:func:`given_options`), so ``--resume`` can tell ``--lr 1e-4`` typed
explicitly from an omitted ``--lr`` that defaults to the same value.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Collection, Iterator
from typing import Any

_METADATA_KEY = "genie_gym.option"
GIVEN_ATTRIBUTE = "_given_options"
"""Namespace attribute holding the destinations of the options typed on the command line."""


def option(
    default: Any = dataclasses.MISSING,
    help: str = "",  # noqa: A002 - the argparse name
    *,
    default_factory: Any = dataclasses.MISSING,
    flag: str | None = None,
    dest: str | None = None,
    positional: bool = False,
    per_invocation: bool = False,
    **argparse_kwargs: Any,
) -> Any:
    """A dataclass field that is also a command-line option (see the module docstring).

    ``per_invocation``: the option describes one invocation, not the run (``--threads``, ``--stop-at``): a resumed
    run never takes it from the saved arguments.
    """
    metadata = {"help": help, "flag": flag, "dest": dest, "positional": positional, "per_invocation": per_invocation,
                "argparse": argparse_kwargs}
    return dataclasses.field(default=default, default_factory=default_factory, metadata={_METADATA_KEY: metadata})


@dataclasses.dataclass(frozen=True)
class _Option:
    field: dataclasses.Field
    hint: Any
    dest: str
    names: tuple[str, ...]
    negated: bool
    tri_state: bool
    per_invocation: bool

    @property
    def metadata(self) -> dict[str, Any]:
        return self.field.metadata[_METADATA_KEY]

    def default(self) -> Any:
        """The parsed value when the option is not given (``MISSING`` for a required one)."""
        if self.negated:
            return False
        if self.field.default is not dataclasses.MISSING:
            return self.field.default
        if self.field.default_factory is not dataclasses.MISSING:
            return self.field.default_factory()
        return dataclasses.MISSING


def _strip_optional(hint: Any) -> Any:
    """``X | None`` -> ``X``."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


def _sequence_item(hint: Any) -> Any:
    """``X`` of ``list[X]`` or ``tuple[X, ...]``; None for any other type."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list or (origin is tuple and len(args) == 2 and args[1] is Ellipsis):
        return args[0]
    return None


def _options(settings_class: type) -> Iterator[_Option]:
    hints = typing.get_type_hints(settings_class)
    for field in dataclasses.fields(settings_class):
        metadata = field.metadata.get(_METADATA_KEY)
        if metadata is None:
            continue
        hint = _strip_optional(hints[field.name])
        negated = hint is bool and field.default is True
        tri_state = hint is bool and field.default is None
        dest = metadata["dest"] or ("no_" + field.name if negated else field.name)
        flag = metadata["flag"] or "--" + dest.replace("_", "-")
        if negated and not flag.startswith("--no-"):
            raise TypeError(f"{settings_class.__name__}.{field.name} defaults to True: its switch must be --no-...")
        names = (dest,) if metadata["positional"] else (flag,)
        yield _Option(field, hint, dest, names, negated, tri_state, metadata["per_invocation"])


def override(settings_class: type, name: str, default: Any = dataclasses.MISSING, **changes: Any) -> Any:
    """The :func:`option` field ``name`` of ``settings_class`` again, with ``default`` and ``changes`` (any of
    :func:`option`'s keywords) in place of its own: a subclass's field that offers the same option otherwise."""
    field = settings_class.__dataclass_fields__[name]
    declared = dict(field.metadata[_METADATA_KEY])
    keywords = {**declared.pop("argparse"), **declared, **changes}
    if default is dataclasses.MISSING and "default_factory" not in changes:
        default, keywords["default_factory"] = field.default, field.default_factory
    return option(default, **keywords)


class _RecordedAction(argparse.Action):
    """``store``, ``store_true`` (``switch``) or ``append``, which also records that the option was typed."""

    def __init__(self, option_strings: list[str], dest: str, mode: str = "store", **kwargs: Any) -> None:
        if mode == "switch":
            kwargs.update(nargs=0, const=True)
        super().__init__(option_strings, dest, **kwargs)
        self.mode = mode

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        if self.mode == "switch":
            values = self.const
        elif self.mode == "append":
            values = [*(getattr(namespace, self.dest, None) or []), values]
        setattr(namespace, self.dest, values)
        _record(namespace, self.dest)


class _RecordedBooleanOptionalAction(argparse.BooleanOptionalAction):
    """``--name`` / ``--no-name`` (``True`` / ``False``, ``None`` when neither is given), which also records that the
    option was typed."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        super().__call__(parser, namespace, values, option_string)
        _record(namespace, self.dest)


def _record(namespace: argparse.Namespace, dest: str) -> None:
    """Note in ``namespace`` that the option stored under ``dest`` was typed."""
    setattr(namespace, GIVEN_ATTRIBUTE, getattr(namespace, GIVEN_ATTRIBUTE, frozenset()) | {dest})


def add_options(parser: argparse.ArgumentParser, settings_class: type, title: str | None = None,
                only: Collection[str] | None = None) -> None:
    """Add an option for every :func:`option` field of ``settings_class`` (in a help section ``title``), or for
    those named in ``only``."""
    target = parser.add_argument_group(title) if title else parser
    parser.set_defaults(**{GIVEN_ATTRIBUTE: frozenset()})
    options = list(_options(settings_class))
    unknown = set(only or ()) - {opt.field.name for opt in options}
    if unknown:
        raise ValueError(f"{settings_class.__name__} has no option {', '.join(sorted(unknown))}")
    for opt in options:
        if only is not None and opt.field.name not in only:
            continue
        kwargs: dict[str, Any] = {"help": opt.metadata["help"], **opt.metadata["argparse"]}
        action: type[argparse.Action] = _RecordedAction
        if opt.tri_state:
            action = _RecordedBooleanOptionalAction
        elif opt.hint is bool:
            kwargs["mode"] = "switch"
        elif (item := _sequence_item(opt.hint)) is not None:
            if kwargs.pop("action", None) == "append":
                kwargs["mode"] = "append"
            else:
                kwargs.setdefault("nargs", "+")
            if item is not str:
                kwargs.setdefault("type", item)
        elif opt.hint is not str:
            kwargs.setdefault("type", opt.hint)
        default = opt.default()
        if default is dataclasses.MISSING:
            if not opt.metadata["positional"]:
                kwargs["required"] = True
        else:
            kwargs["default"] = default
        if not opt.metadata["positional"]:
            kwargs["dest"] = opt.dest
        target.add_argument(*opt.names, action=action, **kwargs)


def add_subcommand(actions: argparse._SubParsersAction, name: str, settings_class: type,
                   func: Callable[[argparse.Namespace], int], **parser_args: Any) -> argparse.ArgumentParser:
    """Add the subcommand ``name`` to ``actions`` (``parser_args``: ``help``, ``description``, ... of its parser): the
    options of ``settings_class``, run by ``func``. Returns its parser."""
    parser = actions.add_parser(name, **parser_args)
    add_options(parser, settings_class)
    parser.set_defaults(func=func)
    return parser


def from_args(settings_class: type, args: argparse.Namespace, **values: Any) -> Any:
    """``settings_class`` built from parsed ``args`` (every field whose option or name is in ``args``) and
    ``values``; the settings check themselves when they are built."""
    options = {opt.field.name: opt for opt in _options(settings_class)}
    for field in dataclasses.fields(settings_class):
        opt = options.get(field.name)
        dest = opt.dest if opt is not None else field.name
        if field.init and field.name not in values and hasattr(args, dest):
            value = getattr(args, dest)
            if opt is not None and opt.negated:
                value = not value
            elif opt is not None and typing.get_origin(opt.hint) is tuple and value is not None:
                value = tuple(value)
            values[field.name] = value
    return settings_class(**values)


def option_defaults(*settings_classes: type) -> dict[str, Any]:
    """``dest -> value when not given`` of every option of ``settings_classes`` (required ones excluded)."""
    return {opt.dest: opt.default() for cls in settings_classes for opt in _options(cls)
            if opt.default() is not dataclasses.MISSING}


def per_invocation_options(*settings_classes: type) -> frozenset[str]:
    """The destinations of the ``per_invocation`` options of ``settings_classes``."""
    return frozenset(opt.dest for cls in settings_classes for opt in _options(cls) if opt.per_invocation)


def given_options(args: argparse.Namespace, *settings_classes: type) -> frozenset[str]:
    """The options typed on the command line that parsed ``args``; for a namespace built by hand, those whose value
    differs from the default."""
    if hasattr(args, GIVEN_ATTRIBUTE):
        return frozenset(getattr(args, GIVEN_ATTRIBUTE))
    defaults = option_defaults(*settings_classes)
    return frozenset(dest for dest, default in defaults.items() if getattr(args, dest, default) != default)
