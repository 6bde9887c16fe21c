"""``genie play --policy``: a trained policy plays the real game, the dream or both side by side, headless here (the
key that hands the game to the keyboard is pressed for real in tests/test_play_keyboard.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from genie_gym.agents.policy_agent import ExploreCheckpointAgent, PolicyAgent, SB3ZipAgent, load_policy

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
TINY_DREAM_ID = "GenieDream-TinySMB-v0"  # registered by the tiny_checkpoint fixture (conftest.py)

SHIPPED_POLICY = Path(__file__).resolve().parent.parent / "checkpoints" / "ppo-in-dream-smb"


def test_a_policy_plays_headless_and_the_recorded_actions_are_its_own(tmp_path, capsys):
    """Sampled (seeded by --seed) and --deterministic: replaying the policy on the stored frames gives the stored
    actions; the store says who played each step."""
    from genie_gym.cli import main
    from genie_gym.data.store import EpisodeStore

    store, gif = tmp_path / "store", tmp_path / "play.gif"
    assert main(["play", "GenieRetro-SMB-v0", "--policy", "ppo-in-dream-smb", "--max-steps", "16", "--seed", "5",
                 "--scale", "1", "--record", str(gif), "--record-store", str(store)]) == 0
    assert "played 16 steps (policy 16)" in capsys.readouterr().out and gif.stat().st_size > 0
    episode = EpisodeStore(store).load(("SMB", 0))
    assert episode.meta["players"] == [["policy", 16]]
    assert episode.meta["agent"] == f"policy({SHIPPED_POLICY / 'policy.safetensors'})"
    agent = PolicyAgent(SHIPPED_POLICY)
    agent.reset(5)  # the session re-seeds the policy with --seed at every reset
    assert [agent.act(frame) for frame in episode.frames[:-1]] == episode.actions.tolist()
    assert len(set(episode.actions.tolist())) > 1  # a real policy's choices, not one repeated action

    assert main(["play", "GenieRetro-SMB-v0", "--policy", str(SHIPPED_POLICY / "policy.safetensors"),
                 "--deterministic", "--max-steps", "8", "--scale", "1", "--record-store", str(store)]) == 0
    greedy = EpisodeStore(store).load(("SMB", 1))
    expected = [int(np.argmax(agent.probabilities(frame))) for frame in greedy.frames[:-1]]
    assert greedy.actions.tolist() == expected


class SeeingAgent:
    """A deterministic policy that remembers every frame it was shown."""

    def __init__(self) -> None:
        self.agent = PolicyAgent(SHIPPED_POLICY, deterministic=True, threads=None)
        self.seen: list[np.ndarray] = []

    def reset(self, seed: int) -> None:
        self.agent.reset(seed)

    def act(self, obs: np.ndarray) -> int:
        self.seen.append(obs.copy())
        return self.agent.act(obs)


@pytest.mark.parametrize("sees", ["real", "dream", None])
def test_side_by_side_both_envs_take_the_action_the_policy_chose_on_the_frame_it_sees(tiny_checkpoint, sees):
    from genie_gym.play import PlaySession, header_text

    policy = SeeingAgent()
    session = PlaySession(TINY_DREAM_ID, side_by_side=True, policy=policy, policy_sees=sees)
    try:
        session.reset()
        assert session.state.policy_plays and session.policy_view() == (sees or "dream")  # a dream was asked for
        assert f"policy on {sees or 'dream'}" in header_text(session)
        for _ in range(3):
            shown = session.dream_frame if session.policy_view() == "dream" else session.real_frame
            action = session.policy_action()
            assert np.array_equal(policy.seen[-1], shown)
            assert action == int(np.argmax(policy.agent.probabilities(shown)))
            dreamed = session.dream.unwrapped.dreams.steps
            session.step(action, "policy")
            assert session.state.real_actions[-1] == action  # the real game took it
            assert session.dream.unwrapped.dreams.steps == dreamed + 1  # and the dream
        assert session.state.real_players[-3:] == ["policy"] * 3
        session.toggle_policy()
        assert not session.state.policy_plays and "keys" in header_text(session)
        assert "policy" not in header_text(session)
        session.toggle_policy()
        assert session.state.policy_plays
    finally:
        session.close()


def test_the_shown_frame_decides_by_default_and_the_real_game_before_the_dream_starts(tiny_checkpoint):
    from genie_gym.play import PlaySession, header_text

    session = PlaySession(TINY_DREAM_ID, policy=SeeingAgent(), dream_from=2)
    try:
        session.reset()
        assert session.waiting_for_dream and session.policy_view() == "real"  # the dream has not started yet
        assert header_text(session).startswith("dream  policy on real  ")
        for _ in range(2):
            session.step(session.policy_action(), "policy")
        assert not session.waiting_for_dream and session.policy_view() == "dream"
        assert header_text(session).startswith("dream  policy  ")
        session.toggle_dream()  # Tab: the real game is shown, and the policy sees it
        assert session.policy_view() == "real" and header_text(session).startswith("real  policy  ")
    finally:
        session.close()
    with pytest.raises(ValueError, match="policy_sees must be 'real' or 'dream'"):
        PlaySession(TINY_DREAM_ID, policy_sees="both")


def _sb3_zip(path: Path, channels_first: bool) -> None:
    """An SB3 PPO zip holding the shipped policy's weights."""
    import gymnasium as gym
    from safetensors.torch import load_model
    from stable_baselines3 import PPO

    class Frames(gym.Env):
        shape = (3, 64, 64) if channels_first else (64, 64, 3)
        observation_space = gym.spaces.Box(0, 255, shape, np.uint8)
        action_space = gym.spaces.Discrete(5)

    model = PPO("CnnPolicy", Frames(), n_steps=8, batch_size=8, device="cpu")
    load_model(model.policy, str(SHIPPED_POLICY / "policy.safetensors"))
    model.save(path)


def test_an_sb3_zip_and_an_explore_run_still_training_play_the_same_policy(tmp_path, smb_store):
    import torch

    from genie_gym.data.store import EpisodeStore

    frames = EpisodeStore(smb_store).load(("SMB", 0)).frames[:6]
    shipped = PolicyAgent(SHIPPED_POLICY)
    shipped.reset(0)
    _sb3_zip(tmp_path / "ppo.zip", channels_first=True)
    run = tmp_path / "explore_run"
    run.mkdir()
    torch.save({"settings": {"env": "SMB"}, "policy": shipped._policy.state_dict(), "num_timesteps": 64},
               run / "checkpoint.pt")  # what `genie explore` keeps while it trains (model.policy.state_dict())
    for source, kind in ((tmp_path / "ppo.zip", SB3ZipAgent), (run, ExploreCheckpointAgent),
                         ("ppo-in-dream-smb", PolicyAgent)):
        agent = load_policy(source)
        assert type(agent) is kind
        for frame in frames:
            assert np.allclose(agent.probabilities(frame), shipped.probabilities(frame), atol=1e-6)
        agent.reset(7)
        shipped.reset(7)
        assert [agent.act(frame) for frame in frames] == [shipped.act(frame) for frame in frames]

    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="could not be loaded with stable_baselines3's PPO.load"):
        load_policy(bad)
    with pytest.raises(FileNotFoundError, match="SB3 zip .* not found"):
        load_policy(tmp_path / "missing.zip")


def test_play_with_an_sb3_zip_and_the_policy_options_say_what_is_wrong(tmp_path, capsys):
    from genie_gym.cli import main

    _sb3_zip(tmp_path / "ppo.zip", channels_first=False)
    assert main(["play", "GenieRetro-SMB-v0", "--policy", str(tmp_path / "ppo.zip"), "--max-steps", "3",
                 "--scale", "1"]) == 0
    assert "played 3 steps (policy 3)" in capsys.readouterr().out

    script = tmp_path / "actions.txt"
    script.write_text("RIGHT\n")
    for argv, message in (
        (["--policy", "ppo-in-dream-smb"], "never stops: pass --max-steps N"),
        (["--policy", "ppo-in-dream-smb", "--actions", str(script)], "--policy and --actions both choose"),
        (["--policy", str(tmp_path / "nothing"), "--max-steps", "2"], "not found"),
    ):
        assert main(["play", "GenieRetro-SMB-v0", *argv]) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
