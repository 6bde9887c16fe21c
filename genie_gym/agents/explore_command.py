"""The training behind ``genie explore`` (:func:`train_explorer`, also run by ``examples/ppo_in_dream.py``): the
reward envs, the PPO or paper-agent learner, checkpoints that resume, and the real-game evaluation of the policy.

The command's options, checks and documentation are in :mod:`genie_gym.agents.explore_settings`, which registers the
command and imports this module only when ``genie explore`` runs.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from safetensors.torch import load_model, save_model
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import SubprocVecEnv, VecMonitor, VecNormalize

from genie_gym.agents import autoexplore
from genie_gym.agents.curiosity import CuriosityRewardVecEnv
from genie_gym.agents.curiosity_wm import WorldModelCuriosityVecEnv
from genie_gym.agents.explore_settings import ExploreSettings
from genie_gym.agents.ppo_settings import build_ppo
from genie_gym.agents.random_agent import RightBiasedStickyAgent
from genie_gym.agents.real_game_eval import real_game_runs
from genie_gym.agents.uncertainty_reward import UncertaintyRewardVecEnv
from genie_gym.allocator import keep_freed_memory
from genie_gym.atomic import atomic_path
from genie_gym.envs.dream_vec_env import GenieDreamVecEnv
from genie_gym.envs.registration import register_retro_envs, register_shipped_dreams, resolve_env_id
from genie_gym.envs.retro_env import GenieRetroEnv
from genie_gym.games import get_game
from genie_gym.options import from_args
from genie_gym.world_model import WorldModel

WORLD_MODEL_CURIOSITY = ("rf", "vae")
"""Rewards computed on top of the world model's prediction (:mod:`genie_gym.agents.curiosity_wm`)."""
BURDA_CURIOSITY = {"rf-burda": "rf", "vae-burda": "vae"}
"""Burda-style rewards (:mod:`genie_gym.agents.curiosity`) and their feature kind."""
REAL_GAME_ONLY = ("rf", "vae", "game")
REWARD_VERSION = 2
"""Bumped when a reward's definition changes, so that no run is resumed under another one (2: issue 33, one
uncertainty definition for real game and dream; rf / vae on top of the world model, Burda's as rf-burda / vae-burda).
"""
PAPER_SETTINGS = ("agent", "ent_coef", "n_epochs", "batch_size")
"""A paper-agent run's settings besides :data:`RUN_SETTINGS` (and ``autoexplore.FIXED_SETTINGS``)."""
# the settings of a run: all but --timesteps must match for a run to be resumed or trained further (the options not
# listed, e.g. --eval-episodes or --threads, may change)
RUN_SETTINGS = ("env", "reward", "world_model", "timesteps", "num_envs", "n_steps", "episode_steps",
                "maskgit_steps", "seed", "epsilon")


def _resolve_env(target: str) -> tuple[str, str]:
    """``("dream", checkpoint)`` or ``("real", game name)`` for an env id, world-model directory or game name."""
    register_shipped_dreams()
    register_retro_envs()
    if target in gym.registry or Path(target).is_dir():
        spec = gym.registry[resolve_env_id(target)]
        if "checkpoint" in spec.kwargs:
            return "dream", str(spec.kwargs["checkpoint"])
        return "real", str(spec.kwargs["game"])
    try:
        return "real", get_game(target).name
    except (KeyError, ValueError):
        resolve_env_id(target)  # raises the error that lists what is accepted
        raise


def rollout_plan(timesteps: int, trained: int, num_envs: int, n_steps: int) -> tuple[int, int]:
    """What PPO will run to train from ``trained`` to ``timesteps`` steps: ``(steps per env of each rollout, total
    steps at the end)``.

    SB3's PPO collects whole rollouts of ``n_steps * num_envs`` steps, so the total is rounded up to whole rollouts;
    when less than one rollout is left, the rollout is shortened to ``ceil((timesteps - trained) / num_envs)`` steps
    per env, so ``--timesteps 256`` with 16 envs trains 256 steps, not one rollout of 1,024.
    """
    remaining = timesteps - trained
    if remaining <= 0:
        return n_steps, trained
    rollout_steps = min(n_steps, -(-remaining // num_envs))
    per_rollout = rollout_steps * num_envs
    return rollout_steps, trained + -(-remaining // per_rollout) * per_rollout


def make_reward_env(settings: ExploreSettings, num_envs: int, seed: int, world_model: Any = None,
                    curiosity: Any = None, rollout_steps: int | None = None) -> tuple[Any, Any, Any]:
    """``num_envs`` envs of ``settings.env`` seeded from ``seed``, paying ``settings.reward`` (no monitoring,
    normalisation or epsilon): the training env of :func:`build_envs` and the paper agent's evaluation env.

    ``world_model``: the one already loaded (else loaded here when the reward needs it). ``curiosity``: the training
    env's curiosity wrapper, whose model an evaluation env scores with and never trains. ``rollout_steps``: steps per
    env of a PPO rollout, when a curiosity model trains. Returns ``(venv, curiosity wrapper or None, world_model or
    None)``.
    """
    kind, source = _resolve_env(settings.env)
    if kind == "dream" and settings.reward in REAL_GAME_ONLY:
        what = ("the game's reward" if settings.reward == "game" else
                f"{settings.reward} compares the world model's prediction with the real next frame, which")
        reward = settings.reward
        raise ValueError(f"--reward {reward}: {what} a dream does not have; train it in the real game (--env "
                         f"SMB){'' if reward == 'game' else f', or use --reward {reward}-burda in a dream'}")
    if kind == "dream":
        world_model = world_model or WorldModel.from_pretrained(source)
        venv = GenieDreamVecEnv(num_envs, world_model=world_model, max_episode_steps=settings.episode_steps,
                                maskgit_steps=settings.maskgit_steps, seed=seed)
    else:
        def make(game: str = source, steps: int = settings.episode_steps):
            return GenieRetroEnv(game, max_episode_steps=steps)

        venv = SubprocVecEnv([make] * num_envs)  # stable-retro: one emulator per process
        venv.seed(seed)
    learn = curiosity is None
    if settings.reward in BURDA_CURIOSITY and learn:
        wrapper = CuriosityRewardVecEnv(venv, BURDA_CURIOSITY[settings.reward], seed=seed,
                                        update_every=rollout_steps or settings.n_steps)
        return wrapper, wrapper, world_model
    if settings.reward in BURDA_CURIOSITY:
        return autoexplore.scoring_curiosity(venv, curiosity, seed), None, world_model
    if kind == "real" and settings.reward in ("uncertainty", *WORLD_MODEL_CURIOSITY):
        world_model = world_model or WorldModel.from_pretrained(settings.world_model)
    if kind == "real" and settings.reward == "uncertainty":
        venv = UncertaintyRewardVecEnv(venv, world_model)
    if settings.reward in WORLD_MODEL_CURIOSITY:
        wrapper = WorldModelCuriosityVecEnv(venv, world_model, settings.reward, seed=seed,
                                            maskgit_steps=settings.maskgit_steps,
                                            update_every=rollout_steps or settings.n_steps, learn=learn)
        if not learn:
            wrapper.features = curiosity.features  # score with the training env's features
        return wrapper, wrapper if learn else None, world_model
    return venv, None, world_model


def build_envs(settings: ExploreSettings, rollout_steps: int | None = None) -> tuple[Any, Any, Any, str]:
    """The training VecEnv: dreams or real-game processes, the reward wrapper, episode statistics, normalisation.

    ``rollout_steps``: steps per env of a PPO rollout (default ``settings.n_steps``), when the curiosity model trains.
    Returns ``(venv, curiosity wrapper or None, world_model or None, the real game's name)``.
    """
    kind, source = _resolve_env(settings.env)
    venv, wrapper, world_model = make_reward_env(settings, settings.num_envs, settings.seed,
                                                 rollout_steps=rollout_steps)
    venv = VecMonitor(venv)  # episode returns of the (unnormalised) reward
    if settings.reward != "uncertainty":
        venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=0.99)
    game = str(world_model.settings["game"]) if kind == "dream" else source
    return venv, wrapper, world_model, game


def _atomic_save(obj: dict[str, Any], path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def run(args: argparse.Namespace) -> None:
    """``genie explore``: :func:`train_explorer` with the settings of the command line (checked as they are built)."""
    train_explorer(from_args(ExploreSettings, args))


def train_explorer(settings: ExploreSettings) -> dict[str, Any]:
    """Train (or resume, or return a finished run), save the policy, evaluate it in the real game, write
    ``OUT/result.json``; the one explorer training of ``genie explore`` and ``examples/ppo_in_dream.py``.

    ``settings``: the run's settings (``genie explore``'s options, resolved and checked). Returns the run's
    ``result.json`` (that of a finished run as it is on disk).
    """
    if settings.threads:
        torch.set_num_threads(settings.threads)
    keep_freed_memory()
    out = Path(settings.out)
    run_settings = _run_settings(settings)
    result_file, checkpoint_file, policy_file = out / "result.json", out / "checkpoint.pt", out / "policy.safetensors"
    done = _steps_done(out, run_settings, settings.agent, (result_file, checkpoint_file))
    if done > settings.timesteps:
        raise ValueError(f"{out} is already trained for {done} steps; pass --timesteps {done} or more")
    if done == settings.timesteps and policy_file.is_file():
        print(f"{out} is finished ({policy_file}); nothing to do")
        return json.loads(result_file.read_text())

    state = torch.load(checkpoint_file, weights_only=True) if checkpoint_file.is_file() else None
    trained = int(state["num_timesteps"]) if state is not None else 0
    rollout_steps, planned = rollout_plan(settings.timesteps, trained, settings.num_envs, settings.n_steps)
    venv, curiosity, world_model, game = build_envs(settings, rollout_steps)
    learner = _build_learner(settings, venv, world_model, curiosity, rollout_steps, trained, out)
    model = learner.model
    log: dict[str, Any] = {"timesteps": [], "mean_episode_reward": [], "train_seconds": 0.0}
    if state is not None:
        learner.load_state(state)
        log = state["log"]
        print(f"resuming {out} at {model.num_timesteps} of {settings.timesteps} steps")
    if planned > model.num_timesteps:
        rollouts = (planned - model.num_timesteps) // (rollout_steps * settings.num_envs)
        rounded = ("" if planned == settings.timesteps else
                   f" (--timesteps {settings.timesteps} rounded up to whole rollouts)")
        print(f"training to {planned} steps: {rollouts} rollout(s) of {settings.num_envs} envs x {rollout_steps} "
              f"steps{rounded}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter() - float(log["train_seconds"])

    def checkpoint() -> None:
        log["train_seconds"] = time.perf_counter() - started
        _atomic_save(learner.state(run_settings, log), checkpoint_file)

    remaining = settings.timesteps - model.num_timesteps
    if remaining > 0:
        model.learn(total_timesteps=remaining, callback=_callbacks(settings, learner, log, planned, checkpoint),
                    reset_num_timesteps=False)
    if learner.explorer is not None:
        learner.explorer.finish()
        learner.explorer.close()
    checkpoint()
    venv.close()
    save_model(model.policy, str(policy_file))
    result = learner.result(run_settings, log, rollout_steps, settings.epsilon)
    print(f"trained {model.num_timesteps} steps ({settings.reward} reward) in {result['train_seconds']:.0f} s: "
          f"{policy_file}")
    if settings.eval_episodes > 0:
        _evaluate_in_real_game(settings, game, learner, world_model, out, policy_file, result)
    result_file.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {result_file}")
    return result


def evaluate_saved_policy(settings: ExploreSettings, policy_file: Path) -> dict[str, Any]:
    """Play a ``policy.safetensors`` of a PPO run (``--agent ppo``) in the real game as :func:`train_explorer` plays
    the policy it trained (the same figures for the same settings); returns them as ``result.json``'s real-game keys.

    Raises ``ValueError`` when the file is not a ``CnnPolicy`` of this shape (a truncated file, another format).
    """
    keep_freed_memory()
    if settings.agent != "ppo":
        raise ValueError("only a PPO run's policy (--agent ppo) is evaluated here")
    venv, _, world_model, game = build_envs(settings)
    try:
        learner = _Learner(build_ppo(venv, settings.seed, settings.n_steps))
    finally:
        venv.close()
    try:
        load_model(learner.model.policy, str(policy_file))  # strict: every weight, with its shape
    except Exception as exc:  # a truncated file, another format, another policy's weights
        raise ValueError(f"{policy_file} is not a CnnPolicy of this run's shape ({exc})") from None
    result: dict[str, Any] = {}
    _evaluate_in_real_game(settings, game, learner, world_model, Path(settings.out), policy_file, result)
    return result


def _run_settings(settings: ExploreSettings) -> dict[str, Any]:
    """The settings saved with the run; a rerun into the same OUT must give the same ones to resume it."""
    saved = {name: getattr(settings, name) for name in RUN_SETTINGS}
    saved["reward_version"] = REWARD_VERSION
    if settings.paper:
        saved.update({name: getattr(settings, name) for name in PAPER_SETTINGS}, **autoexplore.FIXED_SETTINGS)
    return saved


def _steps_done(out: Path, settings: dict[str, Any], agent: str, files: tuple[Path, Path]) -> int:
    """Steps already trained in OUT by a finished run (``result.json``); 0 for a new or unfinished one.

    Raises if OUT holds a run with other settings (``result.json`` or ``checkpoint.pt``): continuing it would mix
    two runs in one policy.
    """
    done = 0
    for existing in files:
        if existing.is_file():
            saved = (json.loads(existing.read_text()) if existing.suffix == ".json"
                     else torch.load(existing, weights_only=True))["settings"]
            changed = {k: (saved.get(k), v) for k, v in settings.items() if k != "timesteps" and saved.get(k) != v}
            if saved.get("agent", "ppo") != agent:  # a ppo run's settings name no agent
                changed["agent"] = (saved.get("agent", "ppo"), agent)
            if changed:
                hint = (" (a run from before the reward definitions of issue 33: its rf / vae were today's rf-burda / "
                        "vae-burda, its dream uncertainty another one)" if "reward_version" in changed else "")
                raise ValueError(f"{out} holds a run with other settings (saved, now: {changed}){hint}; pass another "
                                 "--out or delete that directory")
            done = max(done, int(saved["timesteps"]) if existing.suffix == ".json" else 0)
    return done


@dataclass
class _Learner:
    """What a run trains and checkpoints: the SB3 model and, where the run has them, the curiosity module, the
    return normaliser (``VecNormalize``), the paper agent's explorer and the epsilon-random env."""

    model: Any
    curiosity: Any = None
    normalizer: Any = None
    explorer: Any = None
    epsilon_env: Any = None

    def state(self, settings: dict[str, Any], log: dict[str, Any]) -> dict[str, Any]:
        """The checkpoint (tensors and plain numbers only, so that it loads with ``weights_only=True``)."""
        model = self.model
        state = {"settings": settings, "policy": model.policy.state_dict(),
                 "policy_optimizer": model.policy.optimizer.state_dict(), "num_timesteps": model.num_timesteps,
                 "log": log}
        if self.curiosity is not None:
            state["curiosity"] = self.curiosity.state()
        if self.normalizer is not None:
            rms = self.normalizer.ret_rms
            state["ret_rms"] = [float(np.asarray(rms.mean)), float(np.asarray(rms.var)), float(rms.count)]
        if self.explorer is not None:
            state["autoexplore"] = self.explorer.state()
        if self.epsilon_env is not None:
            state["epsilon_counts"] = [self.epsilon_env.replaced, self.epsilon_env.decisions]
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint of :meth:`state` (the log is the caller's)."""
        self.model.policy.load_state_dict(state["policy"])
        self.model.policy.optimizer.load_state_dict(state["policy_optimizer"])
        self.model.num_timesteps = int(state["num_timesteps"])
        if self.curiosity is not None:
            self.curiosity.load_state(state["curiosity"])
        if self.normalizer is not None:
            rms = self.normalizer.ret_rms
            rms.mean, rms.var, rms.count = (
                np.asarray(state["ret_rms"][0]), np.asarray(state["ret_rms"][1]), float(state["ret_rms"][2]))
        if self.explorer is not None:
            self.explorer.load_state(state["autoexplore"])
        if self.epsilon_env is not None:
            self.epsilon_env.replaced, self.epsilon_env.decisions = (int(n) for n in state["epsilon_counts"])

    def result(self, settings: dict[str, Any], log: dict[str, Any], rollout_steps: int,
               epsilon: float) -> dict[str, Any]:
        """``result.json`` of the trained run, before the real-game evaluation."""
        result: dict[str, Any] = {"settings": settings, "trained_timesteps": int(self.model.num_timesteps),
                                  "rollout_steps": rollout_steps,
                                  "train_seconds": round(float(log["train_seconds"]), 1), "training": log}
        if self.curiosity is not None:
            result["curiosity_losses"] = self.curiosity.last_losses
        if self.explorer is not None:
            result.update(self.explorer.result())
        if self.epsilon_env is not None:
            result["epsilon"] = {"epsilon": epsilon, "replaced": self.epsilon_env.replaced,
                                 "decisions": self.epsilon_env.decisions}
        return result


def _build_learner(settings: ExploreSettings, venv: Any, world_model: Any, curiosity: Any, rollout_steps: int,
                   trained: int, out: Path) -> _Learner:
    """The paper agent (its own RecurrentPPO), or PPO on ``venv`` (behind epsilon-random actions with ``--epsilon``)."""
    explorer, epsilon_env = None, None
    if settings.paper:
        explorer = autoexplore.PaperExplorer(settings, venv, world_model, curiosity, rollout_steps, trained, out)
        model = explorer.model
    else:
        if settings.epsilon > 0:  # constant epsilon-random actions, learnt from as executed (as the paper agent does)
            epsilon_env = autoexplore.EpsilonGreedyVecEnv(venv, settings.timesteps, seed=(settings.seed, trained),
                                                          timesteps=trained, start=settings.epsilon,
                                                          end=settings.epsilon)
        model = build_ppo(venv if epsilon_env is None else epsilon_env, settings.seed, rollout_steps)
    normalizer = venv if isinstance(venv, VecNormalize) else None
    return _Learner(model, curiosity, normalizer, explorer, epsilon_env)


def _callbacks(settings: ExploreSettings, learner: _Learner, log: dict[str, Any], planned: int,
               checkpoint: Callable[[], None]) -> list[Any]:
    """The SB3 callbacks of ``model.learn``: after each rollout, log the mean episode reward and checkpoint every
    ``--checkpoint-every`` rollouts (and after each paper-agent evaluation)."""
    curiosity, explorer = learner.curiosity, learner.explorer

    class Progress(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.rollouts = 0

        def _on_step(self) -> bool:
            return True

        def _on_rollout_end(self) -> None:
            self.rollouts += 1
            if self.model.ep_info_buffer:
                mean = float(np.mean([info["r"] for info in self.model.ep_info_buffer]))
                log["timesteps"].append(int(self.model.num_timesteps))
                log["mean_episode_reward"].append(mean)
                extra = "".join(f", {k} {v:.3g}" for k, v in (curiosity.last_losses if curiosity else {}).items())
                extra += explorer.progress() if explorer is not None else ""
                print(f"{self.model.num_timesteps}/{planned} steps: mean episode reward ({settings.reward}) "
                      f"{mean:.3f}{extra}", flush=True)
            evaluated = explorer is not None and explorer.take_evaluated()  # keep the best return with the file
            if self.rollouts % max(1, settings.checkpoint_every) == 0 or evaluated:
                checkpoint()

    # the paper agent's callbacks run before Progress, so that a rollout's evaluation is in its checkpoint
    callback = [*explorer.callbacks, Progress()] if explorer is not None else [Progress()]
    if learner.epsilon_env is not None:
        callback.insert(0, autoexplore.LearnFromExecutedActions(learner.epsilon_env))
    return callback


def _evaluate_in_real_game(settings: ExploreSettings, game: str, learner: _Learner, world_model: Any, out: Path,
                           policy_file: Path, result: dict[str, Any]) -> None:
    """Play the policy (and the paper agent's best one), and the right-biased baseline, in the real game; add the
    figures to ``result`` and print them. The seeds are ones the training never used."""
    eval_seed = settings.eval_seed
    torch.manual_seed(eval_seed)
    if learner.explorer is None:
        model = learner.model
        result["real_game"] = real_game_runs(game, lambda obs: model.predict(obs, deterministic=False)[0],
                                             settings.eval_episodes, settings.eval_steps, eval_seed, world_model)
    else:  # the LSTM policy plays as `genie collect` plays it: state carried, reset at each run's start
        best_file = out / autoexplore.BEST_POLICY_FILE
        for name, file in (("real_game", policy_file), ("real_game_best", best_file)):
            act = autoexplore.episodic_actor(file, settings.eval_steps, eval_seed)
            result[name] = real_game_runs(game, act, settings.eval_episodes, settings.eval_steps, eval_seed,
                                          world_model)
    if settings.random_baseline:  # uniformly random actions (examples/ppo_in_dream.py)
        rng = np.random.default_rng(eval_seed)
        result["real_game_random"] = real_game_runs(game, lambda obs: rng.integers(0, 5), settings.eval_episodes,
                                                    settings.eval_steps, eval_seed, world_model)
    right_biased = RightBiasedStickyAgent()
    right_biased.reset(eval_seed)
    result["real_game_right_biased"] = real_game_runs(game, right_biased.act, settings.eval_episodes,
                                                      settings.eval_steps, eval_seed, world_model)
    for name in ("real_game", "real_game_best", "real_game_random", "real_game_right_biased"):
        if name not in result:
            continue
        figures = result[name]
        print(f"{name}: furthest camera x {figures['mean_furthest_camera_x']} (runs "
              f"{figures['furthest_camera_x']}), distinct screens {figures['mean_distinct_screens']}, "
              f"actions {figures['action_share']}, world-model uncertainty "
              f"{figures['mean_uncertainty_along_run']}")
