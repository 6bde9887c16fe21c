"""The paper's AutoExplore agent (``genie explore --agent paper``, ``genie_gym/agents/autoexplore.py``): the epsilon
schedule and wrapper, learning from the executed actions, training in a tiny dream, resuming, the best policy, and
``genie collect --agent policy`` playing the recurrent policy."""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnvWrapper

from genie_gym.agents import explore_command
from genie_gym.agents.autoexplore import (
    BEST_POLICY_FILE,
    DEFAULTS,
    EpsilonGreedyVecEnv,
    LearnFromExecutedActions,
    best_policy_return,
    build_recurrent_ppo,
    epsilon_schedule,
)
from genie_gym.agents.explore_settings import ExploreSettings, register
from genie_gym.agents.policy_agent import PolicyAgent
from genie_gym.cli import main
from genie_gym.data.store import EpisodeStore
from genie_gym.options import from_args


class NoiseEnv(gym.Env):
    """64x64 RGB noise frames, 5 actions, reward 1 for action 4, episodes of 5 steps."""

    observation_space = gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    action_space = gym.spaces.Discrete(5)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.np_random.integers(0, 256, (64, 64, 3), dtype=np.uint8), {}

    def step(self, action):
        self.t += 1
        obs = self.np_random.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        return obs, float(action == 4), False, self.t >= 5, {}


class ActionRecorder(VecEnvWrapper):
    """Records the actions that reach the env."""

    def __init__(self, venv):
        super().__init__(venv)
        self.actions = []

    def reset(self):
        return self.venv.reset()

    def step_async(self, actions):
        self.actions.append(np.asarray(actions).copy())
        self.venv.step_async(actions)

    def step_wait(self):
        return self.venv.step_wait()


def noise_venv(n: int = 2) -> DummyVecEnv:
    venv = DummyVecEnv([NoiseEnv] * n)
    venv.seed(0)
    return venv


def test_epsilon_decays_linearly_from_0_1_to_0_01_over_the_first_half_of_training():
    total = 480_000  # the paper: 300 epochs x 8 envs x 200 steps; 0.01 from epoch 150 on
    assert epsilon_schedule(0, total) == pytest.approx(0.1)
    assert epsilon_schedule(total // 4, total) == pytest.approx(0.055)  # halfway through the decay
    assert epsilon_schedule(total // 2, total) == pytest.approx(0.01)
    assert epsilon_schedule(total, total) == pytest.approx(0.01)
    values = [epsilon_schedule(t, total) for t in range(0, total // 2 + 1, 8 * 200)]
    assert np.allclose(np.diff(values), -0.09 / 150)  # linear, one step per epoch of 1,600 env steps


def test_epsilon_wrapper_replaces_actions_at_the_scheduled_rate_with_a_seed():
    def play(seed: int, steps: int, total: int, chosen: int = 0):
        recorder = ActionRecorder(noise_venv(8))
        wrapped = EpsilonGreedyVecEnv(recorder, total_timesteps=total, seed=seed)
        wrapped.reset()
        masks = []
        for _ in range(steps):
            wrapped.step(np.full(8, chosen))
            masks.append(wrapped.last_replaced.copy())
            assert np.array_equal(recorder.actions[-1], wrapped.last_actions)
        return wrapped, np.stack(recorder.actions), np.stack(masks)

    # a schedule so long that epsilon stays ~0.1 for 1,000 steps of 8 envs
    wrapped, executed, replaced = play(seed=7, steps=1000, total=10**9)
    assert wrapped.decisions == 8000 and wrapped.timesteps == 8000 and wrapped.replaced == replaced.sum()
    rate = wrapped.replaced / wrapped.decisions
    assert abs(rate - 0.1) < 4 * math.sqrt(0.1 * 0.9 / 8000), rate  # binomial: 4 standard errors
    assert np.all(executed[~replaced] == 0)  # kept where not replaced
    shares = np.bincount(executed[replaced], minlength=5) / replaced.sum()
    assert np.all(np.abs(shares - 0.2) < 0.05), shares  # replacements uniform over the 5 actions
    again, executed_again, _ = play(seed=7, steps=1000, total=10**9, chosen=3)
    assert np.array_equal(again.last_replaced, wrapped.last_replaced)  # the seed fixes the replacements, any policy
    assert not np.array_equal(play(seed=8, steps=50, total=10**9)[2], replaced[:50])
    # the decay: 100 steps of 8 envs with 1,600 steps in all: 0.1 at first, 0.01 from step 800 on
    decayed, _, replaced = play(seed=0, steps=200, total=1600)
    assert decayed.last_epsilon == pytest.approx(0.01)
    expected = np.array([epsilon_schedule(8 * step, 1600) for step in range(200)])
    counts, mean = replaced.sum(axis=1), 8 * expected
    assert abs(counts.sum() - mean.sum()) < 4 * math.sqrt((mean * (1 - expected)).sum())
    assert counts[:50].sum() > counts[100:150].sum()  # ~29 replaced while decaying, ~4 at 0.01
    resumed = EpsilonGreedyVecEnv(noise_venv(8), total_timesteps=1600, timesteps=400)
    assert resumed.epsilon == pytest.approx(epsilon_schedule(400, 1600)) == pytest.approx(0.055)


def test_recurrent_ppo_learns_from_the_executed_actions_with_their_behaviour_probability():
    recorder = ActionRecorder(noise_venv(2))
    wrapped = EpsilonGreedyVecEnv(recorder, total_timesteps=10**9, seed=0, start=1.0, end=1.0)  # all random
    model = build_recurrent_ppo(wrapped, seed=0, n_steps=8, ent_coef=0.01, n_epochs=1, batch_size=16)
    model.learn(32, callback=[LearnFromExecutedActions(wrapped)])  # two rollouts of 2 envs x 8 steps
    buffer = model.rollout_buffer  # the second rollout, flattened env-major by training on it
    executed = np.stack(recorder.actions[8:16])  # (steps, envs)
    assert np.array_equal(buffer.actions.reshape(-1), executed.T.reshape(-1))
    # epsilon 1: each executed action had probability 1/5 whatever the policy chose
    assert np.allclose(buffer.log_probs, math.log(0.2), atol=1e-5)

    recorder = ActionRecorder(noise_venv(2))
    wrapped = EpsilonGreedyVecEnv(recorder, total_timesteps=10**9, seed=1, start=0.5, end=0.5)
    model = build_recurrent_ppo(wrapped, seed=0, n_steps=8, ent_coef=0.01, n_epochs=1, batch_size=16)
    model.learn(8, callback=[LearnFromExecutedActions(wrapped)])
    assert np.array_equal(model.rollout_buffer.actions.reshape(-1), np.stack(recorder.actions).T.reshape(-1))
    # mu(a) = 0.5 pi(a) + 0.1 lies in [0.1, 0.6]
    assert np.all(model.rollout_buffer.log_probs >= math.log(0.1) - 1e-5)
    assert np.all(model.rollout_buffer.log_probs <= math.log(0.6) + 1e-5)


def explore(out: Path, checkpoint: Path, *extra: str) -> int:
    return main(["explore", "--agent", "paper", "--env", str(checkpoint), "--reward", "uncertainty", "--num-envs", "2",
                 "--n-steps", "16", "--episode-steps", "8", "--n-epochs", "2", "--eval-every", "1",
                 "--eval-return-episodes", "2", "--eval-episodes", "0", "--threads", "1", "--checkpoint-every", "1",
                 "--out", str(out), *extra])


def explore_settings(*argv: str) -> ExploreSettings:
    """``genie explore``'s settings from its own parser, as ``genie explore ARGV --env SMB --out x`` builds them."""
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return from_args(ExploreSettings, parser.parse_args(["explore", "--env", "SMB", "--out", "x", *argv]))


def test_explore_settings_resolve_the_agents_defaults_once_and_refuse_what_does_not_go_together():
    paper = explore_settings("--agent", "paper", "--n-epochs", "4")
    assert {name: getattr(paper, name) for name in DEFAULTS} == {**DEFAULTS, "n_epochs": 4}
    assert paper.timesteps == 480_000 and paper.epsilon is None and paper.paper
    ppo = explore_settings("--num-envs", "4")
    assert (ppo.timesteps, ppo.num_envs, ppo.n_steps, ppo.epsilon, ppo.ent_coef) == (30000, 4, 64, 0.0, None)
    assert explore_command._run_settings(paper)["batch_size"] == 128  # the keys a saved run is resumed with
    for argv, error in ((["--ent-coef", "0.1"], "--ent-coef goes only with --agent paper"),
                        (["--ent-coef", "0.1", "--eval-every", "2"], "--ent-coef, --eval-every go only with"),
                        (["--agent", "paper", "--epsilon", "0.1"], "--epsilon goes only with --agent ppo"),
                        (["--epsilon", "2"], "--epsilon must lie in [0, 1]"),
                        (["--agent", "paper", "--batch-size", "0"], "--eval-return-episodes must be >= 1"),
                        (["--n-steps", "0"], "--episode-steps must be >= 1")):
        with pytest.raises(ValueError, match=re.escape(error)):
            explore_settings(*argv)


def test_the_genie_parser_is_built_without_importing_the_explorer_training():
    """Every `genie` call builds `genie explore`'s parser (genie_gym.agents.explore_settings); the training module,
    with torch and Stable-Baselines3, is imported only when the command runs."""
    script = ("import sys; from genie_gym.cli import build_parser; build_parser(); "
              "assert 'genie_gym.agents.explore_command' not in sys.modules; "
              "assert 'stable_baselines3' not in sys.modules, 'a module the parser imports imports SB3'")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_paper_agent_trains_resumes_keeps_the_best_policy_and_is_collected(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "paper"
    assert explore(out, tiny_checkpoint, "--timesteps", "64") == 0
    printed = capsys.readouterr().out
    assert "training to 64 steps: 2 rollout(s) of 2 envs x 16 steps" in printed and "epsilon" in printed
    result = json.loads((out / "result.json").read_text())
    settings = result["settings"]
    assert settings["agent"] == "paper" and settings["epsilon"] == [0.1, 0.01, 0.5] and settings["batch_size"] == 128
    assert result["trained_timesteps"] == 64 and result["epsilon"]["decisions"] == 64
    assert 0.01 <= result["epsilon"]["last"] < 0.1  # 0.1 -> 0.01 over the first 32 steps
    assert [e["timesteps"] for e in result["evaluations"]] == [32, 64]  # every rollout, the last one included
    best = max(e["mean_return"] for e in result["evaluations"])
    assert result["best_eval_return"] == pytest.approx(best) and result["best_policy"] == BEST_POLICY_FILE
    assert best_policy_return(out / BEST_POLICY_FILE) == pytest.approx(best)
    assert all(0 < e["mean_return"] < 8 for e in result["evaluations"])  # 8 steps of uncertainty in (0, 1)

    assert explore(out, tiny_checkpoint, "--timesteps", "64") == 0  # finished: nothing redone
    assert "nothing to do" in capsys.readouterr().out
    assert explore(out, tiny_checkpoint, "--timesteps", "96") == 0  # trained further from its checkpoint
    assert "resuming" in capsys.readouterr().out
    result = json.loads((out / "result.json").read_text())
    assert result["trained_timesteps"] == 96 and result["epsilon"]["decisions"] == 96
    assert [e["timesteps"] for e in result["evaluations"]] == [32, 64, 96]
    assert best_policy_return(out / BEST_POLICY_FILE) == pytest.approx(result["best_eval_return"])
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert any(name.startswith("lstm_actor.") for name in state["policy"])  # the LSTM policy resumed
    # another agent in the same run directory, or a paper option with --agent ppo: one clear error each
    assert main(["explore", "--env", str(tiny_checkpoint), "--out", str(out), "--timesteps", "96"]) == 1
    assert "other settings" in capsys.readouterr().err
    assert main(["explore", "--env", str(tiny_checkpoint), "--ent-coef", "0.1", "--out", str(tmp_path / "x")]) == 1
    assert "--ent-coef goes only with --agent paper" in capsys.readouterr().err

    # `genie collect --agent policy` plays it (latest and best), seeded
    for name, policy in (("a", out), ("b", out), ("best", out / BEST_POLICY_FILE)):
        assert main(["collect", "--env", "SMB", "--agent", "policy", "--policy", str(policy), "--episodes", "2",
                     "--max-steps", "12", "--workers", "0", "--out", str(tmp_path / name), "--seed", "3",
                     "--no-progress"]) == 0
    first, second = EpisodeStore(tmp_path / "a"), EpisodeStore(tmp_path / "b")
    for index in range(2):
        a, b = first.load(("SMB", index)), second.load(("SMB", index))
        assert np.array_equal(a.actions, b.actions) and len(a.actions) == 12

    # the agent carries the LSTM state through an episode: step by step equals the whole sequence in one pass
    agent = PolicyAgent(out)
    agent.reset(0)
    assert agent.recurrent
    frames = first.load(("SMB", 0)).frames[:8]
    stepped = []
    for frame in frames:
        looked = agent.probabilities(frame)  # only looks
        stepped.append(agent.probabilities(frame))
        assert np.allclose(looked, stepped[-1])
        agent.act(frame)
    policy = agent._policy
    shape = policy.lstm_hidden_state_shape
    obs = torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        whole, _ = policy.get_distribution(obs, (torch.zeros(shape), torch.zeros(shape)), torch.zeros(len(frames)))
    assert np.allclose(np.stack(stepped), whole.distribution.probs.numpy(), atol=1e-5)
    assert not np.allclose(stepped[0], stepped[-1])  # the state (and the frame) changed what it does
    agent.reset(0)
    assert np.allclose(agent.probabilities(frames[0]), stepped[0], atol=1e-6)  # reset: a fresh state
