"""``genie world-model pack``: assemble a dream-ready world-model directory from a tokenizer and a dynamics run."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import torch

from genie_gym.atomic import atomic_write_text
from genie_gym.games import UnknownGameError, get_game, resolve_games, select_games
from genie_gym.models.checkpoint_io import CONFIG_FILE, load_pretrained
from genie_gym.models.configs import TRAINING_OPTIONS_FILE, get_training_options
from genie_gym.options import add_subcommand, from_args, option
from genie_gym.trainers.run_dir import holds_model, resolve_model_checkpoint
from genie_gym.world_model import DREAM_DEFAULTS, GAMES_DIR, GAMES_KEY, WorldModel


@dataclass(kw_only=True)
class PackSettings:
    """``genie world-model pack``'s options."""

    tokenizer: str = option(help="tokenizer run directory or checkpoint directory")
    dynamics: str = option(help="dynamics run directory or checkpoint directory")
    lam: str | None = option(None, "GenieRedux (latent-action dynamics): the LAM run or checkpoint its actions came "
                                   "from (needed to evaluate it)")
    games: list[str] | None = option(None, "the games of the world model (names, groups or comma-separated mixes): "
                                           "each gets a GenieDream-<Game>-v0 that resets from its real frames; "
                                           "default: the games the dynamics run trained on (SMB when that is not "
                                           "recorded)", metavar="GAME")
    game: str | None = option(None, "the game the dream resets from by default (one of --games; default: the first); "
                                    "alone, the world model's one game")
    out: str = option(help="output directory (tokenizer/, dynamics/, dream.json)")
    fp16: bool = option(False, "store the weights in float16 (loaded back as float32)")
    settings: str | None = option(None, "JSON of dream settings (context_frames, maskgit_steps, ...)")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie world-model`` to the command line."""
    parser = subparsers.add_parser("world-model", help="assemble a world-model directory for dreams and eval")
    actions = parser.add_subparsers(dest="world_model_action", metavar="ACTION", required=True)
    add_subcommand(actions, "pack", PackSettings, _pack,
                   help="tokenizer + dynamics (+ dream settings) -> one directory")


def trained_games(dynamics: str | Path, checkpoint: Path) -> list[str] | None:
    """The games a dynamics run trained on, as its ``config.json`` records them (``model.data.games``), for a run
    directory or one of its ``checkpoints/step_*``; ``None`` for a checkpoint outside a run (e.g. a packed
    ``dynamics/``)."""
    for run in (Path(dynamics), checkpoint.parent.parent):
        path = run / CONFIG_FILE
        if not path.is_file() or holds_model(run):
            continue
        games = json.loads(path.read_text()).get("model", {}).get("data", {}).get("games")
        if games:
            return [str(game) for game in games]
    return None


def pack_games(pack: PackSettings, dynamics_dir: Path) -> tuple[list[str], str]:
    """``(games, default game)`` of the world model: ``--games`` (checked against the games the dynamics run trained
    on), else ``--game`` alone, else the run's games (those the annotation table knows: a dream resets from the real
    game), else SMB."""
    trained = trained_games(pack.dynamics, dynamics_dir)
    if pack.games:
        if trained is not None:
            games = select_games(pack.games, trained, f"the training data of the dynamics run {pack.dynamics}")
        else:
            games = list(dict.fromkeys(game.name for spec in pack.games for game in resolve_games(spec)))
    elif pack.game is not None:
        games = [get_game(pack.game).name]
        if trained is not None and games[0].lower() not in map(str.lower, trained):
            print(f"note: the dynamics run {pack.dynamics} trained on {', '.join(trained)}, not on {games[0]}")
    else:
        games = []
        for name in trained or []:
            try:
                games.append(get_game(name).name)
            except UnknownGameError:
                print(f"note: the dynamics run trained on {name!r}, which is not an annotated game: no dream of it "
                      "can reset from its real frames, so the world model leaves it out")
        games = list(dict.fromkeys(games)) or [str(DREAM_DEFAULTS["game"])]
    if pack.game is None:
        return games, games[0]
    return games, select_games(pack.game, games, f"--games ({', '.join(games)})", option="--game")[0]


def _pack(args: argparse.Namespace) -> int:
    pack = from_args(PackSettings, args)
    tokenizer_dir = resolve_model_checkpoint(pack.tokenizer)
    tokenizer = load_pretrained(tokenizer_dir, expected_kind="tokenizer")
    dynamics_dir = resolve_model_checkpoint(pack.dynamics)
    games, game = pack_games(pack, dynamics_dir)
    settings: dict = {"game": game}
    if len(games) > 1:
        settings[GAMES_KEY] = games
    if pack.settings:
        settings.update(json.loads(Path(pack.settings).read_text()))
        if settings["game"] not in games or settings.get(GAMES_KEY, games) != games:
            raise ValueError(f"--settings {pack.settings} sets the games ({settings.get(GAMES_KEY)}, game "
                             f"{settings['game']}): name them with --games / --game instead")
    dynamics = load_pretrained(dynamics_dir, expected_kind="dynamics")
    lam_dir = resolve_model_checkpoint(pack.lam) if pack.lam else None
    lam = load_pretrained(lam_dir, expected_kind="lam") if lam_dir is not None else None
    if dynamics.config.action_source == "latent" and lam is None:
        print("note: this GenieRedux dynamics takes latent actions; without --lam the world model cannot infer them "
              "from frames (genie eval needs it)")
    world_model = WorldModel(tokenizer, dynamics, settings, lam=lam)  # checks that the codebooks (and LAM) match
    out = world_model.save_pretrained(pack.out, dtype=torch.float16 if pack.fp16 else None)
    # the options each model trained with go along, so `genie train KIND --init OUT/KIND` continues with them
    for kind, source in (("tokenizer", tokenizer_dir), ("dynamics", dynamics_dir), ("lam", lam_dir)):
        if source is not None:
            options = get_training_options(kind, source / CONFIG_FILE)
            atomic_write_text(out / kind / TRAINING_OPTIONS_FILE, json.dumps(options.to_dict(), indent=2) + "\n")
    if len(games) == 1:
        print(f"wrote world model {out} (game {game}); play it with genie play {out}, evaluate it with "
              f"genie eval --checkpoint {out}, or make it a gym env: genie_gym.envs.registration.register_dreams("
              f"'{out}') registers GenieDream-{game}-v0 (genie_gym.register_dream('GenieDream-Mine-v0', '{out}') "
              "another id)")
        return 0
    print(f"wrote world model {out} of {len(games)} games ({', '.join(games)}; default {game}): "
          f"genie_gym.envs.registration.register_dreams('{out}') registers "
          f"{', '.join(f'GenieDream-{name}-v0' for name in games)}, each resetting from its game's real frames; play "
          f"one with genie play {out}/{GAMES_DIR}/<Game>, evaluate it with genie eval --checkpoint {out}")
    return 0
