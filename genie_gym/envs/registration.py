"""Gymnasium ids for genie-gym: ``GenieRetro-<Game>-v0`` for the annotated games and ``GenieDream-<Name>-v0``.

``import genie_gym`` registers ``GenieRetro-<Game>-v0`` for the games checked on clips (``verified`` rows of the
annotation table) and for every annotated game whose ROM genie-gym installed or imported (one directory listing of its
integration directory): :func:`eager_retro_games`. Registering all ~1,000 annotated games would add ~70 ms to the import
(Gymnasium checks every new id against the whole registry), so any other annotated game is registered on demand:
:func:`register_retro_envs` (``register_retro_envs("all")``, or names), :func:`resolve_env_id` (``genie play`` /
``genie explore``), and ``genie roms import`` for the games it imports. ``GenieRetroEnv(game)`` needs no id.

Every id is registered with ``max_episode_steps=DEFAULT_MAX_EPISODE_STEPS`` (1000): ``gym.make`` wraps the env in
Gymnasium's ``TimeLimit``, the env's only step limit (``gym.make(id, max_episode_steps=N)`` changes it,
``gym.spec(id).max_episode_steps`` shows it).

Every id also has a ``vector_entry_point``, what ``gym.make_vec(id, num_envs=N)`` builds when
``vectorization_mode`` is left out (or is ``"vector_entry_point"``): for a dream,
:class:`~genie_gym.envs.dream_vector_env.GenieDreamVectorEnv` (``N`` dreams in one forward pass); for a real game,
``N`` games in subprocesses (:func:`make_retro_vector_env`; stable-retro allows one emulator per process).
``vectorization_mode="sync"`` / ``"async"`` still give Gymnasium's own vector envs of single envs.

A world model trained on several games (``genie world-model pack --games ...``) has one dream per game:
:func:`register_dreams` registers ``GenieDream-<Game>-v0`` for each, each resetting from its own game's real frames
(the checkpoint of each is the model's game view ``games/<Game>/``, docs/DESIGN.md §9); :func:`resolve_env_id` does the
same for such a directory given to ``genie play``.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import gymnasium as gym

from genie_gym.games import Game, get_game, load_games, table_ids

# Imported inside the functions: genie_gym.roms (it imports this module: circular) and genie_gym.world_model (torch,
# which `import genie_gym` does not load).

RETRO_ENTRY_POINT = "genie_gym.envs.retro_env:GenieRetroEnv"
RETRO_VECTOR_ENTRY_POINT = "genie_gym.envs.registration:make_retro_vector_env"
DEFAULT_MAX_EPISODE_STEPS = 1000


def make_retro_vector_env(num_envs: int, game: str, max_episode_steps: int | None = None,
                          **kwargs: Any) -> gym.vector.AsyncVectorEnv:
    """``vector_entry_point`` of the ``GenieRetro-<Game>-v0`` ids: ``num_envs`` real games, one per subprocess
    (``gymnasium.vector.AsyncVectorEnv``), each made as ``gym.make(id, max_episode_steps=..., **kwargs)``."""
    if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
        raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
    # "genie_gym:" makes gym.make import genie_gym (which registers the ids) in spawn / forkserver workers too
    make = functools.partial(gym.make, f"genie_gym:{get_game(game).env_id}", max_episode_steps=max_episode_steps,
                             **kwargs)
    return gym.vector.AsyncVectorEnv([make] * num_envs)


def _games_with_installed_rom() -> set[str]:
    """The stable-retro names of the games whose ROM genie-gym installed or imported (``rom.<ext>`` in their folder
    of :func:`genie_gym.roms.integrations_dir`); cheap: no stable-retro import, one listing per installed game."""
    from genie_gym.roms import integrations_dir

    found = set()
    try:
        entries = list(os.scandir(integrations_dir()))
    except OSError:
        return found
    for entry in entries:
        try:
            if entry.is_dir() and any(n.startswith("rom.") for n in os.listdir(entry.path)):
                found.add(entry.name)
        except OSError:
            continue
    return found


def eager_retro_games() -> list[tuple[str, str]]:
    """``(name, env id)`` of the games whose ``GenieRetro-<Game>-v0`` id ``import genie_gym`` registers: the verified
    rows and every row whose ROM genie-gym installed or imported."""
    installed = _games_with_installed_rom()
    return [(name, f"GenieRetro-{name}-v0") for name, retro_game, verified in table_ids()
            if verified or retro_game in installed]


def register_retro_envs(games: str | Iterable[str | Game] | None = None) -> list[str]:
    """Register ``GenieRetro-<name>-v0`` ids (idempotent); returns them.

    ``None``: :func:`eager_retro_games` (what ``import genie_gym`` does); ``"all"``: every annotated game (~1,000, about
    70 ms); otherwise game names (short or stable-retro) or :class:`~genie_gym.games.Game` objects.
    """
    if games is None:
        selected = eager_retro_games()
    elif isinstance(games, str) and games.lower() == "all":
        selected = [(game.name, game.env_id) for game in load_games()]
    else:
        chosen = [get_game(g) if isinstance(g, str) else g for g in ([games] if isinstance(games, str) else games)]
        selected = [(game.name, game.env_id) for game in chosen]
    ids = []
    for name, env_id in selected:
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=RETRO_ENTRY_POINT, kwargs={"game": name},
                         max_episode_steps=DEFAULT_MAX_EPISODE_STEPS, vector_entry_point=RETRO_VECTOR_ENTRY_POINT)
        ids.append(env_id)
    return ids


_RETRO_ID = re.compile(r"^GenieRetro-(.+)-v0$")
_DREAM_ID = re.compile(r"^GenieDream-(.+)-v0$")
DREAM_ENTRY_POINT = "genie_gym.envs.dream_env:GenieDreamEnv"
DREAM_VECTOR_ENTRY_POINT = "genie_gym.envs.dream_vector_env:GenieDreamVectorEnv"
SHIPPED_DREAMS = {"GenieDream-SMB-v0": "smb"}


def register_dream(env_id: str, checkpoint: str, max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS,
                   **kwargs) -> str:
    """Register a dream env for any world-model checkpoint directory (or shipped name); returns ``env_id``.

    ``max_episode_steps`` is the spec's limit (Gymnasium's ``TimeLimit``); ``kwargs`` go to
    :class:`~genie_gym.envs.dream_env.GenieDreamEnv`. Example: ``register_dream("GenieDream-MyMario-v0",
    "runs/my_world_model")`` then ``gym.make(...)``. For a world model of several games the dream resets from its
    default game, or from ``<Game>`` when ``env_id`` is ``GenieDream-<Game>-v0`` of one of its games
    (:func:`register_dreams` registers them all).
    """
    if not env_id.startswith("GenieDream-"):
        raise ValueError(f"dream env ids start with 'GenieDream-' (so `genie play` can pair them), got {env_id!r}")
    named = _DREAM_ID.match(env_id)
    if named is not None and Path(str(checkpoint)).is_dir():
        from genie_gym.world_model import game_checkpoint, world_model_games

        games = world_model_games(checkpoint)
        game = next((g for g in games if g.lower() == named.group(1).lower()), None)
        if len(games) > 1 and game is not None:
            return _register_dream(env_id, str(game_checkpoint(checkpoint, game)), max_episode_steps, **kwargs)
    return _register_dream(env_id, str(checkpoint), max_episode_steps, **kwargs)


def register_dreams(checkpoint: str | os.PathLike, max_episode_steps: int = DEFAULT_MAX_EPISODE_STEPS,
                    **kwargs: Any) -> list[str]:
    """Register ``GenieDream-<Game>-v0`` for each game of a world model (a directory or shipped name); returns the
    ids, its default game's first. Each id's dream resets from its own game's real frames (a multi-game model's game
    view ``games/<Game>/``), with that game's button map. An id already registered (e.g. the shipped
    ``GenieDream-SMB-v0``) is replaced in this process. ``max_episode_steps`` and ``kwargs``: as
    :func:`register_dream`."""
    from genie_gym.world_model import game_checkpoint, read_dream_json, resolve_checkpoint, world_model_games

    directory = resolve_checkpoint(checkpoint)
    games = world_model_games(directory)
    default = str(read_dream_json(directory).get("game") or games[0])
    games = sorted(games, key=lambda game: game != default)
    return [_register_dream(f"GenieDream-{game}-v0", str(game_checkpoint(directory, game)), max_episode_steps,
                            **kwargs) for game in games]


def _register_dream(env_id: str, checkpoint: str, max_episode_steps: int, **kwargs: Any) -> str:
    if env_id in gym.registry:
        del gym.registry[env_id]
    gym.register(id=env_id, entry_point=DREAM_ENTRY_POINT, kwargs={"checkpoint": str(checkpoint), **kwargs},
                 max_episode_steps=max_episode_steps, vector_entry_point=DREAM_VECTOR_ENTRY_POINT)
    return env_id


def register_shipped_dreams() -> list[str]:
    """Register the dreams of the checkpoints shipped in ``checkpoints/`` (idempotent)."""
    for env_id, checkpoint in SHIPPED_DREAMS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=DREAM_ENTRY_POINT, kwargs={"checkpoint": checkpoint},
                         max_episode_steps=DEFAULT_MAX_EPISODE_STEPS, vector_entry_point=DREAM_VECTOR_ENTRY_POINT)
    return list(SHIPPED_DREAMS)


def resolve_env_id(target: str) -> str:
    """A registered env id as is, or a world-model directory registered as ``GenieDream-<directory name>-v0``; a
    multi-game world model registers ``GenieDream-<Game>-v0`` for each of its games (:func:`register_dreams`) and
    gives its default game's, and one of its game views ``games/<Game>/`` gives ``GenieDream-<Game>-v0``.

    Raises ``ValueError`` naming what is accepted when ``target`` is neither.
    """
    if target in gym.registry:
        return target
    retro = _RETRO_ID.match(target)
    if retro is not None:  # an annotated game whose id is registered on demand (see the module docstring)
        try:
            game = get_game(retro.group(1))
        except KeyError:
            game = None
        if game is not None and game.env_id == target:
            return register_retro_envs([game])[0]
    path = Path(target)
    if path.is_dir():
        from genie_gym.world_model import VIEW_KEY, read_dream_json, world_model_games

        settings = read_dream_json(path)
        if VIEW_KEY in settings:  # games/<Game>/ of a multi-game world model
            return register_dream(f"GenieDream-{settings['game']}-v0", str(path))
        if not ((path / "tokenizer").is_dir() and (path / "dynamics").is_dir()):
            raise ValueError(f"{target} is a directory but not a world model (it has no tokenizer/ and dynamics/): "
                             "make one with `genie world-model pack --tokenizer RUN --dynamics RUN --out DIR`")
        if len(world_model_games(path)) > 1:  # every game's id; the default game's plays
            return register_dreams(path)[0]
        name = "".join(c if c.isalnum() else "-" for c in path.resolve().name).strip("-") or "WorldModel"
        return register_dream(f"GenieDream-{name}-v0", str(path))
    dreams = ", ".join(sorted(env_id for env_id in gym.registry if env_id.startswith("GenieDream-")))
    raise ValueError(f"unknown env {target!r}: pass a dream id ({dreams}), a real game's GenieRetro-<Game>-v0 "
                     "(`genie roms list` names the playable games) or a world-model directory")
