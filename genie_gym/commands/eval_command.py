"""``genie eval``: the paper's evaluation protocol on a world-model checkpoint (see genie_gym.evaluation)."""

from __future__ import annotations

import argparse
from pathlib import Path

from genie_gym.data.store import EpisodeStore
from genie_gym.evaluation import EvalSettings, evaluate, evaluation_games, load_evaluation_data
from genie_gym.games import select_games
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
    parser.add_argument("--mode", default="single", choices=["single", "autoregressive"])
    parser.add_argument("--frames-per-step", type=int, default=2, help="frames generated at a time (autoregressive)")
    parser.add_argument("--maskgit-steps", type=int, default=EvalSettings.maskgit_steps,
                        help="MaskGIT steps per decode (default %(default)s, the protocol's, whatever the checkpoint's "
                             "dream.json says)")
    parser.add_argument("--temperature", type=float, default=None,
                        help="sampling temperature (default: the checkpoint's dream.json, else 1)")
    parser.add_argument("--action-guidance", type=float, default=None,
                        help="action-guidance weight w (default: the checkpoint's dream.json, 0 = none)")
    parser.add_argument("--hold-pixels", action=argparse.BooleanOptionalAction, default=None,
                        help="copy the pixels of patches whose predicted id repeats the previous frame's (default: the "
                             "checkpoint's dream.json)")
    parser.add_argument("--hold-bias", type=float, default=None,
                        help="log-probability bonus of each patch's previous id while sampling (default: the "
                             "checkpoint's dream.json, 0 = none)")
    parser.add_argument("--change-temperature", type=float, default=None,
                        help="temperature of each patch's draw between keeping its previous id and changing (default: "
                             "the checkpoint's dream.json, 0 = off, 1 = the model's own odds)")
    parser.add_argument("--max-sequences", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
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
    settings = EvalSettings(mode=args.mode, frames_per_step=args.frames_per_step, maskgit_steps=args.maskgit_steps,
                            temperature=args.temperature, action_guidance=args.action_guidance,
                            hold_pixels=args.hold_pixels, hold_bias=args.hold_bias,
                            change_temperature=args.change_temperature, max_sequences=args.max_sequences,
                            batch_size=args.batch_size, seed=args.seed)
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
