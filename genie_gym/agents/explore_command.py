"""``genie explore``: train an exploring agent in a dream or in the real game.

Agents (``--agent``):

- ``ppo`` (default): SB3 PPO with the Atari ``CnnPolicy``, 16 envs, 64-step rollouts.
- ``paper``: the paper's AutoExplore agent (appendix A.3, :mod:`genie_gym.agents.autoexplore`): sb3-contrib
  ``RecurrentPPO`` with ``CnnLstmPolicy``, 8 envs, 200-step rollouts, epsilon-greedy actions (0.1 -> 0.01 over the
  first half of training), entropy regularisation, and the policy with the best evaluation return kept as
  ``OUT/best_policy.safetensors``.

Rewards (``--reward``):

- ``uncertainty``: the world model's token-entropy uncertainty, AutoExplore's reward (paper §4), one definition in
  both kinds of env (``genie_gym.uncertainty.transition_uncertainty``, docs/DESIGN.md §7). In a dream it is the
  dream's own reward; in the real game the world model (``--world-model``) scores each real transition.
- ``rf`` / ``vae``: the exploration baselines of the paper's Table 6 "on top of GenieRedux": the SSE between random
  CNN / VAE features of the world model's predicted next frame and of the real one
  (:mod:`genie_gym.agents.curiosity_wm`). Real game only: a dream has no real next frame.
- ``rf-burda`` / ``vae-burda``: the original curiosity of Burda et al., with its own forward model trained online
  (:mod:`genie_gym.agents.curiosity`); a dream or the real game.
- ``game``: the game's own reward (SMB: its scenario reward for progress; real game only), for the agent whose
  episodes make the paper's test sets; with ``--epsilon`` its actions are mixed with random ones.

The curiosity and game rewards are normalised by a running std of the return (SB3's ``VecNormalize``), as Burda et
al. do. ``--epsilon E`` (``--agent ppo``) replaces each action by a uniformly random one with probability ``E``
throughout training, and PPO learns from the executed actions (``autoexplore.EpsilonGreedyVecEnv``,
``LearnFromExecutedActions``); ``genie collect --agent policy --epsilon E`` mixes them in the same way when it records.

Examples::

    genie explore --env GenieDream-SMB-v0 --reward uncertainty --timesteps 30000 --out runs/explore_ae
    genie explore --env SMB --reward rf --num-envs 4 --timesteps 30000 --out runs/explore_rf
    genie explore --env GenieDream-SMB-v0 --reward vae-burda --timesteps 30000 --out runs/explore_vae_burda
    genie collect --env SMB --agent policy --policy runs/explore_rf --episodes 50 --max-steps 300 --out data/rf
    genie explore --env SMB --reward game --epsilon 0.1 --num-envs 8 --timesteps 200000 --out runs/game_agent
    genie collect --env SMB --agent policy --policy runs/game_agent --epsilon 0.1 --episodes 300 --out data/test_game
    genie explore --agent paper --env SMB --reward uncertainty --out runs/autoexplore   # 480,000 steps
    genie collect --env SMB --agent policy --policy runs/autoexplore/best_policy.safetensors --episodes 50 --out data/ae

Writes ``OUT/policy.safetensors`` (what ``genie collect --agent policy`` plays), ``OUT/result.json`` (settings,
training rewards, wall time and how far the policy gets in the real game) and, every ``--checkpoint-every``
rollouts, ``OUT/checkpoint.pt`` (tensors only): rerunning the same command after an interruption continues from it,
a finished run returns at once, and the same command with a larger ``--timesteps`` trains it further. A paper-agent
run also keeps ``OUT/best_policy.safetensors`` (the policy with the best evaluation return, evaluated every
``--eval-every`` rollouts and at the end; its return is in the file's metadata and in ``result.json``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genie_gym.atomic import atomic_path

# torch, Stable-Baselines3, the world model and the reward envs are imported inside the functions: every `genie`
# invocation imports this module to build its parser, and only `genie explore` needs them.

REWARDS = ("uncertainty", "rf", "vae", "rf-burda", "vae-burda", "game")
WORLD_MODEL_CURIOSITY = ("rf", "vae")
"""Rewards computed on top of the world model's prediction (:mod:`genie_gym.agents.curiosity_wm`)."""
BURDA_CURIOSITY = {"rf-burda": "rf", "vae-burda": "vae"}
"""Burda-style rewards (:mod:`genie_gym.agents.curiosity`) and their feature kind."""
REAL_GAME_ONLY = ("rf", "vae", "game")
REWARD_VERSION = 2
"""Bumped when a reward's definition changes, so that no run is resumed under another one (2: issue 33, one
uncertainty definition for real game and dream; rf / vae on top of the world model, Burda's as rf-burda / vae-burda).
"""
AGENTS = ("ppo", "paper")
PPO_DEFAULTS = {"timesteps": 30000, "num_envs": 16, "n_steps": 64}
PAPER_ONLY = ("ent_coef", "n_epochs", "batch_size", "eval_every", "eval_return_episodes")
PAPER_SETTINGS = ("agent", "ent_coef", "n_epochs", "batch_size")
"""A paper-agent run's settings besides :data:`RUN_SETTINGS` (and ``autoexplore.FIXED_SETTINGS``)."""
# the settings of a run: all but --timesteps must match for a run to be resumed or trained further (the options not
# listed, e.g. --eval-episodes or --threads, may change)
RUN_SETTINGS = ("env", "reward", "world_model", "timesteps", "num_envs", "n_steps", "episode_steps",
                "maskgit_steps", "seed", "epsilon")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie explore`` to the command line."""
    parser = subparsers.add_parser("explore", help="train an exploring agent (PPO or the paper's recurrent "
                                   "AutoExplore; uncertainty, RF or VAE reward) in a dream or in the real game",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agent", choices=AGENTS, default="ppo", help="ppo: SB3 PPO, CnnPolicy (default); paper: "
                        "the paper's AutoExplore agent (RecurrentPPO, CnnLstmPolicy, epsilon-greedy, best policy kept)")
    parser.add_argument("--env", required=True, help="a dream (GenieDream-SMB-v0 or a world-model directory) or a "
                        "real game (SMB, or its GenieRetro-<Game>-v0 id)")
    parser.add_argument("--reward", choices=REWARDS, default="uncertainty",
                        help="uncertainty (AutoExplore); rf or vae (the paper's Table 6 baselines on top of the world "
                        "model, real game); rf-burda or vae-burda (Burda et al.'s own forward model); game (the "
                        "game's reward, real game)")
    parser.add_argument("--world-model", default="smb", help="the world model whose uncertainty (or prediction, rf / "
                        "vae) makes the reward in the real game (shipped name or directory); a dream uses its own "
                        "(default: smb)")
    parser.add_argument("--epsilon", type=float, default=None, help="--agent ppo: replace each action by a uniformly "
                        "random one with this probability throughout training (default: 0, none); the paper agent "
                        "has its own schedule (0.1 -> 0.01)")
    parser.add_argument("--out", required=True, help="run directory (policy.safetensors, result.json, checkpoint.pt)")
    parser.add_argument("--timesteps", type=int, default=None, help="env steps of training, all envs together (PPO "
                        "trains whole rollouts, so the total is rounded up to whole rollouts; printed before training; "
                        "default: 30000, paper: 480000 = 300 epochs x 8 envs x 200 steps)")
    parser.add_argument("--num-envs", type=int, default=None, help="envs stepped together (real games: one process "
                        "each; default: 16, paper: 8)")
    parser.add_argument("--n-steps", type=int, default=None, help="PPO rollout length per env (shortened when "
                        "--timesteps is less than one rollout of all envs; default: 64, paper: 200)")
    parser.add_argument("--episode-steps", type=int, default=64, help="an episode is truncated after this many steps")
    parser.add_argument("--maskgit-steps", type=int, default=1, help="MaskGIT steps of a dreamed frame, and of the "
                        "world model's prediction for rf / vae (1: real time); the uncertainty reward always takes "
                        "the first pass")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--checkpoint-every", type=int, default=5, help="rollouts between checkpoints")
    parser.add_argument("--eval-episodes", type=int, default=4, help="real-game runs of the trained policy (0: none)")
    parser.add_argument("--eval-steps", type=int, default=300, help="steps per real-game run")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: all cores)")
    paper = parser.add_argument_group("--agent paper only")
    paper.add_argument("--ent-coef", type=float, default=None, help="entropy regularisation weight (default: 0.01)")
    paper.add_argument("--n-epochs", type=int, default=None, help="passes over each rollout (default: 16, i.e. 208 "
                       "updates of 128 per rollout of 8 x 200 steps, the paper's 200 updates per epoch)")
    paper.add_argument("--batch-size", type=int, default=None, help="minibatch size (default: 128, as the paper)")
    paper.add_argument("--eval-every", type=int, default=None, help="rollouts between evaluations for the best "
                       "policy (default: 10; the final policy is evaluated too)")
    paper.add_argument("--eval-return-episodes", type=int, default=None, help="episodes per evaluation, in an env of "
                       "the training env's kind with its reward (default: 16)")
    parser.set_defaults(func=run)


def resolve_agent_defaults(args: argparse.Namespace) -> None:
    """Fill the options left unset with the defaults of ``args.agent`` (in place); options of the paper agent given
    to ``--agent ppo`` raise ``ValueError``."""
    agent = args.agent = getattr(args, "agent", "ppo")
    if agent == "paper":
        from genie_gym.agents.autoexplore import DEFAULTS

        if getattr(args, "epsilon", None) is not None:
            raise ValueError("--epsilon goes only with --agent ppo: the paper agent's epsilon follows its schedule "
                             "(0.1 -> 0.01 over the first half of training)")
    else:
        given = [name for name in PAPER_ONLY if getattr(args, name, None) is not None]
        if given:
            options = ", ".join("--" + name.replace("_", "-") for name in given)
            raise ValueError(f"{options} {'goes' if len(given) == 1 else 'go'} only with --agent paper")
        DEFAULTS = PPO_DEFAULTS
    for name, value in DEFAULTS.items():
        if getattr(args, name, None) is None:
            setattr(args, name, value)
    if agent == "ppo":
        args.epsilon = float(getattr(args, "epsilon", None) or 0.0)
        if not 0.0 <= args.epsilon <= 1.0:
            raise ValueError(f"--epsilon must lie in [0, 1], got {args.epsilon}")
    else:
        args.epsilon = None


def _resolve_env(target: str) -> tuple[str, str]:
    """``("dream", checkpoint)`` or ``("real", game name)`` for an env id, world-model directory or game name."""
    import gymnasium as gym

    from genie_gym.envs.registration import register_retro_envs, register_shipped_dreams, resolve_env_id
    from genie_gym.games import get_game

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


def make_reward_env(args: argparse.Namespace, num_envs: int, seed: int, world_model: Any = None,
                    curiosity: Any = None, rollout_steps: int | None = None) -> tuple[Any, Any, Any]:
    """``num_envs`` envs of ``args.env`` seeded from ``seed``, paying ``args.reward`` (no monitoring, normalisation or
    epsilon): the training env of :func:`build_envs` and the paper agent's evaluation env.

    ``world_model``: the one already loaded (else loaded here when the reward needs it). ``curiosity``: the training
    env's curiosity wrapper, whose model an evaluation env scores with and never trains. ``rollout_steps``: steps per
    env of a PPO rollout, when a curiosity model trains. Returns ``(venv, curiosity wrapper or None, world_model or
    None)``.
    """
    from stable_baselines3.common.vec_env import SubprocVecEnv

    from genie_gym.agents.curiosity import CuriosityRewardVecEnv
    from genie_gym.agents.curiosity_wm import WorldModelCuriosityVecEnv
    from genie_gym.agents.uncertainty_reward import UncertaintyRewardVecEnv
    from genie_gym.envs.dream_vec_env import GenieDreamVecEnv
    from genie_gym.envs.retro_env import GenieRetroEnv
    from genie_gym.world_model import WorldModel

    kind, source = _resolve_env(args.env)
    if kind == "dream" and args.reward in REAL_GAME_ONLY:
        what = ("the game's reward" if args.reward == "game" else
                f"{args.reward} compares the world model's prediction with the real next frame, which")
        raise ValueError(f"--reward {args.reward}: {what} a dream does not have; train it in the real game (--env "
                         f"SMB){'' if args.reward == 'game' else f', or use --reward {args.reward}-burda in a dream'}")
    if kind == "dream":
        world_model = world_model or WorldModel.from_pretrained(source)
        venv = GenieDreamVecEnv(num_envs, world_model=world_model, max_episode_steps=args.episode_steps,
                                maskgit_steps=args.maskgit_steps, seed=seed)
    else:
        def make(game: str = source, steps: int = args.episode_steps):
            return GenieRetroEnv(game, max_episode_steps=steps)

        venv = SubprocVecEnv([make] * num_envs)  # stable-retro: one emulator per process
        venv.seed(seed)
    learn = curiosity is None
    if args.reward in BURDA_CURIOSITY and learn:
        wrapper = CuriosityRewardVecEnv(venv, BURDA_CURIOSITY[args.reward], seed=seed,
                                        update_every=rollout_steps or args.n_steps)
        return wrapper, wrapper, world_model
    if args.reward in BURDA_CURIOSITY:
        from genie_gym.agents.autoexplore import scoring_curiosity

        return scoring_curiosity(venv, curiosity, seed), None, world_model
    if kind == "real" and args.reward in ("uncertainty", *WORLD_MODEL_CURIOSITY):
        world_model = world_model or WorldModel.from_pretrained(args.world_model)
    if kind == "real" and args.reward == "uncertainty":
        venv = UncertaintyRewardVecEnv(venv, world_model)
    if args.reward in WORLD_MODEL_CURIOSITY:
        wrapper = WorldModelCuriosityVecEnv(venv, world_model, args.reward, seed=seed,
                                            maskgit_steps=args.maskgit_steps,
                                            update_every=rollout_steps or args.n_steps, learn=learn)
        if not learn:
            wrapper.features = curiosity.features  # score with the training env's features
        return wrapper, wrapper if learn else None, world_model
    return venv, None, world_model


def build_envs(args: argparse.Namespace, rollout_steps: int | None = None) -> tuple[Any, Any, Any, str]:
    """The training VecEnv: dreams or real-game processes, the reward wrapper, episode statistics, normalisation.

    ``rollout_steps``: steps per env of a PPO rollout (default ``args.n_steps``), when the curiosity model trains.
    Returns ``(venv, curiosity wrapper or None, world_model or None, the real game's name)``.
    """
    from stable_baselines3.common.vec_env import VecMonitor, VecNormalize

    kind, source = _resolve_env(args.env)
    venv, wrapper, world_model = make_reward_env(args, args.num_envs, args.seed, rollout_steps=rollout_steps)
    venv = VecMonitor(venv)  # episode returns of the (unnormalised) reward
    if args.reward != "uncertainty":
        venv = VecNormalize(venv, norm_obs=False, norm_reward=True, gamma=0.99)
    game = str(world_model.settings["game"]) if kind == "dream" else source
    return venv, wrapper, world_model, game


def _atomic_save(obj: dict[str, Any], path: Path) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def run(args: argparse.Namespace) -> None:
    """``genie explore``: :func:`train_explorer`."""
    train_explorer(args)


def train_explorer(args: argparse.Namespace) -> dict[str, Any]:
    """Train (or resume, or return a finished run), save the policy, evaluate it in the real game, write
    ``OUT/result.json``; the one explorer training of ``genie explore`` and ``examples/ppo_in_dream.py``.

    ``args``: the options of ``genie explore`` (its parser's namespace; the unset ones are filled in place). Returns
    the run's ``result.json`` (that of a finished run as it is on disk).
    """
    import torch
    from safetensors.torch import save_model

    from genie_gym.allocator import keep_freed_memory

    resolve_agent_defaults(args)
    paper = args.agent == "paper"
    _check_sizes(args, paper)
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()
    out = Path(args.out)
    settings = _run_settings(args, paper)
    result_file, checkpoint_file, policy_file = out / "result.json", out / "checkpoint.pt", out / "policy.safetensors"
    done = _steps_done(out, settings, args.agent, (result_file, checkpoint_file))
    if done > args.timesteps:
        raise ValueError(f"{out} is already trained for {done} steps; pass --timesteps {done} or more")
    if done == args.timesteps and policy_file.is_file():
        print(f"{out} is finished ({policy_file}); nothing to do")
        return json.loads(result_file.read_text())

    state = torch.load(checkpoint_file, weights_only=True) if checkpoint_file.is_file() else None
    trained = int(state["num_timesteps"]) if state is not None else 0
    rollout_steps, planned = rollout_plan(args.timesteps, trained, args.num_envs, args.n_steps)
    venv, curiosity, world_model, game = build_envs(args, rollout_steps)
    learner = _build_learner(args, venv, world_model, curiosity, rollout_steps, trained, out)
    model = learner.model
    log: dict[str, Any] = {"timesteps": [], "mean_episode_reward": [], "train_seconds": 0.0}
    if state is not None:
        learner.load_state(state)
        log = state["log"]
        print(f"resuming {out} at {model.num_timesteps} of {args.timesteps} steps")
    if planned > model.num_timesteps:
        rollouts = (planned - model.num_timesteps) // (rollout_steps * args.num_envs)
        rounded = "" if planned == args.timesteps else f" (--timesteps {args.timesteps} rounded up to whole rollouts)"
        print(f"training to {planned} steps: {rollouts} rollout(s) of {args.num_envs} envs x {rollout_steps} "
              f"steps{rounded}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter() - float(log["train_seconds"])

    def checkpoint() -> None:
        log["train_seconds"] = time.perf_counter() - started
        _atomic_save(learner.state(settings, log), checkpoint_file)

    remaining = args.timesteps - model.num_timesteps
    if remaining > 0:
        model.learn(total_timesteps=remaining, callback=_callbacks(args, learner, log, planned, checkpoint),
                    reset_num_timesteps=False)
    if learner.explorer is not None:
        learner.explorer.finish()
        learner.explorer.close()
    checkpoint()
    venv.close()
    save_model(model.policy, str(policy_file))
    result = learner.result(settings, log, rollout_steps, args.epsilon)
    print(f"trained {model.num_timesteps} steps ({args.reward} reward) in {result['train_seconds']:.0f} s: "
          f"{policy_file}")
    if args.eval_episodes > 0:
        _evaluate_in_real_game(args, game, learner, world_model, out, policy_file, result)
    result_file.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {result_file}")
    return result


def evaluate_saved_policy(args: argparse.Namespace, policy_file: Path) -> dict[str, Any]:
    """Play a ``policy.safetensors`` of a PPO run (``--agent ppo``) in the real game as :func:`train_explorer` plays
    the policy it trained (the same figures for the same settings); returns them as ``result.json``'s real-game keys.

    Raises ``ValueError`` when the file is not a ``CnnPolicy`` of this shape (a truncated file, another format).
    """
    from safetensors.torch import load_model

    from genie_gym.agents.ppo_settings import build_ppo
    from genie_gym.allocator import keep_freed_memory

    resolve_agent_defaults(args)
    keep_freed_memory()
    if args.agent != "ppo":
        raise ValueError("only a PPO run's policy (--agent ppo) is evaluated here")
    _check_sizes(args, False)
    venv, _, world_model, game = build_envs(args)
    try:
        learner = _Learner(build_ppo(venv, args.seed, args.n_steps))
    finally:
        venv.close()
    try:
        load_model(learner.model.policy, str(policy_file))  # strict: every weight, with its shape
    except Exception as exc:  # a truncated file, another format, another policy's weights
        raise ValueError(f"{policy_file} is not a CnnPolicy of this run's shape ({exc})") from None
    result: dict[str, Any] = {}
    _evaluate_in_real_game(args, game, learner, world_model, Path(args.out), policy_file, result)
    return result


def _check_sizes(args: argparse.Namespace, paper: bool) -> None:
    """Refuse counts below 1 before anything is built (SB3 would fail later, or loop, on some of them)."""
    if paper and min(args.n_epochs, args.batch_size, args.eval_every, args.eval_return_episodes) < 1:
        raise ValueError("--n-epochs, --batch-size, --eval-every and --eval-return-episodes must be >= 1")
    if args.timesteps < 1 or args.num_envs < 1 or args.n_steps < 1 or args.episode_steps < 1:
        raise ValueError("--timesteps, --num-envs, --n-steps and --episode-steps must be >= 1")


def _run_settings(args: argparse.Namespace, paper: bool) -> dict[str, Any]:
    """The settings saved with the run; a rerun into the same OUT must give the same ones to resume it."""
    settings = {name: getattr(args, name) for name in RUN_SETTINGS}
    settings["reward_version"] = REWARD_VERSION
    if paper:
        from genie_gym.agents import autoexplore

        settings.update({name: getattr(args, name) for name in PAPER_SETTINGS}, **autoexplore.FIXED_SETTINGS)
    return settings


def _steps_done(out: Path, settings: dict[str, Any], agent: str, files: tuple[Path, Path]) -> int:
    """Steps already trained in OUT by a finished run (``result.json``); 0 for a new or unfinished one.

    Raises if OUT holds a run with other settings (``result.json`` or ``checkpoint.pt``): continuing it would mix
    two runs in one policy.
    """
    import torch

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


def _build_learner(args: argparse.Namespace, venv: Any, world_model: Any, curiosity: Any, rollout_steps: int,
                   trained: int, out: Path) -> _Learner:
    """The paper agent (its own RecurrentPPO), or PPO on ``venv`` (behind epsilon-random actions with ``--epsilon``)."""
    from stable_baselines3.common.vec_env import VecNormalize

    from genie_gym.agents.ppo_settings import build_ppo

    explorer, epsilon_env = None, None
    if args.agent == "paper":
        from genie_gym.agents import autoexplore

        explorer = autoexplore.PaperExplorer(args, venv, world_model, curiosity, rollout_steps, trained, out)
        model = explorer.model
    else:
        if args.epsilon > 0:  # constant epsilon-random actions, learnt from as executed (as the paper agent does)
            from genie_gym.agents.autoexplore import EpsilonGreedyVecEnv

            epsilon_env = EpsilonGreedyVecEnv(venv, args.timesteps, seed=(args.seed, trained), timesteps=trained,
                                              start=args.epsilon, end=args.epsilon)
        model = build_ppo(venv if epsilon_env is None else epsilon_env, args.seed, rollout_steps)
    normalizer = venv if isinstance(venv, VecNormalize) else None
    return _Learner(model, curiosity, normalizer, explorer, epsilon_env)


def _callbacks(args: argparse.Namespace, learner: _Learner, log: dict[str, Any], planned: int,
               checkpoint: Callable[[], None]) -> list[Any]:
    """The SB3 callbacks of ``model.learn``: after each rollout, log the mean episode reward and checkpoint every
    ``--checkpoint-every`` rollouts (and after each paper-agent evaluation)."""
    from stable_baselines3.common.callbacks import BaseCallback

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
                print(f"{self.model.num_timesteps}/{planned} steps: mean episode reward ({args.reward}) "
                      f"{mean:.3f}{extra}", flush=True)
            evaluated = explorer is not None and explorer.take_evaluated()  # keep the best return with the file
            if self.rollouts % max(1, args.checkpoint_every) == 0 or evaluated:
                checkpoint()

    # the paper agent's callbacks run before Progress, so that a rollout's evaluation is in its checkpoint
    callback = [*explorer.callbacks, Progress()] if explorer is not None else [Progress()]
    if learner.epsilon_env is not None:
        from genie_gym.agents.autoexplore import LearnFromExecutedActions

        callback.insert(0, LearnFromExecutedActions(learner.epsilon_env))
    return callback


def _evaluate_in_real_game(args: argparse.Namespace, game: str, learner: _Learner, world_model: Any, out: Path,
                           policy_file: Path, result: dict[str, Any]) -> None:
    """Play the policy (and the paper agent's best one), and the right-biased baseline, in the real game; add the
    figures to ``result`` and print them. The seeds are ones the training never used."""
    import torch

    from genie_gym.agents.random_agent import RightBiasedStickyAgent
    from genie_gym.agents.real_game_eval import real_game_runs

    eval_seed = 10_000 + args.seed
    torch.manual_seed(eval_seed)
    if learner.explorer is None:
        model = learner.model
        result["real_game"] = real_game_runs(game, lambda obs: model.predict(obs, deterministic=False)[0],
                                             args.eval_episodes, args.eval_steps, eval_seed, world_model)
    else:  # the LSTM policy plays as `genie collect` plays it: state carried, reset at each run's start
        from genie_gym.agents import autoexplore

        best_file = out / autoexplore.BEST_POLICY_FILE
        for name, file in (("real_game", policy_file), ("real_game_best", best_file)):
            act = autoexplore.episodic_actor(file, args.eval_steps, eval_seed)
            result[name] = real_game_runs(game, act, args.eval_episodes, args.eval_steps, eval_seed, world_model)
    if getattr(args, "random_baseline", False):  # uniformly random actions (examples/ppo_in_dream.py)
        rng = np.random.default_rng(eval_seed)
        result["real_game_random"] = real_game_runs(game, lambda obs: rng.integers(0, 5), args.eval_episodes,
                                                    args.eval_steps, eval_seed, world_model)
    right_biased = RightBiasedStickyAgent()
    right_biased.reset(eval_seed)
    result["real_game_right_biased"] = real_game_runs(game, right_biased.act, args.eval_episodes,
                                                      args.eval_steps, eval_seed, world_model)
    for name in ("real_game", "real_game_best", "real_game_random", "real_game_right_biased"):
        if name not in result:
            continue
        figures = result[name]
        print(f"{name}: furthest camera x {figures['mean_furthest_camera_x']} (runs "
              f"{figures['furthest_camera_x']}), distinct screens {figures['mean_distinct_screens']}, "
              f"actions {figures['action_share']}, world-model uncertainty "
              f"{figures['mean_uncertainty_along_run']}")
