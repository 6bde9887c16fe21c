"""``genie annotate clips|import``: record per-action clips of real games to check the annotation table by eye, and
merge a RetroAct label file into it."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from genie_gym.annotation_clips import ClipSettings, format_summary, make_clips
from genie_gym.games import group_members, import_labels, load_games, resolve_games
from genie_gym.options import add_options, add_subcommand, from_args, option
from genie_gym.roms import games_with_rom


@dataclass(kw_only=True)
class ClipsTarget:
    """``genie annotate clips``' options that say which games are recorded, and where (before how: ClipSettings)."""

    games: str = option("all", "a game (SMB, or any annotated game once its ROM is here), a group (platformers; "
                               "unverified: the rows not checked yet), all, or a comma list; a group or all selects "
                               "its games playable here (default: all)")
    out: Path = option(Path("annotation_clips"), "output directory (outside git)")


@dataclass(kw_only=True)
class ClipsOutput:
    """``genie annotate clips``' options that say whether games already written are redone and how the summaries are
    printed."""

    force: bool = option(False, "re-record games already written")
    json: bool = option(False, "print the summaries as JSON instead of a table")


@dataclass(kw_only=True)
class LabelImportSettings:
    """``genie annotate import``'s options."""

    file: Path = option(help="RetroAct label file", positional=True, metavar="FILE.csv")
    skip_unknown: bool = option(False, "import the other rows when some games are not in the annotation table")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie annotate`` to the command line."""
    parser = subparsers.add_parser("annotate", help="tools to check the annotation table (game → buttons)")
    actions = parser.add_subparsers(dest="annotate_action", metavar="ACTION", required=True)
    clips = actions.add_parser(
        "clips",
        help="hold each of the 5 actions from one saved state and write PNG strips + a motion summary per game",
        description="For each game: reset, warm up, save the emulator state, then for RIGHT, LEFT, UP, DOWN, JUMP "
        "(and a no-press baseline) restore that state and hold the action. Writes DIR/<game>.png (5 rows), "
        "DIR/<game>/<ACTION>.png strips and DIR/<game>/summary.json; prints the motion numbers. "
        "Games already written with the same settings are skipped (use --force to redo).",
    )
    for settings_class in (ClipsTarget, ClipSettings, ClipsOutput):
        add_options(clips, settings_class)
    clips.set_defaults(func=_clips)

    add_subcommand(
        actions, "import", LabelImportSettings, _import,
        help="merge a RetroAct label file (game,tags: view, control axis, motion style) into the annotation table",
        description="Reads a RetroAct label file, CSV with the header `game,tags` and rows such as "
        "`SuperMarioBros-Nes,side free pl` (camera view: side top 3p 1p multi; control axis: h v free fixed tube; "
        "motion style: pl pl_fly space_shooter shooter maze grid fight sport race pinball pong tetris action sim "
        "other), the format of GenieRedux's RetroAct_v0.1.csv. The whole file is checked first: on any error nothing "
        "is imported. The labels are kept in $GENIE_GYM_HOME/labels.csv (the package is not written); they label the "
        "unverified games (a game checked on clips keeps its labels) and put them in groups (pl -> platformers, "
        "...), which `genie collect --env GROUP` and `genie annotate clips --games GROUP` use.",
    )


def _clips(args: argparse.Namespace) -> int:
    settings = from_args(ClipSettings, args)
    target, output = from_args(ClipsTarget, args), from_args(ClipsOutput, args)
    games = resolve_games(target.games)
    summaries = make_clips(games, target.out, settings, force=output.force)
    if output.json:
        print(json.dumps(summaries, indent=1))
    else:
        print(format_summary(summaries))
        print(f"PNGs in {target.out}/: <game>.png (one row per action) and <game>/<ACTION>.png")
    return 0


def _import(args: argparse.Namespace) -> int:
    settings = from_args(LabelImportSettings, args)
    result = import_labels(settings.file, skip_unknown=settings.skip_unknown)
    labelled = len(result.added) + len(result.changed) + len(result.unchanged)
    print(f"{settings.file}: labels of {labelled} games: {len(result.added)} new, {len(result.changed)} changed, "
          f"{len(result.unchanged)} unchanged; kept in {result.path}")
    if result.kept_verified:
        shown = ", ".join(f"{name} ({' / '.join(labels)})" for name, labels in result.kept_verified[:8])
        more = f" and {len(result.kept_verified) - 8} more" if len(result.kept_verified) > 8 else ""
        print(f"kept the checked labels of {len(result.kept_verified)} verified games the file labels otherwise: "
              f"{shown}{more}")
    if result.skipped:
        reasons: dict[str, list[str]] = {}
        for name, why in result.skipped:
            reasons.setdefault(why, []).append(name)
        for why, names in reasons.items():
            more = f" and {len(names) - 8} more" if len(names) > 8 else ""
            print(f"left out {len(names)} rows, {why}: {', '.join(names[:8])}{more}")
    present = games_with_rom()
    groups = sorted({g for game in _labelled_games() for g in game.groups})
    for group in groups:
        members = group_members(group)
        playable = sum(g.retro_game in present for g in members)
        print(f"group {group}: {len(members)} games, {playable} playable here")
    return 0


def _labelled_games():
    return [g for g in load_games() if g.labelled]
