"""The test-set agent of issue 33 (the paper's: a strong agent on the game's own reward with epsilon-random actions
mixed in, so that all actions appear): ``genie explore --reward game --epsilon E`` and ``genie collect --agent policy
--epsilon E``, in the real SMB emulator."""

from __future__ import annotations

import json

import numpy as np
import pytest

from genie_gym.agents.policy_agent import PolicyAgent
from genie_gym.cli import main
from genie_gym.data.store import EpisodeStore
from genie_gym.envs.retro_env import GenieRetroEnv


@pytest.fixture(scope="module")
def smb_frames() -> list[np.ndarray]:
    env = GenieRetroEnv("SMB")
    frames = [env.reset(seed=0)[0]]
    for action in [0] * 11:
        frames.append(env.step(action)[0])
    env.close()
    return frames


def test_epsilon_mixes_uniformly_random_actions_into_a_policy(smb_frames):
    greedy = PolicyAgent("ppo-in-dream-smb", deterministic=True)
    greedy.reset(0)
    chosen = [greedy.act(frame) for frame in smb_frames]
    mixed = PolicyAgent("ppo-in-dream-smb", deterministic=True, epsilon=0.4)
    mixed.reset(0)
    played = np.array([mixed.act(smb_frames[i % len(smb_frames)]) for i in range(600)])
    expected = np.array([chosen[i % len(smb_frames)] for i in range(600)])
    assert set(played.tolist()) == set(range(5))  # every action appears
    assert len(set(chosen)) < 5  # which the policy alone does not give
    # an action differs from the policy's with probability epsilon * 4/5 = 0.32 (binomial sd over 600: 0.019)
    assert abs(np.mean(played != expected) - 0.32) < 0.06
    mixed.reset(0)
    assert [mixed.act(smb_frames[i % len(smb_frames)]) for i in range(600)] == played.tolist()  # seeded
    with pytest.raises(ValueError, match="epsilon"):
        PolicyAgent("ppo-in-dream-smb", epsilon=1.5)


def test_explore_on_the_games_reward_with_epsilon_then_collect_with_it(tmp_path, capsys):
    out = tmp_path / "game"
    assert main(["explore", "--env", "SMB", "--reward", "game", "--epsilon", "0.5", "--num-envs", "2", "--n-steps",
                 "16", "--episode-steps", "16", "--timesteps", "32", "--eval-episodes", "0", "--threads", "1",
                 "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["settings"]["reward"] == "game" and result["settings"]["epsilon"] == 0.5
    epsilon = result["epsilon"]
    assert epsilon["decisions"] == 32 and 6 <= epsilon["replaced"] <= 26  # ~16 of 32 (binomial sd 2.8)
    assert result["training"]["timesteps"] == [32]
    store = tmp_path / "store"
    assert main(["collect", "--env", "SMB", "--agent", "policy", "--policy", str(out), "--epsilon", "0.3",
                 "--episodes", "2", "--max-steps", "60", "--workers", "0", "--no-progress", "--out", str(store)]) == 0
    episodes = [EpisodeStore(store).load(ref) for ref in EpisodeStore(store).refs("SMB")]
    actions = np.concatenate([episode.actions for episode in episodes])
    assert len(episodes) == 2 and set(actions.tolist()) == set(range(5))
    meta = json.loads(next(store.rglob("meta.json")).read_text())
    assert "epsilon 0.3" in json.dumps(meta)
    capsys.readouterr()
    # what does not go together: one clear error each
    assert main(["collect", "--env", "SMB", "--agent", "sticky-random", "--epsilon", "0.1", "--episodes", "1",
                 "--out", str(tmp_path / "x")]) == 1
    assert "--epsilon goes only with --agent policy" in capsys.readouterr().err
    assert main(["explore", "--agent", "paper", "--env", "SMB", "--epsilon", "0.1", "--out", str(tmp_path / "y")]) == 1
    assert "--epsilon goes only with --agent ppo" in capsys.readouterr().err
    assert main(["explore", "--env", "SMB", "--reward", "game", "--epsilon", "2", "--out", str(tmp_path / "z")]) == 1
    assert "--epsilon must lie in [0, 1]" in capsys.readouterr().err
