"""``genie collect``: record real-game episodes with an agent into an episode store (parallel, resumable).

Example::

    genie collect --env SMB --agent sticky-random --episodes 1000 --max-steps 500 --workers 2 --out data/ --seed 0
    genie collect --env SMB --states all --episodes 120 --out data/smb_levels/   # 10 episodes from each start state
    genie collect --env SMB --agent policy --policy runs/game_agent --epsilon 0.1 --episodes 300 --out data/test_game
    genie collect --env SMB --hires --episodes 30 --out data/smb_hires/   # + 256x256 frames, for genie train upscaler

Rerunning the same command after an interruption (Ctrl-C, kill, crash) resumes: episodes on disk are kept and the
missing ones are collected, byte-identical to an uninterrupted run. ``--shard i/n`` splits one collection over
several machines or runs (episode ``k`` belongs to shard ``k % n``).
"""

from __future__ import annotations

import argparse
import functools
import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from genie_gym.agents.random_agent import AGENTS, agent_factory
from genie_gym.atomic import file_sha256
from genie_gym.options import add_options, from_args, option

# What the command runs (the collection, the games' table, a policy's torch and SB3) is imported inside the functions:
# every `genie` invocation imports this module to build its parser.


@dataclass(kw_only=True)
class CollectSettings:
    """What ``genie collect`` records, and how: its command-line options (checked as the settings are built)."""

    env: str = option(help="game (SMB), group (platformers, all) or comma-separated mix (SMB,Hero)")
    agent: str = option("sticky-random", "collection policy; policy: a trained SB3 CnnPolicy (--policy FILE)",
                        choices=sorted([*AGENTS, "policy"]))
    policy: str | None = option(None, "--agent policy: its policy.safetensors (or the directory holding it), or the "
                                      "shipped ppo-in-dream-smb, trained in the dream by examples/ppo_in_dream.py",
                                metavar="FILE")
    epsilon: float | None = option(None, "--agent policy: probability of replacing each action by a uniformly random "
                                         "one, so that every action appears (the paper's test sets: a game-reward "
                                         "agent with epsilon 0.1)")
    sticky_p: float = option(0.75, "sticky-random, right-biased: probability of repeating the previous action "
                                   "(default 0.75)")
    jump_p: float | None = option(None, "run-stop: probability that a RIGHT run ends in JUMP (A alone) instead of a "
                                        "stop (default 0.2; 0: stops only)")
    noise: float | None = option(None, "runner: probability of a uniformly random action instead of RIGHT / JUMP "
                                       "(default 0.1)")
    lead_in: str | None = option(None, "before recording, play MIN..MAX (uniform) unrecorded steps with the "
                                       "right-biased agent, so episodes start deeper in the level (e.g. 60:300); the "
                                       "lead-in is replayed with new seeds if Mario dies in it", metavar="MIN:MAX")
    states: str | None = option(None, "start states to spread each game's episodes over, in turn (episode i starts "
                                      "from state i %% K): all (SMB: its 12 level states), or names such as "
                                      "Level1-1,Level2-1; default: the game's default state (SMB: Level1-1); "
                                      "meta.json records each episode's state", metavar="all|STATE,STATE")
    hires: bool = option(False, "also store every frame at 256x256 (hires.npy, made from the same emulator frame by "
                                "the same pad-and-resize convention): the training data of `genie train upscaler`. "
                                "16x the bytes of the 64x64 frames, so only where asked")
    episodes: int = option(help="episodes per game (indices 0..N-1)")
    max_steps: int = option(500, "agent steps before an episode is truncated")
    workers: int = option(os.cpu_count() or 1, "parallel emulator subprocesses (0: in this process); default: CPU "
                                               "count")
    out: str = option(help="episode store directory (created; resumed if it exists)")
    seed: int = option(0, "collection seed (same seed, same episodes)")
    shard: str | None = option(None, "i/n: collect only episodes with index %% n == i")
    progress: bool = option(True, "no progress bar")
    debug: bool = option(False, "show full tracebacks")
    lead_in_steps: tuple[int, int] | None = field(init=False, default=None)
    """``lead_in`` parsed: ``(MIN, MAX)`` steps, or None."""

    def __post_init__(self) -> None:
        if (self.agent == "policy") != (self.policy is not None):
            raise ValueError("--agent policy takes --policy FILE (a trained policy.safetensors), and --policy goes "
                             "only with --agent policy")
        if self.epsilon is not None and self.agent != "policy":
            raise ValueError(f"--epsilon goes only with --agent policy, got --agent {self.agent}")
        if self.jump_p is not None and self.agent != "run-stop":
            raise ValueError(f"--jump-p goes only with --agent run-stop, got --agent {self.agent}")
        if self.noise is not None and self.agent != "runner":
            raise ValueError(f"--noise goes only with --agent runner, got --agent {self.agent}")
        if self.lead_in is not None:
            self.lead_in_steps = parse_lead_in(self.lead_in)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie collect`` to the command line."""
    parser = subparsers.add_parser(
        "collect",
        help="record real-game episodes with a random or trained agent into an episode store",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_options(parser, CollectSettings)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``genie collect`` with parsed arguments; returns the exit status."""
    from genie_gym.collection import CollectionError, collect
    from genie_gym.games import resolve_games

    games = resolve_games(args.env)
    settings = from_args(CollectSettings, args)
    factory, agent_name = _agent(settings)
    lead_in_factory = None if settings.lead_in_steps is None else agent_factory("right-biased", p=0.75)
    derived = {"out_dir": settings.out, "agent": agent_name, "lead_in": settings.lead_in_steps,
               "lead_in_factory": lead_in_factory}
    # collect() keeps its keyword API (the library's, which tests and scripts call): the other settings named as its
    # parameters (episodes, max_steps, workers, seed, shard, progress, states, hires) go to it as they are, so a new
    # one needs no line here
    same_names = {name: getattr(settings, name) for name in inspect.signature(collect).parameters
                  if hasattr(settings, name) and name not in derived}
    try:
        result = collect(games, factory, **same_names, **derived)
    except CollectionError as exc:
        if settings.debug and exc.worker_traceback:
            print(exc.worker_traceback)
        raise
    print(
        f"collected {result.collected} episodes ({result.frames} frames, {result.frames_per_second:.0f} frames/s), "
        f"{result.skipped} already on disk, into {result.out_dir}"
    )
    return 0


def _agent(settings: CollectSettings) -> tuple[Callable[[], Any], str]:
    """The factory of the agent that records (checked here, before any worker starts) and its name for meta.json."""
    if settings.agent == "policy":
        from genie_gym.agents.policy_agent import PolicyAgent

        epsilon = float(settings.epsilon or 0.0)
        agent = PolicyAgent(settings.policy, epsilon=epsilon)  # a bad epsilon fails here
        agent.reset(0)  # one clear error here, before any worker starts, if the file is bad
        # the weights' checksum, so that resuming a store with another policy under the same path is refused
        digest = file_sha256(agent.path)[:12]
        agent_name = f"policy({agent.path.name}, sha256 {digest}" + (f", epsilon {epsilon})" if epsilon else ")")
        return functools.partial(PolicyAgent, settings.policy, epsilon=epsilon), agent_name
    kwargs = {"p": settings.sticky_p} if settings.agent in ("sticky-random", "right-biased") else {}
    factory = agent_factory(settings.agent, **kwargs)
    agent_name = settings.agent + (f"(p={settings.sticky_p})" if kwargs else "")
    if settings.jump_p is not None:
        factory = agent_factory(settings.agent, jump_p=settings.jump_p)
        factory()  # one clear error for a jump_p outside [0, 1], before any worker starts
        agent_name = f"{settings.agent}(jump_p={settings.jump_p})"
    if settings.noise is not None:
        factory = agent_factory(settings.agent, noise=settings.noise)
        factory()  # one clear error for a noise outside [0, 1], before any worker starts
        agent_name = f"{settings.agent}(noise={settings.noise})"
    return factory, agent_name


def parse_lead_in(spec: str) -> tuple[int, int]:
    """``"60:300"`` → ``(60, 300)``; ``"100"`` → ``(100, 100)``. One clear ``ValueError`` for anything else."""
    try:
        low, _, high = spec.partition(":")
        bounds = (int(low), int(high or low))
    except ValueError as exc:
        raise ValueError(f"--lead-in takes MIN:MAX steps (e.g. 60:300), got {spec!r}") from exc
    if not 0 <= bounds[0] <= bounds[1]:
        raise ValueError(f"--lead-in MIN:MAX needs 0 <= MIN <= MAX, got {spec!r}")
    return bounds
