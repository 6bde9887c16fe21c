"""``genie eval``: the paper's evaluation protocol on a world-model checkpoint (see genie_gym.evaluation)."""

from __future__ import annotations

import argparse
from pathlib import Path

from genie_gym.data.store import EpisodeStore
from genie_gym.evaluation import EvalSettings, evaluate, evaluation_games, load_evaluation_data
from genie_gym.games import select_games
from genie_gym.options import add_options, from_args
from genie_gym.world_model import WorldModel


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie eval`` to the command line."""
    parser = subparsers.add_parser("eval", help="PSNR / SSIM / ΔPSNR / FID of a world model on held-out episodes, next "
                                                "to the repeated last frame, per motion stratum")
    parser.add_argument("--checkpoint", required=True, help="world-model directory (tokenizer/ + dynamics/) or 'smb'")
    parser.add_argument("--data", required=True, help="episode store (its --split is used) or interchange .npz")
    parser.add_argument("--split", default="val", choices=["train", "val", "all"])
    parser.add_argument("--games", default=None,
                        help="only these games' episodes of the store (comma-separated or a group; default: all)")
    add_options(parser, EvalSettings)
    parser.add_argument("--json", default=None, help="write the numbers here (keys psnr, psnr_se, ssim, delta_psnr, "
                                                     "tokenizer_psnr, fid, copy_psnr, copy_ssim, copy_tokenized_psnr, "
                                                     "psnr_gain_over_copy[_se], strata, camera_strata, ...)")
    parser.add_argument("--grid", default=None, help="PNG grid: ground truth / prediction / random-action prediction")
    parser.add_argument("--grid-overlay", action="store_true",
                        help="draw each predicted frame's uncertainty heat map over it in the --grid image (as "
                             "`genie play --overlay` does over the dream: the reward a dream pays for that frame, "
                             "dark blue sure, red unsure); the ground truth stays uncovered")
    parser.add_argument("--fid-weights", default=None, help="local FID Inception-v3 weights (never downloaded)")
    parser.add_argument("--device", default="cpu")
    parser.set_defaults(func=_eval)


def _store_games(data: str, specs: str | None) -> list[str] | None:
    """The store's games that ``--games`` names (checked before any model is loaded), or None for all."""
    if specs is None:
        return None
    if Path(data).suffix == ".npz":
        raise ValueError("--games picks episodes of an episode store; an interchange .npz does not say its games: "
                         "drop --games")
    return select_games(specs, EpisodeStore(data).games(), f"the store {data}")


def _eval(args: argparse.Namespace) -> int:
    if args.grid_overlay and not args.grid:
        raise ValueError("--grid-overlay draws on the comparison grid: pass --grid FILE.png too")
    settings = from_args(EvalSettings, args)
    games = _store_games(args.data, args.games)
    world_model = WorldModel.from_pretrained(args.checkpoint, device=args.device)
    frames, actions = load_evaluation_data(args.data, settings, split=args.split, games=games)
    result = evaluate(world_model, frames, actions, settings, fid_weights=args.fid_weights, grid_path=args.grid,
                      grid_overlay=args.grid_overlay, data_games=evaluation_games(args.data, args.split, games))
    print(result.table())
    if args.json:
        result.to_json(args.json)
        print(f"wrote {args.json}")
    if args.grid:
        print(f"wrote {args.grid}")
    return 0
