"""The RetroAct-style annotation table shipped with the package (``annotations.csv``), plus the labels a user imported.

One row per game stable-retro has an integration for (about 1,000): its short name (``SMB``; for rows added from
stable-retro's list, the stable-retro name without ``-v0``, e.g. ``SuperMarioWorld-Snes``), stable-retro name,
platform, the RetroAct labels (camera ``view``, control ``axis``, and ``genre``, the paper's "motion style"; plus
``motion_style``, a finer label of what moves how), the groups it belongs to (``;``-separated, e.g. ``platformers``),
for each of the 5 shared actions (RIGHT, LEFT, UP, DOWN, JUMP) the emulator buttons it presses (``+``-separated, e.g.
``RIGHT+B``), whether the row was checked by eye on per-action clips (``verified``: ``yes``/``no``, see
``genie annotate clips``) and notes on what each action really does in that game (e.g. "JUMP fires").

- A verified row was checked on clips of the real game: its buttons, labels and groups are what was seen.
- An unverified row has the platform's convention button map (:data:`PLATFORM_JUMP`: JUMP is A on NES / Game Boy, B on
  SNES, C on Genesis, the fire button on Atari 2600, button 1 on Master System; RIGHT/LEFT/UP/DOWN the d-pad) and no
  labels until some are imported (``genie annotate import FILE.csv``, a RetroAct label file: :func:`import_labels`);
  its groups are derived from its genre label (:data:`GENRE_GROUPS`).

Imported labels live in ``$GENIE_GYM_HOME/labels.csv`` (:func:`user_labels_path`), never in the package: they apply to
unverified rows only (a verified row keeps the labels that were checked).
"""

from __future__ import annotations

import csv
import difflib
import io
import os
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from genie_gym.conventions import ACTION_NAMES

# genie_gym.roms is imported inside the functions that use it: it imports this module (circular).

ANNOTATION_FILE = "annotations.csv"
USER_LABELS_FILE = "labels.csv"
ALL_GROUP = "all"
VERIFIED_GROUP = "verified"  # pseudo groups: the rows checked on clips / not yet checked
UNVERIFIED_GROUP = "unverified"
PSEUDO_GROUPS = (ALL_GROUP, VERIFIED_GROUP, UNVERIFIED_GROUP)

# --- conventions and vocabularies ---------------------------------------------------------------------------------

DPAD: tuple[str, ...] = ("RIGHT", "LEFT", "UP", "DOWN")
# the button JUMP presses on each platform by convention (docs/DESIGN.md §3.2); stable-retro's core metadata
# (stable_retro.data.EMU_INFO[core]["buttons"]) names them. Master System / Game Gear "button 1" is the core's B;
# an FBNeo arcade game's button 1 is B too.
PLATFORM_JUMP: dict[str, str] = {
    "Nes": "A", "GameBoy": "A", "GbColor": "A", "GbAdvance": "A", "N64": "A",
    "Snes": "B",
    "Genesis": "C", "32x": "C", "SCD": "C", "Saturn": "C",
    "Atari2600": "BUTTON",
    "Sms": "B", "GameGear": "B",
    "Arcade": "B", "FBNeo": "B",
    "PCEngine": "I",
}
# the platform part of a stable-retro game name -> the key of its core in stable_retro.data.EMU_INFO
PLATFORM_CORE: dict[str, str] = {"Arcade": "FBNeo"}

VIEWS: tuple[str, ...] = ("side", "top-down", "isometric", "behind", "third-person", "first-person", "multi")
AXES: tuple[str, ...] = ("horizontal", "vertical", "free", "fixed", "tube")
# genre label (RetroAct's motion style) -> the group it puts an unverified game in
GENRE_GROUPS: dict[str, str] = {
    "platformer": "platformers",
    "flying-platformer": "flying-platformers",
    "shooter": "shooters",
    "space-shooter": "shooters",
    "maze": "maze",
    "grid": "grid",
    "fighting": "fighting",
    "sports": "sports",
    "racing": "racing",
    "pinball": "pinball",
    "paddle": "paddle",
    "falling-blocks": "puzzle",
    "simulation": "simulation",
}

# RetroAct's label file (GenieRedux, data_generation/annotations/RetroAct_v0.1.csv): a header ``game,tags`` and one
# row per game, ``SuperMarioBros-Nes,side free pl``: the stable-retro name without ``-v0`` and three space-separated
# tags, camera viewpoint, control axis, motion style. These map its tags to this table's words.
RETROACT_VIEWS: dict[str, str] = {"side": "side", "top": "top-down", "3p": "third-person", "1p": "first-person",
                                  "multi": "multi"}
RETROACT_AXES: dict[str, str] = {"h": "horizontal", "v": "vertical", "free": "free", "fixed": "fixed",
                                 "tube": "tube"}
RETROACT_STYLES: dict[str, str] = {
    "pl": "platformer", "pl_fly": "flying-platformer", "space_shooter": "space-shooter", "shooter": "shooter",
    "maze": "maze", "grid": "grid", "fight": "fighting", "sport": "sports", "race": "racing", "pinball": "pinball",
    "pong": "paddle", "tetris": "falling-blocks", "action": "action", "sim": "simulation", "other": "other",
}
RETROACT_SKIP_TAG = "new"  # RetroAct's loader drops the rows tagged "new" (not annotated yet)

_VERSION_SUFFIX = re.compile(r"-v\d+$")


class UnknownGameError(KeyError):
    """Raised for a game or group name that the annotation table does not know."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


class NoPlayableGameError(UnknownGameError):
    """Raised when a group (or ``all``) selects annotated games but none of them has its ROM here."""


class LabelFileError(ValueError):
    """Raised for a RetroAct label file that cannot be imported; the message says what to fix."""


@dataclass(frozen=True)
class Game:
    """One annotated game.

    Attributes:
        name: short name used in env ids and on the command line (``SMB`` → ``GenieRetro-SMB-v0``).
        retro_game: stable-retro game name (``SuperMarioBros-Nes-v0``).
        platform: the platform part of the stable-retro name (``Nes``).
        view, axis, genre: RetroAct labels (camera viewpoint, control axis, motion style); ``""`` when unlabelled.
        motion_style: a finer label of what moves how (``vehicle-fixed``), on checked rows.
        groups: group names the game belongs to (``("platformers",)``).
        buttons: for each action in :data:`ACTION_NAMES` order, the tuple of emulator buttons it presses.
        notes: free text from the annotator (what the actions really do, start requirements).
        verified: the row was checked on per-action clips of the real game (``genie annotate clips``).
        labels_imported: the labels come from the user's imported label file (:func:`user_labels_path`).
    """

    name: str
    retro_game: str
    platform: str
    view: str
    motion_style: str
    genre: str
    groups: tuple[str, ...]
    buttons: tuple[tuple[str, ...], ...]
    notes: str = ""
    verified: bool = False
    axis: str = ""
    labels_imported: bool = False

    @property
    def env_id(self) -> str:
        """The Gymnasium id of the real env for this game."""
        return f"GenieRetro-{self.name}-v0"

    @property
    def labelled(self) -> bool:
        """The game has its three RetroAct labels (view, axis, genre)."""
        return bool(self.view and self.axis and self.genre)


def platform_of(retro_game: str) -> str:
    """The platform part of a stable-retro game name: ``SuperMarioBros-Nes-v0`` → ``Nes``."""
    return _VERSION_SUFFIX.sub("", retro_game).rsplit("-", 1)[-1]


def short_name(retro_game: str) -> str:
    """The table name of a game added from stable-retro's list: its stable-retro name without ``-v0``."""
    return _VERSION_SUFFIX.sub("", retro_game)


def convention_buttons(platform: str) -> tuple[tuple[str, ...], ...]:
    """The convention button map of a platform, in :data:`ACTION_NAMES` order (``RIGHT, LEFT, UP, DOWN`` the d-pad,
    JUMP :data:`PLATFORM_JUMP`); raises ``ValueError`` for a platform without one."""
    if platform not in PLATFORM_JUMP:
        raise ValueError(f"no convention button map for platform {platform!r}: add it to PLATFORM_JUMP "
                         f"(known: {', '.join(sorted(PLATFORM_JUMP))})")
    return (*((d,) for d in DPAD), (PLATFORM_JUMP[platform],))


def derive_groups(genre: str) -> tuple[str, ...]:
    """The groups an unverified game's genre label puts it in (:data:`GENRE_GROUPS`)."""
    group = GENRE_GROUPS.get(genre)
    return (group,) if group else ()


def _parse_buttons(cell: str) -> tuple[str, ...]:
    return tuple(b.strip() for b in cell.split("+") if b.strip())


# --- loading ------------------------------------------------------------------------------------------------------


def user_labels_path() -> Path:
    """Where ``genie annotate import`` keeps the imported labels: ``$GENIE_GYM_HOME/labels.csv``."""
    from genie_gym.roms import genie_home

    return genie_home() / USER_LABELS_FILE


@dataclass(frozen=True)
class _Table:
    games: tuple[Game, ...]
    index: dict[str, Game]


def _labels_key() -> tuple[str, int | None, int | None]:
    path = user_labels_path()
    try:
        stat = path.stat()
    except OSError:
        return str(path), None, None
    return str(path), stat.st_mtime_ns, stat.st_size


def load_games() -> tuple[Game, ...]:
    """The annotation table (shipped rows, with the user's imported labels applied), in table order."""
    return _table().games


def _table() -> _Table:
    return _load_table(_labels_key())


@lru_cache(maxsize=4)
def _load_table(labels_key: tuple[str, int | None, int | None]) -> _Table:
    labels: dict[str, tuple[str, str, str]] = {}
    if labels_key[1] is not None:
        try:
            labels = read_user_labels(Path(labels_key[0]))
        except LabelFileError as exc:  # never break `import genie_gym` over a hand-edited file
            warnings.warn(f"ignoring the imported labels: {exc}", stacklevel=3)
    text = resources.files("genie_gym").joinpath(ANNOTATION_FILE).read_text()
    games = []
    for row in csv.DictReader(io.StringIO(text)):
        verified = (row.get("verified") or "").strip().lower() in ("yes", "true", "1")
        view, axis, genre = row["view"], row.get("axis") or "", row["genre"]
        imported = False
        if not verified and row["retro_game"] in labels:
            view, axis, genre = labels[row["retro_game"]]
            imported = True
        groups = tuple(g for g in row["groups"].split(";") if g) if verified else derive_groups(genre)
        games.append(Game(
            name=row["name"], retro_game=row["retro_game"], platform=row["platform"], view=view,
            motion_style=row["motion_style"], genre=genre, groups=groups,
            buttons=tuple(_parse_buttons(row[a.lower()]) for a in ACTION_NAMES), notes=row.get("notes") or "",
            verified=verified, axis=axis, labels_imported=imported,
        ))
    index: dict[str, Game] = {}
    for game in games:
        for key in (game.name, game.retro_game, short_name(game.retro_game)):
            index.setdefault(key.lower(), game)
    return _Table(tuple(games), index)


@lru_cache(maxsize=1)
def table_ids() -> tuple[tuple[str, str, bool], ...]:
    """``(name, retro_game, verified)`` of every shipped row, read without building :class:`Game` objects (~1 ms
    instead of ~9 ms: what ``import genie_gym`` needs to register ids)."""
    text = resources.files("genie_gym").joinpath(ANNOTATION_FILE).read_text()
    rows = csv.reader(io.StringIO(text))
    header = next(rows)
    name, retro_game, verified = (header.index(c) for c in ("name", "retro_game", "verified"))
    return tuple((r[name], r[retro_game], r[verified].strip().lower() in ("yes", "true", "1")) for r in rows if r)


def get_game(name: str) -> Game:
    """Look a game up by short name (``SMB``), stable-retro name (``SuperMarioBros-Nes-v0``) or RetroAct name
    (``SuperMarioBros-Nes``), case-insensitive."""
    table = _table()
    game = table.index.get(str(name).lower())
    if game is not None:
        return game
    close = difflib.get_close_matches(str(name), [g.name for g in table.games], n=5, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    checked = ", ".join(g.name for g in table.games if g.verified)
    raise UnknownGameError(f"unknown game {name!r}: {hint}the annotation table has {len(table.games)} games (every "
                           f"stable-retro integration, by short name or stable-retro name; `genie roms list --all` "
                           f"lists them); checked ones: {checked}")


def group_names() -> list[str]:
    """All group names used in the table, plus the pseudo groups ``all``, ``verified`` and ``unverified``."""
    return sorted({g for game in load_games() for g in game.groups} | set(PSEUDO_GROUPS))


def group_members(group: str) -> list[Game]:
    """The annotated games of a group or pseudo group (empty for an unknown one), playable here or not."""
    wanted = group.lower()
    if wanted == ALL_GROUP:
        return list(load_games())
    if wanted in (VERIFIED_GROUP, UNVERIFIED_GROUP):
        return [g for g in load_games() if g.verified == (wanted == VERIFIED_GROUP)]
    return [g for g in load_games() if wanted in (x.lower() for x in g.groups)]


def resolve_games(spec: str) -> list[Game]:
    """Turn a command-line spec into games: a game name, a group name, or a comma-separated mix of both.

    ``"SMB"`` → [SMB] (a named game is selected whether or not its ROM is here: using it says what to do);
    ``"platformers"`` → the games of that group whose ROM is here; ``"all"`` → every annotated game whose ROM is here
    (``"verified"`` / ``"unverified"``: those checked on clips / not yet). A group with members but none playable here
    raises :class:`NoPlayableGameError` naming what to do.
    """
    result: list[Game] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        members = group_members(part)
        if members:
            from genie_gym.roms import games_with_rom

            present = games_with_rom()
            playable = [g for g in members if g.retro_game in present]
            if not playable:
                raise NoPlayableGameError(
                    f"none of the {len(members)} games of {part!r} is playable here: `genie roms install` provides "
                    f"SMB and the Atari games, `genie roms import DIR` your own ROMs (`genie roms list --group {part}` "
                    "says what each game needs)")
            members = playable
        else:
            members = [get_game(part)]
        result.extend(g for g in members if g not in result)
    if not result:
        raise UnknownGameError(f"no game selected by {spec!r}; groups: {', '.join(group_names())}")
    return result


def select_games(specs: str | Iterable[str], available: Iterable[str], where: str,
                 option: str = "--games") -> list[str]:
    """The games of ``available`` that command-line ``specs`` name, in the order named (``genie train --games``
    against an episode store's games, ``genie world-model pack --games`` against the games a dynamics run trained on).

    Each spec is a game name (as ``available`` spells it, or any name :func:`get_game` knows, case-insensitive), a
    group (its games that ``available`` has) or a comma-separated mix. A game ``available`` lacks, or a group none of
    whose games it has, raises :class:`UnknownGameError` naming ``option``, ``where`` (``"the store data/x"``) and the
    games it has.
    """
    available = list(dict.fromkeys(available))
    by_lower = {name.lower(): name for name in available}
    available_text = ", ".join(available) if available else "none"
    chosen: list[str] = []
    for part in (p.strip() for spec in ([specs] if isinstance(specs, str) else specs) for p in str(spec).split(",")):
        if not part:
            continue
        if part.lower() in by_lower:
            found = [by_lower[part.lower()]]
        elif members := group_members(part):
            names = {game.name for game in members}
            found = [name for name in available if name in names]
            if not found:
                raise UnknownGameError(f"{option} {part}: {where} has no game of that group (it has: {available_text})")
        else:
            try:
                name = get_game(part).name
            except UnknownGameError:
                name = None
            if name is None or name.lower() not in by_lower:
                raise UnknownGameError(f"{option} {part}: {where} has no such game (it has: {available_text})")
            found = [by_lower[name.lower()]]
        chosen.extend(name for name in found if name not in chosen)
    if not chosen:
        raise UnknownGameError(f"{option} names no game ({where} has: {available_text})")
    return chosen


# --- imported labels ----------------------------------------------------------------------------------------------

USER_LABEL_COLUMNS = ("retro_game", "view", "axis", "genre")


def read_user_labels(path: Path) -> dict[str, tuple[str, str, str]]:
    """The imported labels file: ``retro_game -> (view, axis, genre)`` in this table's words."""
    try:
        text = Path(path).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelFileError(f"cannot read {path} ({exc}): delete it and rerun `genie annotate import`") from exc
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != USER_LABEL_COLUMNS:
        raise LabelFileError(f"{path} does not have the columns {','.join(USER_LABEL_COLUMNS)}: delete it and rerun "
                             "`genie annotate import`")
    labels = {}
    for row in reader:
        view, axis, genre = row["view"] or "", row["axis"] or "", row["genre"] or ""
        if view not in VIEWS or axis not in AXES or genre not in RETROACT_STYLES.values():
            raise LabelFileError(f"{path} line {reader.line_num}: unknown label in {view!r}, {axis!r}, {genre!r}: "
                                 "delete the file and rerun `genie annotate import`")
        labels[row["retro_game"]] = (view, axis, genre)
    return labels


@dataclass(frozen=True)
class LabelImport:
    """What :func:`import_labels` did.

    Attributes:
        path: the user labels file written.
        added: games labelled for the first time.
        changed: games whose earlier imported labels the file replaced.
        unchanged: games the file labels as they already were.
        kept_verified: ``(game, labels in the file)`` of checked games whose labels were kept (they differ).
        skipped: ``(game, why)`` of rows left out (tagged ``new``, or unknown with ``skip_unknown``).
    """

    path: Path
    added: list[str]
    changed: list[str]
    unchanged: list[str]
    kept_verified: list[tuple[str, tuple[str, str, str]]]
    skipped: list[tuple[str, str]]


_RETROACT_FORMAT = ("a RetroAct label file is CSV with the header `game,tags` and rows such as "
                    "`SuperMarioBros-Nes,side free pl` (view, control axis, motion style)")


def parse_retroact_labels(path: os.PathLike | str, skip_unknown: bool = False
                          ) -> tuple[dict[str, tuple[str, str, str]], list[tuple[str, str]]]:
    """Read a RetroAct label file (``game,tags``: ``SuperMarioBros-Nes,side free pl``) into
    ``{retro_game: (view, axis, genre)}`` in this table's words, and the rows left out with why.

    Game names are matched case-insensitively, with or without ``-v0``. Raises :class:`LabelFileError` (one message:
    the file, the lines and what to fix) for a file that is not one: no ``game,tags`` header, a row without three
    tags, an unknown tag, the same game labelled twice differently, or a game not in the table (unless
    ``skip_unknown``: then those rows are left out and listed).
    """
    path = Path(path)
    rows = _retroact_rows(path)
    table = _table()
    names = [short_name(g.retro_game) for g in table.games]
    labels: dict[str, tuple[str, str, str]] = {}
    first_line: dict[str, int] = {}
    skipped: list[tuple[str, str]] = []
    problems: list[str] = []
    unknown: list[str] = []
    for line, row in enumerate(rows, start=2):
        if not any(cell.strip() for cell in row):
            continue
        name = row[0].strip()
        tags = row[1].split() if len(row) > 1 else []
        if RETROACT_SKIP_TAG in tags:
            skipped.append((name, "tagged 'new' (not annotated yet)"))
            continue
        if len(tags) < 3:
            problems.append(f"line {line} ({name or 'no game'}): {len(tags)} tags {' '.join(tags)!r}, expected "
                            "three: view, control axis, motion style")
            continue
        view, axis, style = tags[:3]
        if bad := _unknown_retroact_tags(view, axis, style):
            problems.append(f"line {line} ({name}): unknown {'; '.join(bad)}")
            continue
        game = table.index.get(name.lower())
        if game is None:
            close = [] if len(unknown) >= 10 else difflib.get_close_matches(short_name(name), names, n=1, cutoff=0.8)
            unknown.append(f"{name} (line {line}{f'; did you mean {close[0]}?' if close else ''})")
            if skip_unknown:
                skipped.append((name, "not in the annotation table (no stable-retro integration of that name)"))
            continue
        value = (RETROACT_VIEWS[view], RETROACT_AXES[axis], RETROACT_STYLES[style])
        if game.retro_game in labels and labels[game.retro_game] != value:
            problems.append(f"line {line} ({name}): labels {game.name} differently from line "
                            f"{first_line[game.retro_game]}")
            continue
        labels.setdefault(game.retro_game, value)
        first_line.setdefault(game.retro_game, line)
    _check_nothing_wrong(path, problems, unknown, skip_unknown)
    if not labels:
        raise LabelFileError(f"{path}: no row to import ({len(skipped)} left out): {_RETROACT_FORMAT}")
    return labels, skipped


def _retroact_rows(path: Path) -> list[list[str]]:
    """The CSV rows after the ``game,tags`` header (leading blank rows dropped), numbered from line 2 by the caller.

    The header is checked first so that a wrong file (a RetroAct *control* file is the likely mix-up: same site, same
    names) is named as such instead of giving a problem on every row.
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise LabelFileError(f"{path} does not exist: give the path of a RetroAct label file ({_RETROACT_FORMAT})"
                             ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelFileError(f"cannot read {path} ({exc}): {_RETROACT_FORMAT}") from None
    rows = list(csv.reader(io.StringIO(text)))
    while rows and not any(cell.strip() for cell in rows[0]):
        rows.pop(0)
    if not rows:
        raise LabelFileError(f"{path} is empty: {_RETROACT_FORMAT}")
    header = [cell.strip().lower() for cell in rows[0]]
    if header[:2] != ["game", "tags"]:
        if {"right", "left", "up", "down"} <= set(header):
            raise LabelFileError(f"{path} is a RetroAct control file (per-action columns {','.join(rows[0][:4])}...), "
                                 f"not a label file: {_RETROACT_FORMAT}")
        raise LabelFileError(f"{path} line 1 is {','.join(rows[0])!r}, expected the header `game,tags`: "
                             f"{_RETROACT_FORMAT}")
    return rows[1:]


def _unknown_retroact_tags(view: str, axis: str, style: str) -> list[str]:
    """Each tag that is not a RetroAct word, with the words it could be (so one message says how to fix the row)."""
    return [f"{what} {tag!r} (one of {', '.join(allowed)})"
            for what, tag, allowed in (("view", view, RETROACT_VIEWS), ("control axis", axis, RETROACT_AXES),
                                       ("motion style", style, RETROACT_STYLES))
            if tag not in allowed]


def _check_nothing_wrong(path: Path, problems: list[str], unknown: list[str], skip_unknown: bool) -> None:
    """Raise one :class:`LabelFileError` naming the first ten bad rows, or unknown games unless ``skip_unknown``.

    A file with any is not imported at all, so that the fixed file is imported as a whole.
    """
    if problems:
        more = f" (and {len(problems) - 10} more)" if len(problems) > 10 else ""
        raise LabelFileError(f"{path}: nothing imported, fix these rows: " + "; ".join(problems[:10]) + more)
    if unknown and not skip_unknown:
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise LabelFileError(
            f"{path}: nothing imported, {len(unknown)} games are not in the annotation table: "
            f"{', '.join(unknown[:10])}{more}. Fix the names (stable-retro names such as SuperMarioBros-Nes; "
            "`genie roms list --all` lists them) or pass --skip-unknown to import the others")


def import_labels(path: os.PathLike | str, skip_unknown: bool = False) -> LabelImport:
    """Merge a RetroAct label file into the imported labels (:func:`user_labels_path`); returns what changed.

    The whole file is checked first (:func:`parse_retroact_labels`); on any error nothing is written. Labels of
    verified games are kept (they were checked on clips); the others are added or replace earlier imported ones, and
    earlier imported labels of games the file does not name stay. The file is written atomically.
    """
    from genie_gym.atomic import atomic_write_text

    new, skipped = parse_retroact_labels(path, skip_unknown=skip_unknown)
    target = user_labels_path()
    current = read_user_labels(target) if target.exists() else {}
    verified = {g.retro_game: g for g in load_games() if g.verified}
    added, changed, unchanged, kept = [], [], [], []
    merged = dict(current)
    for retro_game, value in new.items():
        if retro_game in verified:
            game = verified[retro_game]
            if (game.view, game.axis, game.genre) != value:
                kept.append((game.name, value))
            continue
        name = get_game(retro_game).name
        if retro_game not in current:
            added.append(name)
        elif current[retro_game] != value:
            changed.append(name)
        else:
            unchanged.append(name)
        merged[retro_game] = value
    if added or changed:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(USER_LABEL_COLUMNS)
        for retro_game in sorted(merged):
            writer.writerow((retro_game, *merged[retro_game]))
        target.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(target, out.getvalue())
    return LabelImport(target, added, changed, unchanged, kept, skipped)


# --- maintaining the shipped table --------------------------------------------------------------------------------


def convention_row(retro_game: str) -> Game:
    """An unverified row for a stable-retro game: its platform's convention button map, no labels."""
    platform = platform_of(retro_game)
    return Game(name=short_name(retro_game), retro_game=retro_game, platform=platform, view="", motion_style="",
                genre="", groups=(), buttons=convention_buttons(platform), verified=False)


TABLE_COLUMNS = ("name", "retro_game", "platform", "view", "axis", "motion_style", "genre", "groups", "right", "left",
                 "up", "down", "jump", "verified", "notes")


def table_csv(games: Iterable[Game]) -> str:
    """The text of an annotation table holding ``games`` (the format of ``annotations.csv``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(TABLE_COLUMNS)
    for g in games:
        writer.writerow((g.name, g.retro_game, g.platform, g.view, g.axis, g.motion_style, g.genre,
                         ";".join(g.groups) if g.verified else "", *("+".join(b) for b in g.buttons),
                         "yes" if g.verified else "no", g.notes))
    return out.getvalue()


def with_integrated_games(games: Iterable[Game], retro_games: Iterable[str]) -> list[Game]:
    """``games`` followed by a :func:`convention_row` for each of ``retro_games`` they lack, sorted by name (how
    the shipped table was extended to every stable-retro integration: ``stable_retro.data.list_games``)."""
    games = [replace(g, labels_imported=False) for g in games]
    known = {g.retro_game for g in games}
    return games + [convention_row(r) for r in sorted(set(retro_games) - known, key=str.lower)]
