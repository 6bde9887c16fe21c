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
import os

from genie_gym.agents.random_agent import AGENTS, agent_factory
from genie_gym.atomic import file_sha256

# What the command runs (the collection, the games' table, a policy's torch and SB3) is imported inside the functions:
# every `genie` invocation imports this module to build its parser.


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie collect`` to the command line."""
    parser = subparsers.add_parser(
        "collect",
        help="record real-game episodes with a random or trained agent into an episode store",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--env", required=True,
                        help="game (SMB), group (platformers, all) or comma-separated mix (SMB,Hero)")
    parser.add_argument("--agent", choices=sorted([*AGENTS, "policy"]), default="sticky-random",
                        help="collection policy; policy: a trained SB3 CnnPolicy (--policy FILE)")
    parser.add_argument("--policy", default=None, metavar="FILE",
                        help="--agent policy: its policy.safetensors (or the directory holding it), or the shipped "
                             "ppo-in-dream-smb, trained in the dream by examples/ppo_in_dream.py")
    parser.add_argument("--epsilon", type=float, default=None,
                        help="--agent policy: probability of replacing each action by a uniformly random one, so that "
                             "every action appears (the paper's test sets: a game-reward agent with epsilon 0.1)")
    parser.add_argument("--sticky-p", type=float, default=0.75,
                        help="sticky-random, right-biased: probability of repeating the previous action (default 0.75)")
    parser.add_argument("--jump-p", type=float, default=None,
                        help="run-stop: probability that a RIGHT run ends in JUMP (A alone) instead of a stop "
                             "(default 0.2; 0: stops only)")
    parser.add_argument("--noise", type=float, default=None,
                        help="runner: probability of a uniformly random action instead of RIGHT / JUMP (default 0.1)")
    parser.add_argument("--lead-in", default=None, metavar="MIN:MAX",
                        help="before recording, play MIN..MAX (uniform) unrecorded steps with the right-biased agent, "
                             "so episodes start deeper in the level (e.g. 60:300); the lead-in is replayed with new "
                             "seeds if Mario dies in it")
    parser.add_argument("--states", default=None, metavar="all|STATE,STATE",
                        help="start states to spread each game's episodes over, in turn (episode i starts from state "
                             "i %% K): all (SMB: its 12 level states), or names such as Level1-1,Level2-1; default: "
                             "the game's default state (SMB: Level1-1); meta.json records each episode's state")
    parser.add_argument("--hires", action="store_true",
                        help="also store every frame at 256x256 (hires.npy, made from the same emulator frame by the "
                             "same pad-and-resize convention): the training data of `genie train upscaler`. 16x the "
                             "bytes of the 64x64 frames, so only where asked")
    parser.add_argument("--episodes", type=int, required=True, help="episodes per game (indices 0..N-1)")
    parser.add_argument("--max-steps", type=int, default=500, help="agent steps before an episode is truncated")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="parallel emulator subprocesses (0: in this process); default: CPU count")
    parser.add_argument("--out", required=True, help="episode store directory (created; resumed if it exists)")
    parser.add_argument("--seed", type=int, default=0, help="collection seed (same seed, same episodes)")
    parser.add_argument("--shard", default=None, help="i/n: collect only episodes with index %% n == i")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``genie collect`` with parsed arguments; returns the exit status."""
    from genie_gym.collection import CollectionError, collect, parse_shard
    from genie_gym.games import resolve_games

    games = resolve_games(args.env)
    if (args.agent == "policy") != (args.policy is not None):
        raise ValueError("--agent policy takes --policy FILE (a trained policy.safetensors), and --policy goes only "
                         "with --agent policy")
    if args.epsilon is not None and args.agent != "policy":
        raise ValueError(f"--epsilon goes only with --agent policy, got --agent {args.agent}")
    if args.jump_p is not None and args.agent != "run-stop":
        raise ValueError(f"--jump-p goes only with --agent run-stop, got --agent {args.agent}")
    if args.noise is not None and args.agent != "runner":
        raise ValueError(f"--noise goes only with --agent runner, got --agent {args.agent}")
    if args.agent == "policy":
        from genie_gym.agents.policy_agent import PolicyAgent

        epsilon = float(args.epsilon or 0.0)
        agent = PolicyAgent(args.policy, epsilon=epsilon)  # a bad epsilon fails here
        agent.reset(0)  # one clear error here, before any worker starts, if the file is bad
        factory = functools.partial(PolicyAgent, args.policy, epsilon=epsilon)
        # the weights' checksum, so that resuming a store with another policy under the same path is refused
        digest = file_sha256(agent.path)[:12]
        agent_name = f"policy({agent.path.name}, sha256 {digest}" + (f", epsilon {epsilon})" if epsilon else ")")
    else:
        kwargs = {"p": args.sticky_p} if args.agent in ("sticky-random", "right-biased") else {}
        factory = agent_factory(args.agent, **kwargs)
        agent_name = args.agent + (f"(p={args.sticky_p})" if kwargs else "")
        if args.jump_p is not None:
            factory = agent_factory(args.agent, jump_p=args.jump_p)
            factory()  # one clear error for a jump_p outside [0, 1], before any worker starts
            agent_name = f"{args.agent}(jump_p={args.jump_p})"
        if args.noise is not None:
            factory = agent_factory(args.agent, noise=args.noise)
            factory()  # one clear error for a noise outside [0, 1], before any worker starts
            agent_name = f"{args.agent}(noise={args.noise})"
    lead_in, lead_in_factory = None, None
    if args.lead_in is not None:
        lead_in = parse_lead_in(args.lead_in)
        lead_in_factory = agent_factory("right-biased", p=0.75)
    try:
        result = collect(
            games,
            factory,
            episodes=args.episodes,
            max_steps=args.max_steps,
            workers=args.workers,
            out_dir=args.out,
            seed=args.seed,
            shard=parse_shard(args.shard),
            progress=not args.no_progress,
            agent=agent_name,
            lead_in=lead_in,
            lead_in_factory=lead_in_factory,
            states=args.states,
            hires=args.hires,
        )
    except CollectionError as exc:
        if args.debug and exc.worker_traceback:
            print(exc.worker_traceback)
        raise
    print(
        f"collected {result.collected} episodes ({result.frames} frames, {result.frames_per_second:.0f} frames/s), "
        f"{result.skipped} already on disk, into {result.out_dir}"
    )
    return 0


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
