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
from dataclasses import dataclass, fields
from typing import Any

from genie_gym.options import add_options, option
from genie_gym.sampling_options import sampling_option

# Every `genie` invocation imports this module to build `genie explore`'s parser, so it stays light: the training
# (genie_gym.agents.explore_command: torch, Stable-Baselines3, the reward envs) is imported only when the command
# runs, and genie_gym.agents.autoexplore only to resolve `--agent paper`'s defaults, where they are documented.

REWARDS = ("uncertainty", "rf", "vae", "rf-burda", "vae-burda", "game")
AGENTS = ("ppo", "paper")
PPO_DEFAULTS = {"timesteps": 30000, "num_envs": 16, "n_steps": 64}
"""``--agent ppo``'s defaults of the options whose default depends on the agent (the paper agent's:
``autoexplore.DEFAULTS``)."""
PAPER_OPTIONS_TITLE = "--agent paper only"
EVAL_SEED_OFFSET = 10_000
"""The evaluation runs are seeded from ``EVAL_SEED_OFFSET + seed`` (:attr:`ExploreSettings.eval_seed`): seeds that
the training's envs and dream contexts, seeded from ``seed`` upwards, never use."""


@dataclass(kw_only=True)
class ExploreOptions:
    """``genie explore``'s options for either agent (``None``: the agent's default, see :class:`ExploreSettings`)."""

    agent: str = option("ppo", "ppo: SB3 PPO, CnnPolicy (default); paper: the paper's AutoExplore agent (RecurrentPPO, "
                        "CnnLstmPolicy, epsilon-greedy, best policy kept)", choices=AGENTS)
    env: str = option(help="a dream (GenieDream-SMB-v0 or a world-model directory) or a real game (SMB, or its "
                      "GenieRetro-<Game>-v0 id)")
    reward: str = option("uncertainty", "uncertainty (AutoExplore); rf or vae (the paper's Table 6 baselines on top "
                         "of the world model, real game); rf-burda or vae-burda (Burda et al.'s own forward model); "
                         "game (the game's reward, real game)", choices=REWARDS)
    world_model: str = option("smb", "the world model whose uncertainty (or prediction, rf / vae) makes the reward in "
                              "the real game (shipped name or directory); a dream uses its own (default: smb)")
    epsilon: float | None = option(None, "--agent ppo: replace each action by a uniformly random one with this "
                                   "probability throughout training (default: 0, none); the paper agent has its own "
                                   "schedule (0.1 -> 0.01)")
    out: str = option(help="run directory (policy.safetensors, result.json, checkpoint.pt)")
    timesteps: int | None = option(None, "env steps of training, all envs together (PPO trains whole rollouts, so the "
                                   "total is rounded up to whole rollouts; printed before training; default: 30000, "
                                   "paper: 480000 = 300 epochs x 8 envs x 200 steps)")
    num_envs: int | None = option(None, "envs stepped together (real games: one process each; default: 16, paper: 8)")
    n_steps: int | None = option(None, "PPO rollout length per env (shortened when --timesteps is less than one "
                                 "rollout of all envs; default: 64, paper: 200)")
    episode_steps: int = option(64, "an episode is truncated after this many steps")
    maskgit_steps: int = sampling_option("maskgit_steps", 1, "%(default)s; the world model's prediction for rf / vae "
                                         "takes as many, the uncertainty reward always the first pass")
    seed: int = option(0)
    checkpoint_every: int = option(5, "rollouts between checkpoints")
    eval_episodes: int = option(4, "real-game runs of the trained policy (0: none)")
    eval_steps: int = option(300, "steps per real-game run")
    threads: int | None = option(None, "torch CPU threads (default: all cores)")


@dataclass(kw_only=True)
class PaperOptions:
    """``genie explore``'s options of the paper agent only (``None``: its default, ``autoexplore.DEFAULTS``)."""

    ent_coef: float | None = option(None, "entropy regularisation weight (default: 0.01)")
    n_epochs: int | None = option(None, "passes over each rollout (default: 16, i.e. 208 updates of 128 per rollout of "
                                  "8 x 200 steps, the paper's 200 updates per epoch)")
    batch_size: int | None = option(None, "minibatch size (default: 128, as the paper)")
    eval_every: int | None = option(None, "rollouts between evaluations for the best policy (default: 10; the final "
                                    "policy is evaluated too)")
    eval_return_episodes: int | None = option(None, "episodes per evaluation, in an env of the training env's kind "
                                              "with its reward (default: 16)")


PAPER_ONLY = tuple(field.name for field in fields(PaperOptions))
"""The options of the paper agent only."""


@dataclass(kw_only=True)
class ExploreSettings(ExploreOptions, PaperOptions):
    """Everything one ``genie explore`` run is trained and evaluated with: :func:`from_args` of its parsed options
    (``examples/ppo_in_dream.py``: of a subset, in a subclass with its own defaults), or built directly.

    Built, the settings are resolved and checked: the options left ``None`` take ``--agent``'s defaults
    (``timesteps``, ``num_envs``, ``n_steps``; the paper agent's own options), ``epsilon`` is a float for ``--agent
    ppo`` and ``None`` for the paper agent (its epsilon follows its schedule), and ``ValueError`` refuses what does
    not go together (a paper option with ``--agent ppo``, ``--epsilon`` with ``--agent paper``) and counts below 1.
    Resolving resolved settings changes nothing, so ``dataclasses.replace`` works on them.
    """

    random_baseline: bool = False
    """Also play a uniformly random policy in the real-game evaluation (``examples/ppo_in_dream.py``)."""

    def __post_init__(self) -> None:
        if self.agent not in AGENTS:
            raise ValueError(f"--agent must be one of {', '.join(AGENTS)}, got {self.agent!r}")
        if self.reward not in REWARDS:
            raise ValueError(f"--reward must be one of {', '.join(REWARDS)}, got {self.reward!r}")
        self._resolve_agent_defaults()
        self._check_sizes()

    @property
    def paper(self) -> bool:
        """Whether this is the paper agent's run (``--agent paper``)."""
        return self.agent == "paper"

    @property
    def eval_seed(self) -> int:
        """The seed of the evaluation runs, real game and the paper agent's best-policy evaluation alike."""
        return EVAL_SEED_OFFSET + self.seed

    def _resolve_agent_defaults(self) -> None:
        """Fill the options left unset with the defaults of ``agent``; options of the paper agent given to ``--agent
        ppo`` raise ``ValueError``."""
        defaults: dict[str, Any]
        if self.paper:
            from genie_gym.agents.autoexplore import DEFAULTS as defaults

            if self.epsilon is not None:
                raise ValueError("--epsilon goes only with --agent ppo: the paper agent's epsilon follows its schedule "
                                 "(0.1 -> 0.01 over the first half of training)")
        else:
            given = [name for name in PAPER_ONLY if getattr(self, name) is not None]
            if given:
                options = ", ".join("--" + name.replace("_", "-") for name in given)
                raise ValueError(f"{options} {'goes' if len(given) == 1 else 'go'} only with --agent paper")
            defaults = PPO_DEFAULTS
        for name, value in defaults.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        if self.paper:
            return
        self.epsilon = float(self.epsilon or 0.0)
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValueError(f"--epsilon must lie in [0, 1], got {self.epsilon}")

    def _check_sizes(self) -> None:
        """Refuse counts below 1 before anything is built (SB3 would fail later, or loop, on some of them)."""
        if self.paper and min(self.n_epochs, self.batch_size, self.eval_every, self.eval_return_episodes) < 1:
            raise ValueError("--n-epochs, --batch-size, --eval-every and --eval-return-episodes must be >= 1")
        if self.timesteps < 1 or self.num_envs < 1 or self.n_steps < 1 or self.episode_steps < 1:
            raise ValueError("--timesteps, --num-envs, --n-steps and --episode-steps must be >= 1")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie explore`` to the command line (the paper agent's options in their own help section)."""
    parser = subparsers.add_parser("explore", help="train an exploring agent (PPO or the paper's recurrent "
                                   "AutoExplore; uncertainty, RF or VAE reward) in a dream or in the real game",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_options(parser, ExploreOptions)
    add_options(parser, PaperOptions, PAPER_OPTIONS_TITLE)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> None:
    from genie_gym.agents.explore_command import run

    run(args)
