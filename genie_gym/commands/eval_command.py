"""``genie eval``: the paper's evaluation protocol on a world-model checkpoint (see genie_gym.evaluation)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from genie_gym.commands.data_command import SPLITS
from genie_gym.data.store import EpisodeStore
from genie_gym.evaluation import EvalSettings, evaluate, evaluation_games, load_evaluation_data
from genie_gym.games import select_games
from genie_gym.options import add_options, from_args, option
from genie_gym.world_model import WorldModel


@dataclass(kw_only=True)
class EvalData:
    """``genie eval``'s options that say what is evaluated (before the protocol's, :class:`EvalSettings`)."""

    checkpoint: str = option(help="world-model directory (tokenizer/ + dynamics/) or 'smb'")
    data: str = option(help="episode store (its --split is used) or interchange .npz")
    split: str = option("val", choices=SPLITS)
    games: str | None = option(None, "only these games' episodes of the store (comma-separated or a group; default: "
                                     "all)")


@dataclass(kw_only=True)
class EvalOutputs:
    """``genie eval``'s options that say what is written and what it runs with (after the protocol's)."""

    json: str | None = option(None, "write the numbers here (keys psnr, psnr_se, ssim, delta_psnr, tokenizer_psnr, "
                                    "fid, copy_psnr, copy_ssim, copy_tokenized_psnr, psnr_gain_over_copy[_se], "
                                    "strata, camera_strata, ...)")
    grid: str | None = option(None, "PNG grid: ground truth / prediction / random-action prediction")
    grid_overlay: bool = option(False, "draw each predicted frame's uncertainty heat map over it in the --grid image "
                                       "(as `genie play --overlay` does over the dream: the reward a dream pays for "
                                       "that frame, dark blue sure, red unsure); the ground truth stays uncovered")
    fid_weights: str | None = option(None, "local FID Inception-v3 weights (never downloaded)")
    device: str = option("cpu")

    def __post_init__(self) -> None:
        if self.grid_overlay and not self.grid:
            raise ValueError("--grid-overlay draws on the comparison grid: pass --grid FILE.png too")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie eval`` to the command line."""
    parser = subparsers.add_parser("eval", help="PSNR / SSIM / ΔPSNR / FID of a world model on held-out episodes, next "
                                                "to the repeated last frame, per motion stratum")
    for settings_class in (EvalData, EvalSettings, EvalOutputs):
        add_options(parser, settings_class)
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
    outputs = from_args(EvalOutputs, args)
    settings = from_args(EvalSettings, args)
    source = from_args(EvalData, args)
    games = _store_games(source.data, source.games)
    world_model = WorldModel.from_pretrained(source.checkpoint, device=outputs.device)
    frames, actions = load_evaluation_data(source.data, settings, split=source.split, games=games)
    result = evaluate(world_model, frames, actions, settings, fid_weights=outputs.fid_weights, grid_path=outputs.grid,
                      grid_overlay=outputs.grid_overlay, data_games=evaluation_games(source.data, source.split, games))
    print(result.table())
    if outputs.json:
        result.to_json(outputs.json)
        print(f"wrote {outputs.json}")
    if outputs.grid:
        print(f"wrote {outputs.grid}")
    return 0
