"""``genie roms install|list``: provision the ROMs and tell which games are playable here."""

from __future__ import annotations

import argparse
from pathlib import Path

from genie_gym import roms
from genie_gym.games import load_games


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie roms`` to the command line."""
    parser = subparsers.add_parser("roms", help="install ROMs / list playable games")
    actions = parser.add_subparsers(dest="roms_action", metavar="ACTION", required=True)
    install = actions.add_parser("install", help="provision SMB (PyPI wheel) and the Atari ROMs of ale-py; idempotent")
    install.add_argument("--smb-wheel", type=Path, default=None,
                         help=f"use a local {roms.SMB_WHEEL_NAME} instead of downloading it")
    install.set_defaults(func=_install)
    listing = actions.add_parser("list", help="which annotated games are playable here, and why not")
    listing.set_defaults(func=_list)


def _install(args: argparse.Namespace) -> int:
    installed = roms.install_all(args.smb_wheel)
    total = len(installed["smb"]) + len(installed["atari"])
    print(f"ROMs ready in {roms.integrations_dir()}: Super Mario Bros + {len(installed['atari'])} Atari games "
          f"({total} provisioned; Airstriker-Genesis ships with stable-retro)")
    return 0


def _list(args: argparse.Namespace) -> int:
    rows = []
    for game in load_games():
        status = roms.rom_status(game.retro_game)
        rows.append((game.env_id, game.platform, "yes" if status.playable else "no", status.reason))
    width = max(len(r[0]) for r in rows)
    print(f"{'env id':<{width}}  {'platform':<10} playable  reason")
    for env_id, platform, playable, reason in rows:
        print(f"{env_id:<{width}}  {platform:<10} {playable:<9} {reason}")
    playable_count = sum(r[2] == "yes" for r in rows)
    print(f"{playable_count}/{len(rows)} annotated games playable here")
    return 0
