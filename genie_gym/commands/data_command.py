"""``genie data info|preview|import|export|mix``: inspect, preview, convert and mix episode stores
(docs/DATA_FORMAT.md)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from genie_gym.conventions import FRAME_SKIP
from genie_gym.options import add_subcommand, from_args, option

# Each subcommand imports what it runs inside its function: every `genie` invocation imports this module to build
# its parser.

SPLITS = ("train", "val", "all")


@dataclass(kw_only=True)
class InfoSettings:
    """``genie data info``'s options."""

    store: Path = option(help="episode store directory", positional=True)
    verify: bool = option(False, "also check every array's sha256 (reads all data)")


@dataclass(kw_only=True)
class PreviewSettings:
    """``genie data preview``'s options."""

    store: Path = option(help="episode store directory", positional=True)
    out: Path = option(help="output .gif file")
    episodes: int = option(4, "episodes in the grid (default 4)")
    frames: int = option(64, "time steps in the animation (default 64)")
    scale: int = option(2, "upscaling factor (default 2)")
    fps: float = option(15.0, "GIF frames per second (default 15)")
    split: str = option("all", choices=SPLITS)
    game: list[str] | None = option(None, "only this game (repeatable)", action="append")


@dataclass(kw_only=True)
class ImportSettings:
    """``genie data import``'s options."""

    file: Path = option(help="interchange .npz: frames uint8 (E,T,64,64,3), actions int64 (E,T-1)", positional=True)
    game: str = option(help="annotated game the episodes belong to, e.g. SMB (the store sub-directory)")
    out: Path = option(help="episode store directory")
    agent: str = option("import", "agent name recorded in meta.json")
    frame_skip: int = option(FRAME_SKIP, "frame skip recorded in meta.json")


@dataclass(kw_only=True)
class ExportSettings:
    """``genie data export``'s options."""

    store: Path = option(help="episode store directory", positional=True)
    out: Path = option(help="output .npz file")
    split: str = option("all", choices=SPLITS)
    game: list[str] | None = option(None, "only this game (repeatable)", action="append")
    length: int | None = option(None, "cut every episode to T frames, leaving out shorter ones (default: the shortest)")
    compress: bool = option(False, "np.savez_compressed (smaller, slower)")


@dataclass(kw_only=True)
class MixSettings:
    """``genie data mix``'s options."""

    sources: list[str] = option(help="source stores, DIR or DIR:K to include DIR's episodes K times", positional=True)
    out: Path = option(help="new episode store directory (must not exist)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie data`` to the command line."""
    parser = subparsers.add_parser("data", help="inspect, preview, import, export and mix episode stores")
    actions = parser.add_subparsers(dest="data_action", metavar="ACTION", required=True)
    for name, help_text, settings_class, func in (
        ("info", "episodes and frames per game, split and start state, bad episodes, disk size", InfoSettings, _info),
        ("preview", "animated GIF of a few episodes side by side", PreviewSettings, _preview),
        ("import", "add the episodes of an interchange .npz to a store", ImportSettings, _import),
        ("export", "write a store's episodes to an interchange .npz", ExportSettings, _export),
        ("mix", "a new store linking the episodes of several stores (repeat counts)", MixSettings, _mix),
    ):
        add_subcommand(actions, name, settings_class, func, help=help_text)


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TB"


def _info(args: argparse.Namespace) -> int:
    from genie_gym.data.store import CorruptEpisodeError, EpisodeStore, check_episode, validation_indices

    settings = from_args(InfoSettings, args)
    store = EpisodeStore(settings.store)
    if not store.root.is_dir():
        raise FileNotFoundError(f"no episode store at {store.root}")
    rows = []
    bad: list[CorruptEpisodeError] = []
    totals = {"episodes": 0, "frames": 0}
    per_state: list[tuple[str, str, int, int]] = []
    for game in store.games():
        indices = store.indices(game)
        val = validation_indices(game, indices)
        counts = {"train": [0, 0], "val": [0, 0]}
        states: dict[str, list[int]] = {}
        for index in indices:
            try:
                meta = check_episode(store.ref(game, index), verify=settings.verify)
            except CorruptEpisodeError as exc:
                bad.append(exc)
                continue
            length = meta["length"]
            split = "val" if index in val else "train"
            counts[split][0] += 1
            counts[split][1] += length
            state = _state_label(game, meta)
            states.setdefault(state, [0, 0])
            states[state][0] += 1
            states[state][1] += length
        per_state.extend((game, state, n, frames) for state, (n, frames) in sorted(states.items()))
        for split, (episodes, frames) in counts.items():
            rows.append((game, split, episodes, frames))
            totals["episodes"] += episodes
            totals["frames"] += frames
        rows.append((game, "disk", _human_bytes(store.disk_bytes(game)), ""))
    print(f"store {store.root}: {len(store.games())} games, {totals['episodes']} good episodes, "
          f"{totals['frames']} frames, {_human_bytes(store.disk_bytes())} on disk")
    if rows:
        width = max(8, *(len(r[0]) for r in rows))
        print(f"{'game':<{width}}  {'split':<5}  {'episodes':>10}  {'frames':>10}")
        for game, split, episodes, frames in rows:
            if split == "disk":
                print(f"{game:<{width}}  {'disk':<5}  {episodes:>10}")
            else:
                print(f"{game:<{width}}  {split:<5}  {episodes:>10}  {frames:>10}")
    if per_state:
        width = max(8, *(len(r[0]) for r in per_state))
        state_width = max(11, *(len(r[1]) for r in per_state))
        print("episodes per start state:")
        print(f"{'game':<{width}}  {'start state':<{state_width}}  {'episodes':>10}  {'frames':>10}")
        for game, state, episodes, frames in per_state:
            print(f"{game:<{width}}  {state:<{state_width}}  {episodes:>10}  {frames:>10}")
    temps = store.temp_dirs()
    if temps:
        print(f"{len(temps)} temporary directories (in-progress or left by killed writers; a rerun of the "
              "collection removes stale ones)")
    if bad:
        print(f"{len(bad)} bad episodes:")
        for exc in bad:
            print(f"  {exc}")
        return 1
    print("bad episodes: none")
    return 0


def _state_label(game: str, meta: dict) -> str:
    """The start state an episode's ``meta.json`` records (``genie collect`` writes it); ``None`` there: the game
    starts from power-on. Episodes from before it was recorded, or imported ones, have none: ``default`` (the game's
    default start state, named when the store's game is annotated)."""
    if "state" in meta:
        return meta["state"] if meta["state"] is not None else "power-on"
    return _default_state_label(game)


_DEFAULT_STATE_LABELS: dict[str, str] = {}


def _default_state_label(game: str) -> str:
    if game not in _DEFAULT_STATE_LABELS:
        label = "default (not recorded)"
        try:
            from genie_gym.games import get_game
            from genie_gym.roms import default_start_state

            default = default_start_state(get_game(game).retro_game)
            if default is not None:
                label = f"{default} (default, not recorded)"
        except KeyError:  # not an annotated game (imported episodes)
            pass
        _DEFAULT_STATE_LABELS[game] = label
    return _DEFAULT_STATE_LABELS[game]


def _preview(args: argparse.Namespace) -> int:
    from genie_gym.data.preview import write_preview

    settings = from_args(PreviewSettings, args)
    path = write_preview(settings.store, settings.out, episodes=settings.episodes, frames=settings.frames,
                         scale=settings.scale, fps=settings.fps, split=settings.split, games=settings.game)
    print(f"wrote {path}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from genie_gym.data.interchange import import_npz

    settings = from_args(ImportSettings, args)
    summary = import_npz(settings.file, settings.out, settings.game, agent=settings.agent,
                         frame_skip=settings.frame_skip)
    refs = summary.refs
    already = f"; {summary.skipped} were already imported" if summary.skipped else ""
    print(f"imported {summary.imported} episodes into {settings.out / refs[0].game} "
          f"({min(r.path.name for r in refs)} .. {max(r.path.name for r in refs)}){already}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from genie_gym.data.interchange import export_npz

    settings = from_args(ExportSettings, args)
    summary = export_npz(settings.store, settings.out, split=settings.split, games=settings.game,
                         length=settings.length, compress=settings.compress)
    skipped = f"; {summary.skipped} shorter episodes left out" if summary.skipped else ""
    print(f"wrote {summary.episodes} episodes of {summary.length} frames to {summary.path}{skipped}")
    return 0


def _mix(args: argparse.Namespace) -> int:
    from genie_gym.data.mix import MixSource, mix_stores

    settings = from_args(MixSettings, args)
    summary = mix_stores([MixSource.parse(text) for text in settings.sources], settings.out)
    games = ", ".join(f"{game} {count}" for game, count in summary.episodes.items())
    print(f"mixed {sum(summary.episodes.values())} episodes ({games}) into {settings.out} as links; "
          f"{summary.cached_files} cached arrays (token ids, LAM codes) linked")
    return 0
