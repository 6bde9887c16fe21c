"""Collecting real episodes with a trained policy (the shipped dream-trained PPO policy, the real SMB emulator)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genie_gym.agents.policy_agent import PolicyAgent
from genie_gym.cli import main
from genie_gym.data.store import EpisodeStore

SHIPPED_POLICY = Path(__file__).resolve().parent.parent / "checkpoints" / "ppo-in-dream-smb"


def collect(out: Path, workers: int, *extra: str) -> int:
    return main(["collect", "--env", "SMB", "--agent", "policy", "--policy", str(SHIPPED_POLICY), "--episodes", "2",
                 "--max-steps", "40", "--workers", str(workers), "--out", str(out), "--seed", "3", "--no-progress",
                 *extra])


def test_policy_collection_is_seeded_and_plays_like_the_policy(tmp_path):
    assert collect(tmp_path / "a", 0) == 0
    assert collect(tmp_path / "b", 2) == 0  # two worker processes, each loading the policy
    first, second = EpisodeStore(tmp_path / "a"), EpisodeStore(tmp_path / "b")
    actions = []
    for index in range(2):
        a, b = first.load(("SMB", index)), second.load(("SMB", index))
        assert np.array_equal(a.actions, b.actions) and np.array_equal(a.frames, b.frames)
        actions.append(a.actions)
    shares = np.bincount(np.concatenate(actions), minlength=5) / sum(len(a) for a in actions)
    # the policy runs and jumps (RIGHT 52%, JUMP 33% over 2,400 real steps); random play would give 20% each
    assert shares[0] + shares[4] > 0.6, shares
    # another policy's weights (same network, fresh initialisation) must not be mixed into this store on a resume
    import gymnasium as gym
    from safetensors.torch import save_model
    from stable_baselines3.common.policies import ActorCriticCnnPolicy

    other = ActorCriticCnnPolicy(gym.spaces.Box(0, 255, (3, 64, 64), np.uint8), gym.spaces.Discrete(5), lambda _: 0.0)
    save_model(other, str(tmp_path / "other.safetensors"))
    assert main(["collect", "--env", "SMB", "--agent", "policy", "--policy", str(tmp_path / "other.safetensors"),
                 "--episodes", "3", "--max-steps", "40", "--workers", "0", "--out", str(tmp_path / "a"), "--seed", "3",
                 "--no-progress"]) == 1
    assert len(first.refs("SMB")) == 2  # nothing added

    agent = PolicyAgent(SHIPPED_POLICY, deterministic=True)
    agent.reset(0)
    frame = first.load(("SMB", 0)).frames[5]
    assert agent.act(frame) == agent.act(frame)  # the most likely action, every time


def test_policy_collection_bad_inputs_get_one_clear_error(tmp_path, capsys):
    assert main(["collect", "--env", "SMB", "--agent", "policy", "--episodes", "1", "--out", str(tmp_path / "x")]) == 1
    assert "--agent policy takes --policy FILE" in capsys.readouterr().err
    assert main(["collect", "--env", "SMB", "--agent", "random", "--policy", str(SHIPPED_POLICY), "--episodes", "1",
                 "--out", str(tmp_path / "x")]) == 1
    assert "--policy goes only with --agent policy" in capsys.readouterr().err
    assert main(["collect", "--env", "SMB", "--agent", "policy", "--policy", str(tmp_path / "none.safetensors"),
                 "--episodes", "1", "--out", str(tmp_path / "x")]) == 1
    assert "train one with examples/ppo_in_dream.py" in capsys.readouterr().err
    corrupt = tmp_path / "policy.safetensors"
    corrupt.write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="not the weights of an SB3 CnnPolicy"):
        PolicyAgent(corrupt).reset(0)
    assert not (tmp_path / "x").exists()  # nothing was started
