"""The RetroAct-style annotation table shipped with the package (``annotations.csv``).

One row per game playable here: its short name (``SMB``), stable-retro name, platform, camera view, motion style,
genre, the groups it belongs to (``;``-separated, e.g. ``platformers``), for each of the 5 shared actions
(RIGHT, LEFT, UP, DOWN, JUMP) the emulator buttons it presses (``+``-separated, e.g. ``RIGHT+B``), whether the row was
checked by eye on per-action clips (``verified``: ``yes``/``no``, see ``genie annotate clips``) and notes on what each
action really does in that game (e.g. "JUMP fires") and whether the game needs a start action.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from genie_gym.conventions import ACTION_NAMES

ANNOTATION_FILE = "annotations.csv"
ALL_GROUP = "all"


class UnknownGameError(KeyError):
    """Raised for a game or group name that the annotation table does not know."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


@dataclass(frozen=True)
class Game:
    """One annotated game.

    Attributes:
        name: short name used in env ids and on the command line (``SMB`` → ``GenieRetro-SMB-v0``).
        retro_game: stable-retro game name (``SuperMarioBros-Nes-v0``).
        platform, view, motion_style, genre: RetroAct-style labels.
        groups: group names the game belongs to (``("platformers",)``).
        buttons: for each action in :data:`ACTION_NAMES` order, the tuple of emulator buttons it presses.
        notes: free text from the annotator (what the actions really do, start requirements).
        verified: the row was checked on per-action clips of the real game (``genie annotate clips``).
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

    @property
    def env_id(self) -> str:
        """The Gymnasium id of the real env for this game."""
        return f"GenieRetro-{self.name}-v0"


def _parse_buttons(cell: str) -> tuple[str, ...]:
    return tuple(b.strip() for b in cell.split("+") if b.strip())


@lru_cache(maxsize=1)
def load_games() -> tuple[Game, ...]:
    """Read the shipped annotation table; returns games in table order."""
    text = resources.files("genie_gym").joinpath(ANNOTATION_FILE).read_text()
    games = []
    for row in csv.DictReader(text.splitlines()):
        games.append(
            Game(
                name=row["name"],
                retro_game=row["retro_game"],
                platform=row["platform"],
                view=row["view"],
                motion_style=row["motion_style"],
                genre=row["genre"],
                groups=tuple(g for g in row["groups"].split(";") if g),
                buttons=tuple(_parse_buttons(row[a.lower()]) for a in ACTION_NAMES),
                notes=row.get("notes", "") or "",
                verified=(row.get("verified", "") or "").strip().lower() in ("yes", "true", "1"),
            )
        )
    return tuple(games)


def get_game(name: str) -> Game:
    """Look a game up by short name (``SMB``) or stable-retro name (``SuperMarioBros-Nes-v0``), case-insensitive."""
    wanted = name.lower()
    for game in load_games():
        if wanted in (game.name.lower(), game.retro_game.lower()):
            return game
    known = ", ".join(g.name for g in load_games())
    raise UnknownGameError(f"unknown game {name!r}; annotated games: {known}")


def group_names() -> list[str]:
    """All group names used in the table, plus ``all``."""
    return sorted({g for game in load_games() for g in game.groups} | {ALL_GROUP})


def resolve_games(spec: str) -> list[Game]:
    """Turn a command-line spec into games: a game name, a group name, or a comma-separated mix of both.

    ``"SMB"`` → [SMB]; ``"platformers"`` → every game in that group; ``"all"`` → every annotated game.
    """
    result: list[Game] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part.lower() == ALL_GROUP:
            members = list(load_games())
        else:
            members = [g for g in load_games() if part.lower() in (x.lower() for x in g.groups)]
        if not members:
            members = [get_game(part)]
        result.extend(g for g in members if g not in result)
    if not result:
        raise UnknownGameError(f"no game selected by {spec!r}; groups: {', '.join(group_names())}")
    return result
