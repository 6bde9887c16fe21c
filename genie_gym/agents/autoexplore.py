"""The paper's AutoExplore agent (appendix A.3), built from Stable-Baselines3 / sb3-contrib parts: ``genie explore
--agent paper``.

What the paper says and what this module uses for it:

- "an actor-critic ... a CNN encoder followed by an LSTM" (§4, following IRIS [39]): sb3-contrib's ``RecurrentPPO``
  with ``CnnLstmPolicy`` (SB3's Nature CNN, then an LSTM of :data:`LSTM_HIDDEN_SIZE` = 512 units as in IRIS; separate
  actor and critic LSTMs, sb3-contrib's default, where IRIS shares one: sb3-contrib's shared LSTM would not train on
  the critic's loss).
- "Run the current agent for 200 steps in 8 running environments in parallel": ``--num-envs 8``, ``--n-steps 200``
  (one PPO rollout is one of the paper's epochs).
- "Train the agent for 200 steps, sampling from the buffer, with batch size 128": minibatches of 128
  (``--batch-size``) and ``--n-epochs 16`` passes over the 1,600-step rollout, i.e. 16 x 13 = 208 updates.
- "300 epochs": ``--timesteps`` 480,000 (300 x 8 x 200) by default.
- "Actions are sampled with temperature 1.0, with an epsilon-greedy algorithm with epsilon starting from 0.1 and
  linearly decaying to 0.01 over the course of 150 epochs": SB3 samples from the policy's categorical distribution
  (temperature 1); :class:`EpsilonGreedyVecEnv` replaces the chosen action by a uniformly random one with probability
  :func:`epsilon_schedule` (0.1 -> 0.01 over the first half of ``--timesteps``; a run trained further with a larger
  ``--timesteps`` follows the new total's schedule from where it is).
- "Actor-critic loss is used with entropy regularization": PPO's loss with ``--ent-coef`` (the paper gives no value:
  0.01, SB3's Atari setting, on PPO's normalised advantages; IRIS uses 0.001 on its unnormalised ones).
- "we choose the agent with the highest evaluation return throughout training": :class:`BestPolicyCallback`
  (SB3 ``EvalCallback``-style: ``evaluate_policy`` every ``--eval-every`` rollouts on a separate env of the same kind
  with the same reward, no epsilon, sampled actions) keeps ``best_policy.safetensors`` next to ``policy.safetensors``.

Not from the paper (choices): learning rate 2.5e-4, gamma 0.99, GAE lambda 0.95, clip range 0.2 (sb3-contrib's
default; it leaves room for the ratio of 1 / (1 - epsilon) that epsilon-mixing gives a near-deterministic action, see
:class:`LearnFromExecutedActions`), evaluation every 10 rollouts over 16 episodes. The paper's input is "4 frames
stacked, max-pooled" (Atari frame skipping); here one env step is one frame of the env (the world model's step, which
already holds each action for the game's frame skip), as for ``--agent ppo``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_model
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from genie_gym.agents.curiosity import CuriosityRewardVecEnv
from genie_gym.agents.explore_settings import ExploreSettings
from genie_gym.agents.policy_agent import PolicyAgent
from genie_gym.atomic import atomic_path

# build_eval_env imports genie_gym.agents.explore_command where it is used: that module imports this one (the paper
# agent of `genie explore`), so a module-level import here would close an import cycle.

EPSILON_START, EPSILON_END, EPSILON_DECAY_FRACTION = 0.1, 0.01, 0.5
"""The paper's epsilon-greedy schedule: 0.1 linearly down to 0.01 over the first half of training (150 of 300 epochs),
then 0.01."""
LSTM_HIDDEN_SIZE = 512
LEARNING_RATE, GAMMA, GAE_LAMBDA, CLIP_RANGE = 2.5e-4, 0.99, 0.95, 0.2
DEFAULTS = {"timesteps": 300 * 8 * 200, "num_envs": 8, "n_steps": 200, "ent_coef": 0.01, "n_epochs": 16,
            "batch_size": 128, "eval_every": 10, "eval_return_episodes": 16}
"""``genie explore --agent paper``'s defaults (see the module docstring for where each comes from)."""
FIXED_SETTINGS = {"epsilon": [EPSILON_START, EPSILON_END, EPSILON_DECAY_FRACTION], "lstm_hidden_size": LSTM_HIDDEN_SIZE,
                  "learning_rate": LEARNING_RATE, "gamma": GAMMA, "gae_lambda": GAE_LAMBDA, "clip_range": CLIP_RANGE}
"""Settings with no option, recorded in a run's settings so that a run is never resumed under other values."""
BEST_POLICY_FILE = "best_policy.safetensors"


def epsilon_schedule(timesteps: int, total_timesteps: int, start: float = EPSILON_START, end: float = EPSILON_END,
                     decay_fraction: float = EPSILON_DECAY_FRACTION) -> float:
    """Epsilon after ``timesteps`` of ``total_timesteps`` env steps: ``start`` at 0, linearly down to ``end`` at
    ``decay_fraction * total_timesteps``, then ``end``."""
    decay_steps = decay_fraction * total_timesteps
    if decay_steps <= 0 or timesteps >= decay_steps:
        return float(end)
    return float(start + (end - start) * max(0.0, timesteps / decay_steps))


class EpsilonGreedyVecEnv(VecEnvWrapper):
    """Epsilon-greedy mixing of a VecEnv's actions: each env's action is replaced, with probability
    ``epsilon_schedule(timesteps, total_timesteps)``, by one drawn uniformly from the action space.

    ``timesteps`` counts env steps (all envs together) and advances by ``num_envs`` per step; start it at the
    steps already trained when resuming. Every step draws one uniform number and one random action per env from
    ``np.random.default_rng(seed)``, whether or not they are used, so a seed gives the same replacements for any
    policy. After each step: :attr:`last_actions` (what the env executed), :attr:`last_replaced` (bool mask of the
    envs whose action was replaced; the random action may equal the chosen one), :attr:`last_epsilon`; in total
    :attr:`replaced` of :attr:`decisions` actions were replaced.

    The policy learns from what was executed only with :class:`LearnFromExecutedActions` (SB3 stores the action the
    policy chose in its rollout buffer; the wrapper only changes what reaches the env).
    """

    def __init__(self, venv: VecEnv, total_timesteps: int, seed: int | tuple[int, ...] = 0, timesteps: int = 0,
                 start: float = EPSILON_START, end: float = EPSILON_END,
                 decay_fraction: float = EPSILON_DECAY_FRACTION) -> None:
        if not hasattr(venv.action_space, "n"):
            raise ValueError(f"epsilon-greedy mixing needs a discrete action space, got {venv.action_space}")
        super().__init__(venv)
        self.total_timesteps, self.timesteps = int(total_timesteps), int(timesteps)
        self.start, self.end, self.decay_fraction = float(start), float(end), float(decay_fraction)
        self.num_actions = int(venv.action_space.n)
        self._rng = np.random.default_rng(seed)
        self.replaced = self.decisions = 0
        self.last_actions = np.zeros(self.num_envs, dtype=np.int64)
        self.last_replaced = np.zeros(self.num_envs, dtype=bool)
        self.last_epsilon = self.epsilon

    @property
    def epsilon(self) -> float:
        """Epsilon of the next step."""
        return epsilon_schedule(self.timesteps, self.total_timesteps, self.start, self.end, self.decay_fraction)

    def reset(self) -> np.ndarray:
        return self.venv.reset()

    def step_async(self, actions: np.ndarray) -> None:
        chosen = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)
        self.last_epsilon = self.epsilon
        draws = self._rng.random(self.num_envs)
        random_actions = self._rng.integers(0, self.num_actions, self.num_envs)
        self.last_replaced = draws < self.last_epsilon
        self.last_actions = np.where(self.last_replaced, random_actions, chosen)
        self.replaced += int(self.last_replaced.sum())
        self.decisions += self.num_envs
        self.timesteps += self.num_envs
        self.venv.step_async(self.last_actions.copy())

    def step_wait(self) -> VecEnvStepReturn:
        return self.venv.step_wait()


class LearnFromExecutedActions(BaseCallback):
    """Makes ``RecurrentPPO`` learn from the actions :class:`EpsilonGreedyVecEnv` executed, not the ones it chose.

    Why: the paper's agent learns from what its buffer holds, the actions actually taken. SB3 has no option for an
    action changed by the env: its rollout buffer keeps the policy's choice and that choice's log-probability, so
    with the wrapper alone the reward of a random action (8% of the steps at the start) is credited to an action
    that was not played. SB3 gives a callback the collection loop's variables right after ``env.step`` and before the
    step enters the buffer (``on_step``); this callback overwrites, in place, the loop's ``actions`` with the executed
    ones and its ``log_probs`` with ``log mu(a)``, the probability the executed action had under the behaviour policy
    ``mu = (1 - epsilon) * pi + epsilon / |A|``. PPO's ratio ``pi_new(a) / mu(a)`` is then the importance ratio of the
    data actually collected, clipped as PPO clips. No part of PPO is rewritten; ``tests/test_autoexplore.py`` checks
    that the buffer holds the executed actions, so a change of SB3's loop shows up there. The loop must pass numpy
    ``actions`` of shape ``(n_envs,)`` and a ``log_probs`` tensor of shape ``(n_envs,)`` (discrete actions); anything
    else raises.
    """

    def __init__(self, epsilon_env: EpsilonGreedyVecEnv) -> None:
        super().__init__()
        self.epsilon_env = epsilon_env

    def _on_step(self) -> bool:
        env = self.epsilon_env
        actions, log_probs = self.locals.get("actions"), self.locals.get("log_probs")
        n = env.num_envs
        if not (isinstance(actions, np.ndarray) and actions.shape == (n,) and isinstance(log_probs, torch.Tensor)
                and tuple(log_probs.shape) == (n,)):
            raise RuntimeError("LearnFromExecutedActions: the SB3 collection loop does not expose `actions` (n_envs,) "
                               "and `log_probs` (n_envs,) as expected; this SB3 / sb3-contrib version is not supported")
        policy = self.model.policy
        executed = torch.as_tensor(env.last_actions, device=log_probs.device)
        if np.array_equal(env.last_actions, actions):
            log_pi = log_probs
        else:  # the policy's log-probability of the executed actions, from the inputs the policy just saw
            with torch.no_grad():
                obs = obs_as_tensor(self.model._last_obs, policy.device)
                starts = torch.as_tensor(self.model._last_episode_starts, dtype=torch.float32, device=policy.device)
                states = self.model._last_lstm_states.pi if hasattr(self.model, "_last_lstm_states") else None
                if states is not None:
                    distribution, _ = policy.get_distribution(obs, states, starts)
                else:
                    distribution = policy.get_distribution(obs)
                log_pi = distribution.log_prob(executed).to(log_probs.dtype)
        epsilon = env.last_epsilon
        uniform = torch.full_like(log_pi, math.log(epsilon / env.num_actions) if epsilon > 0 else -math.inf)
        if epsilon <= 0:
            log_mu = log_pi
        elif epsilon >= 1:
            log_mu = uniform
        else:
            log_mu = torch.logaddexp(log_pi + math.log1p(-epsilon), uniform)
        actions[:] = env.last_actions
        log_probs.copy_(log_mu)
        return True


class BestPolicyCallback(BaseCallback):
    """Evaluates the policy every ``every`` rollouts (``evaluate_policy``, ``episodes`` episodes, sampled actions) on
    ``eval_env`` and saves it to ``path`` (safetensors, with ``eval_return`` and ``timesteps`` in the file's metadata)
    whenever its mean return is the best so far, as SB3's ``EvalCallback`` keeps ``best_model``.

    ``eval_env`` must report episode returns through ``VecMonitor`` (the unnormalised exploration reward).
    ``rollouts`` (rollouts so far), ``best`` and ``evaluations`` carry over a resume (:meth:`state`).
    """

    def __init__(self, eval_env: VecEnv, every: int, episodes: int, path: Path) -> None:
        super().__init__()
        if every < 1 or episodes < 1:
            raise ValueError("the evaluation interval and episodes must be >= 1")
        self.eval_env, self.every, self.episodes, self.path = eval_env, int(every), int(episodes), Path(path)
        self.rollouts = 0
        self.best = -math.inf
        self.evaluations: list[dict[str, Any]] = []
        self.evaluated_now = False  # set by an evaluation, cleared by whoever checkpoints

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        self.rollouts += 1
        if self.rollouts % self.every == 0:
            self.evaluate()

    def evaluate(self) -> dict[str, Any]:
        """Evaluate now; save the policy if it is the best so far. Returns the evaluation's record."""
        returns, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=self.episodes, deterministic=False,
                                     return_episode_rewards=True, warn=False)
        record = {"timesteps": int(self.model.num_timesteps), "mean_return": float(np.mean(returns)),
                  "returns": [round(float(value), 4) for value in returns]}
        record["best"] = record["mean_return"] > self.best
        if record["best"]:
            self.best = record["mean_return"]
            save_policy(self.model.policy, self.path,
                        {"eval_return": repr(self.best), "timesteps": str(record["timesteps"])})
        self.evaluations.append(record)
        self.evaluated_now = True
        print(f"{record['timesteps']} steps: evaluation return {record['mean_return']:.4f} over {len(returns)} "
              f"episodes{' (best so far: ' + self.path.name + ')' if record['best'] else ''}", flush=True)
        return record

    @property
    def last_evaluated(self) -> int | None:
        return self.evaluations[-1]["timesteps"] if self.evaluations else None

    def state(self) -> dict[str, Any]:
        return {"rollouts": self.rollouts, "best": self.best, "evaluations": self.evaluations}

    def load_state(self, state: dict[str, Any]) -> None:
        self.rollouts, self.best = int(state["rollouts"]), float(state["best"])
        self.evaluations = list(state["evaluations"])
        if self.path.is_file():  # a new best saved after the checkpoint: the file is the truth
            self.best = max(self.best, best_policy_return(self.path))


def save_policy(policy: torch.nn.Module, path: Path, metadata: dict[str, str] | None = None) -> None:
    """``safetensors.torch.save_model`` through a temporary file, so an interrupted save leaves the old file."""
    with atomic_path(path) as tmp:
        save_model(policy, str(tmp), metadata=metadata)


def best_policy_return(path: Path) -> float:
    """The evaluation return recorded in a ``best_policy.safetensors`` (``-inf`` if it has none)."""
    with safe_open(str(path), "pt") as handle:
        metadata = handle.metadata() or {}
    return float(metadata.get("eval_return", "-inf"))


def scoring_curiosity(venv: VecEnv, training: Any, seed: int) -> VecEnv:
    """A curiosity reward wrapper for evaluation: scores with the model of ``training`` (the training env's
    ``CuriosityRewardVecEnv``), never trains it, keeps no transitions."""
    class ScoringCuriosityVecEnv(CuriosityRewardVecEnv):
        def train_on_buffer(self) -> dict[str, float]:
            self._buffer = []
            return self.last_losses

    wrapper = ScoringCuriosityVecEnv(venv, training.model.kind, training.model.feature_dim, seed=seed, update_every=1,
                                     device=str(training.device))
    wrapper.model = training.model
    return wrapper


def build_eval_env(settings: ExploreSettings, world_model: Any, curiosity: Any, num_envs: int, seed: int) -> VecEnv:
    """A VecEnv of the training env's kind (the same dream or real game, the same reward, scored by the training
    env's curiosity model without training it), with ``num_envs`` envs seeded from ``seed``, for
    :class:`BestPolicyCallback` (no epsilon, no reward normalisation)."""
    from genie_gym.agents.explore_command import make_reward_env

    venv, _, _ = make_reward_env(settings, num_envs, seed, world_model=world_model, curiosity=curiosity)
    return VecMonitor(venv)


def build_recurrent_ppo(env: VecEnv, seed: int, n_steps: int, ent_coef: float, n_epochs: int, batch_size: int):
    """sb3-contrib ``RecurrentPPO`` with ``CnnLstmPolicy`` and the settings of the module docstring."""
    return RecurrentPPO("CnnLstmPolicy", env, n_steps=n_steps, batch_size=batch_size, n_epochs=n_epochs,
                        learning_rate=LEARNING_RATE, gamma=GAMMA, gae_lambda=GAE_LAMBDA, clip_range=CLIP_RANGE,
                        ent_coef=ent_coef, policy_kwargs={"lstm_hidden_size": LSTM_HIDDEN_SIZE}, seed=seed, verbose=0)


class PaperExplorer:
    """The paper agent's parts for ``genie explore``'s run loop: the epsilon wrapper around the training env, the
    ``RecurrentPPO`` model, the callbacks (executed actions, best policy), their checkpoint state and figures.

    Args:
        settings: ``genie explore``'s settings (resolved).
        venv: the training env from ``build_envs``.
        world_model, curiosity: from ``build_envs`` (for the evaluation env).
        rollout_steps: steps per env of each rollout (``rollout_plan``).
        trained: env steps already trained (resume), where the epsilon schedule continues.
        out: the run directory (``best_policy.safetensors`` goes there).
    """

    def __init__(self, settings: ExploreSettings, venv: VecEnv, world_model: Any, curiosity: Any, rollout_steps: int,
                 trained: int, out: Path) -> None:
        self.epsilon_env = EpsilonGreedyVecEnv(venv, settings.timesteps, seed=(settings.seed, trained),
                                               timesteps=trained)
        self.model = build_recurrent_ppo(self.epsilon_env, settings.seed, rollout_steps, settings.ent_coef,
                                         settings.n_epochs, settings.batch_size)
        eval_envs = min(settings.num_envs, settings.eval_return_episodes)
        self.eval_env = build_eval_env(settings, world_model, curiosity, eval_envs, settings.eval_seed)
        self.best = BestPolicyCallback(self.eval_env, settings.eval_every, settings.eval_return_episodes,
                                       out / BEST_POLICY_FILE)
        self.callbacks = [LearnFromExecutedActions(self.epsilon_env), self.best]
        self._replaced_at_rollout_start = (0, 0)

    def progress(self) -> str:
        """A note for the progress line of each rollout: epsilon and the share of actions it replaced."""
        replaced, decisions = self.epsilon_env.replaced, self.epsilon_env.decisions
        before = self._replaced_at_rollout_start
        self._replaced_at_rollout_start = (replaced, decisions)
        share = (replaced - before[0]) / max(1, decisions - before[1])
        return f", epsilon {self.epsilon_env.last_epsilon:.3f} (replaced {share:.1%})"

    def take_evaluated(self) -> bool:
        """Whether an evaluation ran since the last call (a checkpoint should follow it)."""
        evaluated, self.best.evaluated_now = self.best.evaluated_now, False
        return evaluated

    def finish(self) -> None:
        """Evaluate the final policy unless it was just evaluated (so the last policy is a candidate too)."""
        if self.best.last_evaluated != self.model.num_timesteps:
            self.best.init_callback(self.model)
            self.best.evaluate()

    def state(self) -> dict[str, Any]:
        return {"best": self.best.state(), "replaced": self.epsilon_env.replaced,
                "decisions": self.epsilon_env.decisions}

    def load_state(self, state: dict[str, Any]) -> None:
        self.best.load_state(state["best"])
        self.epsilon_env.replaced, self.epsilon_env.decisions = int(state["replaced"]), int(state["decisions"])
        self._replaced_at_rollout_start = (self.epsilon_env.replaced, self.epsilon_env.decisions)

    def result(self) -> dict[str, Any]:
        return {"epsilon": {"schedule": FIXED_SETTINGS["epsilon"], "last": self.epsilon_env.last_epsilon,
                            "replaced": self.epsilon_env.replaced, "decisions": self.epsilon_env.decisions},
                "evaluations": self.best.evaluations, "best_eval_return": self.best.best,
                "best_policy": BEST_POLICY_FILE if self.best.path.is_file() else None}

    def close(self) -> None:
        self.eval_env.close()


def episodic_actor(policy_file: Path, episode_steps: int, seed: int):
    """``act(obs) -> int`` for :func:`genie_gym.agents.real_game_eval.real_game_runs`: a
    :class:`~genie_gym.agents.policy_agent.PolicyAgent` of ``policy_file`` whose LSTM state starts afresh every
    ``episode_steps`` calls (the runs' length; a run the game ends earlier hands its state to the next run)."""
    agent = PolicyAgent(policy_file, threads=None)  # the training process keeps its torch threads
    calls = 0

    def act(obs: np.ndarray) -> int:
        nonlocal calls
        if calls % episode_steps == 0:
            agent.reset(seed + calls // episode_steps)
        calls += 1
        return agent.act(obs)

    return act
