"""Gymnasium ids for genie-gym: ``GenieRetro-<Game>-v0`` for every annotated game."""

from __future__ import annotations

import gymnasium as gym

from genie_gym.games import load_games

RETRO_ENTRY_POINT = "genie_gym.envs.retro_env:GenieRetroEnv"


def register_retro_envs() -> list[str]:
    """Register ``GenieRetro-<name>-v0`` for each game of the annotation table; returns the ids (idempotent)."""
    ids = []
    for game in load_games():
        if game.env_id not in gym.registry:
            gym.register(id=game.env_id, entry_point=RETRO_ENTRY_POINT, kwargs={"game": game.name})
        ids.append(game.env_id)
    return ids


DREAM_ENTRY_POINT = "genie_gym.envs.dream_env:GenieDreamEnv"
SHIPPED_DREAMS = {"GenieDream-SMB-v0": "smb"}


def register_dream(env_id: str, checkpoint: str, **kwargs) -> str:
    """Register a dream env for any world-model checkpoint directory (or shipped name); returns ``env_id``.

    Example: ``register_dream("GenieDream-MyMario-v0", "runs/my_world_model")`` then ``gym.make(...)``.
    """
    if not env_id.startswith("GenieDream-"):
        raise ValueError(f"dream env ids start with 'GenieDream-' (so `genie play` can pair them), got {env_id!r}")
    if env_id in gym.registry:
        del gym.registry[env_id]
    gym.register(id=env_id, entry_point=DREAM_ENTRY_POINT, kwargs={"checkpoint": str(checkpoint), **kwargs})
    return env_id


def register_shipped_dreams() -> list[str]:
    """Register the dreams of the checkpoints shipped in ``checkpoints/`` (idempotent)."""
    for env_id, checkpoint in SHIPPED_DREAMS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=DREAM_ENTRY_POINT, kwargs={"checkpoint": checkpoint})
    return list(SHIPPED_DREAMS)
