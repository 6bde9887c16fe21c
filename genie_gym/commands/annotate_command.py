"""``genie annotate clips``: record per-action clips of real games to check the annotation table by eye."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genie_gym.annotation_clips import ClipSettings, format_summary, make_clips
from genie_gym.games import resolve_games


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie annotate`` to the command line."""
    parser = subparsers.add_parser("annotate", help="tools to check the annotation table (game → buttons)")
    actions = parser.add_subparsers(dest="annotate_action", metavar="ACTION", required=True)
    defaults = ClipSettings()
    clips = actions.add_parser(
        "clips",
        help="hold each of the 5 actions from one saved state and write PNG strips + a motion summary per game",
        description="For each game: reset, warm up, save the emulator state, then for RIGHT, LEFT, UP, DOWN, JUMP "
        "(and a no-press baseline) restore that state and hold the action. Writes DIR/<game>.png (5 rows), "
        "DIR/<game>/<ACTION>.png strips and DIR/<game>/summary.json; prints the motion numbers. "
        "Games already written with the same settings are skipped (use --force to redo).",
    )
    clips.add_argument("--games", default="all", help="a game (SMB), a group (platformers), all, or a comma list")
    clips.add_argument("--out", type=Path, default=Path("annotation_clips"), help="output directory (outside git)")
    clips.add_argument("--steps", type=int, default=defaults.steps, help="agent steps each action is held")
    clips.add_argument("--seed", type=int, default=defaults.seed, help="reset seed")
    clips.add_argument("--warmup", type=int, default=defaults.warmup_steps,
                       help="agent steps run before the state is saved")
    clips.add_argument("--warmup-action", default=defaults.warmup_action, metavar="SEQ",
                       help="what the warm-up presses, one entry per step, cycled: comma list of noop, RIGHT, LEFT, "
                       "UP, DOWN, JUMP, or an alias: 'start' (default; = JUMP,noop,RIGHT,noop,LEFT,noop, starts every "
                       "annotated game), 'alternate' (= RIGHT,LEFT); 'noop' shows which games wait on a start screen")
    clips.add_argument("--every", type=int, default=defaults.every, help="put a frame in the strip every N steps")
    clips.add_argument("--probe", action="append", default=[], metavar="BUTTONS",
                       help="also hold this emulator button combination (e.g. B or A+C) to see what it does; "
                       "repeatable")
    clips.add_argument("--force", action="store_true", help="re-record games already written")
    clips.add_argument("--json", action="store_true", help="print the summaries as JSON instead of a table")
    clips.set_defaults(func=_clips)


def _clips(args: argparse.Namespace) -> int:
    settings = ClipSettings(steps=args.steps, warmup_steps=args.warmup, warmup_action=args.warmup_action,
                            every=args.every, seed=args.seed, probes=tuple(args.probe))
    games = resolve_games(args.games)
    summaries = make_clips(games, args.out, settings, force=args.force)
    if args.json:
        print(json.dumps(summaries, indent=1))
    else:
        print(format_summary(summaries))
        print(f"PNGs in {args.out}/: <game>.png (one row per action) and <game>/<ACTION>.png")
    return 0
