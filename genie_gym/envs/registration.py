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
