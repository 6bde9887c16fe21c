"""``GAME=<Name> bash examples/collect_and_train.sh`` for a game other than SMB: an Atari 2600 platformer, real
emulator, tiny budgets, ending with a playable dream of that game and its evaluation (the SMB default is
tests/test_examples.py's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

from genie_gym.envs.registration import register_dreams

SCRIPT = Path(__file__).resolve().parent.parent / "examples" / "collect_and_train.sh"


def test_collect_and_train_for_an_atari_game_ends_with_its_dream_and_eval(tmp_path):
    out = tmp_path / "run"
    # one training step per model, collection in the collecting process (WORKERS 0): each saves seconds of CPU
    env = {**os.environ, "GAME": "Kangaroo", "OUT": str(out), "EPISODES": "2", "TEST_EPISODES": "1",
           "MAX_STEPS": "30", "TOKENIZER_STEPS": "1", "DYNAMICS_STEPS": "1", "EVAL_SEQUENCES": "1", "PLAY_STEPS": "6",
           "THREADS": "1", "WORKERS": "0", "GENIE": f"{sys.executable} -m genie_gym.cli", "SDL_VIDEODRIVER": "dummy"}
    done = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    # every stage worked on Kangaroo, not on SMB
    for store in ("data", "test"):
        assert sorted(p.name for p in (out / store).iterdir() if not p.name.startswith(".")) == ["Kangaroo"]
    settings = json.loads((out / "world_model" / "dream.json").read_text())
    assert settings["game"] == "Kangaroo" and "games" not in settings
    result = json.loads((out / "eval.json").read_text())
    assert result["num_sequences"] == 1 and result["psnr"] > 0 and result["copy_psnr"] > 0
    assert (out / "eval.png").stat().st_size > 0 and (out / "dream.gif").stat().st_size > 0
    assert "played 6 steps" in done.stdout and "world model of Kangaroo" in done.stdout

    saved = gym.registry.get("GenieDream-Kangaroo-v0")
    try:
        assert register_dreams(out / "world_model") == ["GenieDream-Kangaroo-v0"]
        dream = gym.make("GenieDream-Kangaroo-v0", maskgit_steps=1)
        try:
            first, _ = dream.reset(seed=0)
            assert dream.unwrapped.dreams.real_env.game.name == "Kangaroo"
            real = gym.make("GenieRetro-Kangaroo-v0")
            try:
                frame = real.reset(seed=0)[0]
            finally:
                real.close()
            # context_frames 2: the dream starts one real step after the real game's reset, on Kangaroo's screen
            assert np.abs(first.astype(int) - frame.astype(int)).mean() < 8
            frames = [dream.step(action)[0] for action in (0, 4, 1)]
            assert all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)
        finally:
            dream.close()
    finally:
        del gym.registry["GenieDream-Kangaroo-v0"]
        if saved is not None:
            gym.registry["GenieDream-Kangaroo-v0"] = saved
