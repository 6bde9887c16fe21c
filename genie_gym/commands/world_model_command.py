"""``genie world-model pack``: assemble a dream-ready world-model directory from a tokenizer and a dynamics run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from genie_gym.atomic import atomic_write_text
from genie_gym.games import get_game
from genie_gym.models.checkpoint_io import CONFIG_FILE, load_pretrained
from genie_gym.models.configs import TRAINING_OPTIONS_FILE, get_training_options
from genie_gym.trainers.run_dir import resolve_model_checkpoint
from genie_gym.world_model import WorldModel


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie world-model`` to the command line."""
    parser = subparsers.add_parser("world-model", help="assemble a world-model directory for dreams and eval")
    actions = parser.add_subparsers(dest="world_model_action", metavar="ACTION", required=True)
    pack = actions.add_parser("pack", help="tokenizer + dynamics (+ dream settings) -> one directory")
    pack.add_argument("--tokenizer", required=True, help="tokenizer run directory or checkpoint directory")
    pack.add_argument("--dynamics", required=True, help="dynamics run directory or checkpoint directory")
    pack.add_argument("--lam", default=None, help="GenieRedux (latent-action dynamics): the LAM run or checkpoint "
                                                  "its actions came from (needed to evaluate it)")
    pack.add_argument("--game", default="SMB", help="the game the dream resets from (annotated name)")
    pack.add_argument("--out", required=True, help="output directory (tokenizer/, dynamics/, dream.json)")
    pack.add_argument("--fp16", action="store_true", help="store the weights in float16 (loaded back as float32)")
    pack.add_argument("--settings", default=None, help="JSON of dream settings (context_frames, maskgit_steps, ...)")
    pack.set_defaults(func=_pack)


def _pack(args: argparse.Namespace) -> int:
    settings = {"game": get_game(args.game).name}
    if args.settings:
        settings.update(json.loads(Path(args.settings).read_text()))
    tokenizer = load_pretrained(resolve_model_checkpoint(args.tokenizer), expected_kind="tokenizer")
    dynamics_dir = resolve_model_checkpoint(args.dynamics)
    dynamics = load_pretrained(dynamics_dir, expected_kind="dynamics")
    lam = load_pretrained(resolve_model_checkpoint(args.lam), expected_kind="lam") if args.lam else None
    if dynamics.config.action_source == "latent" and lam is None:
        print("note: this GenieRedux dynamics takes latent actions; without --lam the world model cannot infer them "
              "from frames (genie eval needs it)")
    world_model = WorldModel(tokenizer, dynamics, settings, lam=lam)  # checks that the codebooks (and LAM) match
    out = world_model.save_pretrained(args.out, dtype=torch.float16 if args.fp16 else None)
    # the options the dynamics trained with go along, so `genie train dynamics --init OUT/dynamics` continues with them
    options = get_training_options("dynamics", dynamics_dir / CONFIG_FILE)
    atomic_write_text(out / "dynamics" / TRAINING_OPTIONS_FILE, json.dumps(options.to_dict(), indent=2) + "\n")
    print(f"wrote world model {out} (game {settings['game']}); play it with genie play {out}, evaluate it with "
          f"genie eval --checkpoint {out}, or make it a gym env: genie_gym.register_dream('GenieDream-Mine-v0', "
          f"'{out}')")
    return 0
