"""``genie roms install|import|list``: provision the ROMs, import the user's own, and tell which games are playable."""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from genie_gym import roms
from genie_gym.games import group_members, group_names, load_games
from genie_gym.options import add_subcommand, from_args, option


@dataclass(kw_only=True)
class RomInstallSettings:
    """``genie roms install``'s options."""

    smb_wheel: Path | None = option(None, f"use a local {roms.SMB_WHEEL_NAME} instead of downloading it")


@dataclass(kw_only=True)
class RomImportSettings:
    """``genie roms import``'s options."""

    paths: list[Path] = option(help="folders (walked recursively) or files holding ROMs (.nes, .sfc, .md, .a26, .zip, "
                                    "...)", positional=True, metavar="DIR")

    def __post_init__(self) -> None:
        for path in self.paths:
            if not path.exists():
                raise FileNotFoundError(f"{path} does not exist: give folders or files that hold your ROMs")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie roms`` to the command line."""
    parser = subparsers.add_parser("roms", help="install ROMs / import your own / list playable games")
    actions = parser.add_subparsers(dest="roms_action", metavar="ACTION", required=True)
    add_subcommand(actions, "install", RomInstallSettings, _install,
                   help="provision SMB (PyPI wheel) and the Atari ROMs of ale-py; idempotent")
    add_subcommand(actions, "import", RomImportSettings, _import,
                   help="import your own ROM files: matched against stable-retro's known hashes, placed in "
                        "genie-gym's integration directory (site-packages untouched); idempotent")
    listing = actions.add_parser(
        "list", help="which annotated games are playable here, and what to do for the others",
        description="For each annotated game (about 1,000: every stable-retro integration): its env id, platform, "
                    "whether it is playable here, its number of start states, whether its row was checked on clips, "
                    "and what to do if it is not playable; then a summary per platform. Without options it lists the "
                    "checked games and the playable ones; the options select other rows.")
    # plain add_argument: --playable and --missing are a mutually exclusive group, which add_options does not build
    listing.add_argument("--all", action="store_true", help="list every annotated game")
    which = listing.add_mutually_exclusive_group()
    which.add_argument("--playable", action="store_true", help="only the games playable here")
    which.add_argument("--missing", action="store_true", help="only the games whose ROM is not here")
    listing.add_argument("--platform", action="append", default=None, metavar="NAME",
                         help="only this platform (Nes, Snes, Genesis, Sms, Atari2600, GameBoy, ...); repeatable or "
                              "comma-separated")
    listing.add_argument("--group", default=None, metavar="GROUP",
                         help="only this group (platformers, shooters, ...; verified, unverified)")
    listing.set_defaults(func=_list)


def _install(args: argparse.Namespace) -> int:
    installed = roms.install_all(from_args(RomInstallSettings, args).smb_wheel)
    total = len(installed["smb"]) + len(installed["atari"])
    print(f"ROMs ready in {roms.integrations_dir()}: Super Mario Bros + {len(installed['atari'])} Atari games "
          f"({total} provisioned; Airstriker-Genesis ships with stable-retro)")
    return 0


def _import(args: argparse.Namespace) -> int:
    results = roms.import_roms(from_args(RomImportSettings, args).paths)
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
    games = list(load_games())
    present = roms.games_with_rom()
    platforms = sorted({g.platform for g in games}, key=str.lower)
    if args.platform:
        wanted = {p.strip().lower() for text in args.platform for p in text.split(",") if p.strip()}
        unknown = wanted - {p.lower() for p in platforms}
        if unknown:
            raise ValueError(f"unknown platform {', '.join(sorted(unknown))}: pass one of {', '.join(platforms)}")
    else:
        wanted = None
    if args.group is not None:
        members = {g.retro_game for g in group_members(args.group)}
        if not members:
            raise ValueError(f"no annotated game is in group {args.group!r}: groups are {', '.join(group_names())}")
    filtered = bool(args.all or args.playable or args.missing or wanted or args.group is not None)
    selected = [
        g for g in games
        if (wanted is None or g.platform.lower() in wanted)
        and (args.group is None or g.retro_game in members)
        and (not args.playable or g.retro_game in present)
        and (not args.missing or g.retro_game not in present)
        and (filtered or g.verified or g.retro_game in present)
    ]
    rows = []
    for game in selected:
        playable = game.retro_game in present
        reason = "ok" if playable else roms.missing_reason(game.retro_game)
        rows.append((game.env_id, game.platform, "yes" if playable else "no", len(roms.start_states(game.retro_game)),
                     "yes" if game.verified else "no", reason))
    if rows:
        width = max(len(r[0]) for r in rows)
        print(f"{'env id':<{width}}  {'platform':<10} playable  states  checked  reason / what to do")
        for env_id, platform, playable, states, checked, reason in rows:
            print(f"{env_id:<{width}}  {platform:<10} {playable:<9} {states:<7} {checked:<8} {reason}")
    else:
        print("no annotated game matches these options")

    scope = games if not filtered else selected
    total, playable_count, checked = Counter(), Counter(), Counter()
    for game in scope:
        total[game.platform] += 1
        playable_count[game.platform] += game.retro_game in present
        checked[game.platform] += game.verified
    print()
    print(f"{'platform':<10} {'games':>6} {'checked':>8} {'playable':>9}  for the others")
    installable = roms.installable_games()
    for platform in sorted(total, key=lambda p: (-total[p], p.lower())):
        missing = [g.retro_game in installable for g in scope if g.platform == platform and g.retro_game not in present]
        if not missing:
            todo = "-"
        elif all(missing):
            todo = f"`{roms.INSTALL_COMMAND}`"
        else:
            todo = (f"`{roms.INSTALL_COMMAND}` ({sum(missing)}), " if any(missing) else "") + \
                f"your own ROMs: `{roms.IMPORT_COMMAND}`"
        print(f"{platform:<10} {total[platform]:>6} {checked[platform]:>8} {playable_count[platform]:>9}  {todo}")
    n_playable = sum(g.retro_game in present for g in games)
    n_checked = sum(g.verified for g in games)
    print(f"{n_playable}/{len(games)} annotated games playable here; {n_checked} checked on clips, the others have "
          "their platform's convention button map (unverified: `genie annotate clips --games NAME` shows it)")
    if not filtered:
        print(f"listed: the checked games and the playable ones. `genie roms list --all` lists every game, "
              f"`--missing --platform Nes` the Nes games to import, `--group platformers` a group; "
              f"`{roms.IMPORT_COMMAND}` imports your own ROMs")
    return 0
