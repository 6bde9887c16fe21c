"""``genie roms install|import|list``: provision the ROMs, import the user's own, and tell which games are playable."""

from __future__ import annotations

import argparse
from pathlib import Path

from genie_gym import roms
from genie_gym.games import load_games


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie roms`` to the command line."""
    parser = subparsers.add_parser("roms", help="install ROMs / import your own / list playable games")
    actions = parser.add_subparsers(dest="roms_action", metavar="ACTION", required=True)
    install = actions.add_parser("install", help="provision SMB (PyPI wheel) and the Atari ROMs of ale-py; idempotent")
    install.add_argument("--smb-wheel", type=Path, default=None,
                         help=f"use a local {roms.SMB_WHEEL_NAME} instead of downloading it")
    install.set_defaults(func=_install)
    importing = actions.add_parser(
        "import", help="import your own ROM files: matched against stable-retro's known hashes, placed in "
                       "genie-gym's integration directory (site-packages untouched); idempotent")
    importing.add_argument("paths", nargs="+", type=Path, metavar="DIR",
                           help="folders (walked recursively) or files holding ROMs (.nes, .sfc, .md, .a26, .zip, ...)")
    importing.set_defaults(func=_import)
    listing = actions.add_parser("list", help="which annotated games are playable here, and what to do for the others")
    listing.add_argument("--all", action="store_true",
                         help="list every game stable-retro has an integration for (about 1,000), not only the "
                              "annotated ones")
    listing.set_defaults(func=_list)


def _install(args: argparse.Namespace) -> int:
    installed = roms.install_all(args.smb_wheel)
    total = len(installed["smb"]) + len(installed["atari"])
    print(f"ROMs ready in {roms.integrations_dir()}: Super Mario Bros + {len(installed['atari'])} Atari games "
          f"({total} provisioned; Airstriker-Genesis ships with stable-retro)")
    return 0


def _import(args: argparse.Namespace) -> int:
    for path in args.paths:
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist: give folders or files that hold your ROMs")
    results = roms.import_roms(args.paths)
    env_ids = {game.retro_game: game.env_id for game in load_games()}
    for result in results:
        if result.matched:
            usable = env_ids.get(result.game, "not annotated yet: no GenieRetro id, stable_retro.make only")
            print(f"{result.status:<17} {result.game} ({usable})  <- {result.source}")
        else:
            print(f"{result.status:<17} {result.source}: {result.reason}")
    imported = sum(r.status == "imported" for r in results)
    present = sum(r.status == "already installed" for r in results)
    skipped = len(results) - imported - present
    print(f"{imported} imported, {present} already installed, {skipped} skipped; ROMs in {roms.integrations_dir()}")
    if not imported + present:
        print("no file matched a game stable-retro knows (see the reasons above)")
        return 1
    return 0


def _list(args: argparse.Namespace) -> int:
    annotated = {game.retro_game: game for game in load_games()}
    rows = []
    for game in load_games():
        status = roms.rom_status(game.retro_game)
        states = len(roms.start_states(game.retro_game))
        rows.append((game.env_id, game.platform, "yes" if status.playable else "no", states, status.reason))
    others = sorted(set(roms.integrated_games()) - set(annotated))
    if args.all:
        for retro_game in others:
            status = roms.rom_status(retro_game)
            rows.append((retro_game, retro_game.rsplit("-", 2)[-2], "yes" if status.playable else "no",
                         len(roms.start_states(retro_game)),
                         ("ok: " if status.playable else "") + "not annotated: no GenieRetro id yet"
                         + ("" if status.playable else f"; {status.reason}")))
    width = max(len(r[0]) for r in rows)
    print(f"{'env id':<{width}}  {'platform':<10} playable  states  reason / what to do")
    for env_id, platform, playable, states, reason in rows:
        print(f"{env_id:<{width}}  {platform:<10} {playable:<9} {states:<7} {reason}")
    playable_count = sum(r[2] == "yes" for r in rows[: len(annotated)])
    print(f"{playable_count}/{len(annotated)} annotated games playable here")
    if not args.all:
        extra = sorted(set(others) & roms.games_with_rom())
        if extra:
            print(f"also playable, not annotated ({len(extra)}; stable_retro.make only): {', '.join(extra)}")
        print(f"{len(others)} more games have a stable-retro integration: `genie roms list --all` lists them; "
              f"`{roms.IMPORT_COMMAND}` imports your own ROMs of them")
    return 0
