"""``genie data info|preview|import|export|mix``: inspect, preview, convert and mix episode stores
(docs/DATA_FORMAT.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from genie_gym.conventions import FRAME_SKIP

# Each subcommand imports what it runs inside its function: every `genie` invocation imports this module to build
# its parser.


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie data`` to the command line."""
    parser = subparsers.add_parser("data", help="inspect, preview, import, export and mix episode stores")
    actions = parser.add_subparsers(dest="data_action", metavar="ACTION", required=True)

    info = actions.add_parser("info", help="episodes and frames per game, split and start state, bad episodes, "
                                           "disk size")
    info.add_argument("store", type=Path, help="episode store directory")
    info.add_argument("--verify", action="store_true", help="also check every array's sha256 (reads all data)")
    info.set_defaults(func=_info)

    preview = actions.add_parser("preview", help="animated GIF of a few episodes side by side")
    preview.add_argument("store", type=Path, help="episode store directory")
    preview.add_argument("--out", type=Path, required=True, help="output .gif file")
    preview.add_argument("--episodes", type=int, default=4, help="episodes in the grid (default 4)")
    preview.add_argument("--frames", type=int, default=64, help="time steps in the animation (default 64)")
    preview.add_argument("--scale", type=int, default=2, help="upscaling factor (default 2)")
    preview.add_argument("--fps", type=float, default=15.0, help="GIF frames per second (default 15)")
    preview.add_argument("--split", choices=("train", "val", "all"), default="all")
    preview.add_argument("--game", action="append", default=None, help="only this game (repeatable)")
    preview.set_defaults(func=_preview)

    importer = actions.add_parser("import", help="add the episodes of an interchange .npz to a store")
    importer.add_argument("file", type=Path, help="interchange .npz: frames uint8 (E,T,64,64,3), actions int64 (E,T-1)")
    importer.add_argument("--game", required=True,
                          help="annotated game the episodes belong to, e.g. SMB (the store sub-directory)")
    importer.add_argument("--out", type=Path, required=True, help="episode store directory")
    importer.add_argument("--agent", default="import", help="agent name recorded in meta.json")
    importer.add_argument("--frame-skip", type=int, default=FRAME_SKIP, help="frame skip recorded in meta.json")
    importer.set_defaults(func=_import)

    exporter = actions.add_parser("export", help="write a store's episodes to an interchange .npz")
    exporter.add_argument("store", type=Path, help="episode store directory")
    exporter.add_argument("--out", type=Path, required=True, help="output .npz file")
    exporter.add_argument("--split", choices=("train", "val", "all"), default="all")
    exporter.add_argument("--game", action="append", default=None, help="only this game (repeatable)")
    exporter.add_argument("--length", type=int, default=None,
                          help="cut every episode to T frames, leaving out shorter ones (default: the shortest)")
    exporter.add_argument("--compress", action="store_true", help="np.savez_compressed (smaller, slower)")
    exporter.set_defaults(func=_export)

    mixer = actions.add_parser("mix", help="a new store linking the episodes of several stores (repeat counts)")
    mixer.add_argument("sources", nargs="+", help="source stores, DIR or DIR:K to include DIR's episodes K times")
    mixer.add_argument("--out", type=Path, required=True, help="new episode store directory (must not exist)")
    mixer.set_defaults(func=_mix)


def _human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} TB"


def _info(args: argparse.Namespace) -> int:
    from genie_gym.data.store import CorruptEpisodeError, EpisodeStore, check_episode, validation_indices

    store = EpisodeStore(args.store)
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
                meta = check_episode(store.ref(game, index), verify=args.verify)
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

    path = write_preview(args.store, args.out, episodes=args.episodes, frames=args.frames, scale=args.scale,
                         fps=args.fps, split=args.split, games=args.game)
    print(f"wrote {path}")
    return 0


def _import(args: argparse.Namespace) -> int:
    from genie_gym.data.interchange import import_npz

    summary = import_npz(args.file, args.out, args.game, agent=args.agent, frame_skip=args.frame_skip)
    refs = summary.refs
    already = f"; {summary.skipped} were already imported" if summary.skipped else ""
    print(f"imported {summary.imported} episodes into {Path(args.out) / refs[0].game} "
          f"({min(r.path.name for r in refs)} .. {max(r.path.name for r in refs)}){already}")
    return 0


def _export(args: argparse.Namespace) -> int:
    from genie_gym.data.interchange import export_npz

    summary = export_npz(args.store, args.out, split=args.split, games=args.game, length=args.length,
                         compress=args.compress)
    skipped = f"; {summary.skipped} shorter episodes left out" if summary.skipped else ""
    print(f"wrote {summary.episodes} episodes of {summary.length} frames to {summary.path}{skipped}")
    return 0


def _mix(args: argparse.Namespace) -> int:
    from genie_gym.data.mix import MixSource, mix_stores

    summary = mix_stores([MixSource.parse(text) for text in args.sources], args.out)
    games = ", ".join(f"{game} {count}" for game, count in summary.episodes.items())
    print(f"mixed {sum(summary.episodes.values())} episodes ({games}) into {args.out} as links; "
          f"{summary.cached_files} cached arrays (token ids, LAM codes) linked")
    return 0
