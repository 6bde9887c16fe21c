"""The settings of ``genie explore`` (:class:`ExploreSettings`): each option declared once, with its help, on the
field it sets (:mod:`genie_gym.options`), and checked once, when the settings are built.

Light on purpose: every ``genie`` invocation imports ``genie explore``'s parser, so nothing here imports torch or
Stable-Baselines3 at module level (only resolving ``--agent paper``'s defaults imports
:mod:`genie_gym.agents.autoexplore`, where they are documented).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from typing import Any

from genie_gym.options import add_options, option

REWARDS = ("uncertainty", "rf", "vae", "rf-burda", "vae-burda", "game")
AGENTS = ("ppo", "paper")
PPO_DEFAULTS = {"timesteps": 30000, "num_envs": 16, "n_steps": 64}
"""``--agent ppo``'s defaults of the options whose default depends on the agent (the paper agent's:
``autoexplore.DEFAULTS``)."""
PAPER_OPTIONS_TITLE = "--agent paper only"


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
    maskgit_steps: int = option(1, "MaskGIT steps of a dreamed frame, and of the world model's prediction for rf / "
                                "vae (1: real time); the uncertainty reward always takes the first pass")
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
    """Everything one ``genie explore`` run is trained and evaluated with: :func:`from_args` of its parsed options,
    or built directly (``examples/ppo_in_dream.py``).

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


def add_explore_options(parser: argparse.ArgumentParser) -> None:
    """Add ``genie explore``'s options to ``parser`` (the paper agent's in their own help section)."""
    add_options(parser, ExploreOptions)
    add_options(parser, PaperOptions, PAPER_OPTIONS_TITLE)
