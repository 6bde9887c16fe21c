"""Parallel, resumable, kill-safe collection of real-game episodes into an episode store.

``collect(games, policy_factory, episodes, ...)`` records episodes ``0 .. episodes-1`` of every game (shard ``i/n``
takes the indices with ``index % n == i``). Each episode's env seed and policy seed are derived from
``(seed, game, index)`` only (:func:`derive_seed`), so the same seed gives byte-identical ``frames.npy`` and
``actions.npy`` whatever the number of workers, the sharding, or how often the run was interrupted and resumed.

Workers are ``spawn`` subprocesses (stable-retro allows one emulator per process). The main process hands out
``(game, index)`` tasks one at a time over a pipe per worker; a worker keeps its ``GenieRetroEnv`` while it stays
on the same game and writes each finished episode itself, atomically (:func:`genie_gym.data.store.write_episode`).
So killing the main process or a worker at any moment loses only the episodes in progress: every finished episode
is complete on disk, and nothing half-written is visible. Workers notice a dead main process within one step and
exit. Rerunning the same command skips the episodes on disk, removes stale temporary directories and collects the
rest. A worker that dies or fails makes :func:`collect` raise :class:`CollectionError` naming it.

With ``lead_in=(min, max)`` each episode first plays ``min..max`` unrecorded steps of a lead-in policy (its own
factory; ``genie collect --lead-in`` uses the right-biased agent), replayed with new seeds when Mario loses a life,
so that recording starts deeper in the level (:func:`play_lead_in`); ``meta.json`` keeps the lead-in's length.

With ``states`` (``genie collect --states all`` or ``Level1-1,Level2-1``) a game's episodes take turns in its
stable-retro start states: episode ``i`` starts from ``states[i % len(states)]`` (SMB has 12: levels 1-1, 1-4,
2-1 ... 8-1 and variants); ``meta.json`` records each episode's ``state`` (docs/DATA_FORMAT.md).

The policy comes in as a picklable factory (a top-level class or function, or a ``functools.partial`` of one)
returning an object with ``reset(seed: int) -> None`` and ``act(obs: uint8 (64, 64, 3)) -> int``; ``genie_gym`` never
imports ``agents``. Scripts that call :func:`collect` with ``workers >= 1`` need the usual
``if __name__ == "__main__":`` guard (multiprocessing spawn re-imports the main module).
"""

from __future__ import annotations

import functools
import hashlib
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from tqdm import tqdm

from genie_gym import __version__
from genie_gym.conventions import FRAME_SHAPE, FRAME_SKIP, validate_action
from genie_gym.data.store import HIRES_SIZE, EpisodeExistsError, EpisodeStore, check_episode, write_episode
from genie_gym.envs.retro_env import GenieRetroEnv
from genie_gym.games import Game, get_game
from genie_gym.roms import default_start_state, require_rom, resolve_start_states

SETTINGS_KEYS = ("agent", "seed", "max_steps", "frame_skip", "lead_in")
LEAD_IN_ATTEMPTS = 50


class Policy(Protocol):
    """What a collection policy provides."""

    def reset(self, seed: int) -> None:
        """Start an episode with this seed (the policy's own randomness must come from it)."""

    def act(self, obs: np.ndarray) -> int:
        """Return the action in ``[0, 5)`` for an RGB uint8 ``(64, 64, 3)`` observation."""


PolicyFactory = Callable[[], Policy]


class CollectionError(RuntimeError):
    """A collection worker died or failed. Finished episodes are on disk; rerunning resumes."""

    def __init__(self, message: str, worker_traceback: str | None = None) -> None:
        super().__init__(message)
        self.worker_traceback = worker_traceback


@dataclass(frozen=True)
class CollectionResult:
    """Outcome of :func:`collect`: episodes newly ``collected`` (with their ``frames``), ``skipped`` (already on
    disk), and the wall time in ``seconds``."""

    out_dir: Path
    collected: int
    skipped: int
    frames: int
    seconds: float

    @property
    def frames_per_second(self) -> float:
        """Stored observations (agent steps) per second of wall time."""
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def derive_seed(seed: int, game: str, index: int, purpose: str) -> int:
    """A seed in ``[0, 2**32)`` for one episode and purpose (``"env"`` or ``"policy"``), from sha256."""
    digest = hashlib.sha256(f"genie-gym:{int(seed)}:{game}:{int(index)}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def parse_shard(spec: str | tuple[int, int] | None) -> tuple[int, int]:
    """``"1/4"`` or ``(1, 4)`` → ``(1, 4)``; ``None`` → ``(0, 1)``. Raise ``ValueError`` unless ``0 <= i < n``."""
    if spec is None:
        return 0, 1
    try:
        i, n = (int(x) for x in spec.split("/")) if isinstance(spec, str) else (int(spec[0]), int(spec[1]))
    except (ValueError, TypeError, IndexError) as exc:
        raise ValueError(f"shard must look like i/n (e.g. 0/4), got {spec!r}") from exc
    if not (n >= 1 and 0 <= i < n):
        raise ValueError(f"shard i/n needs 0 <= i < n, got {i}/{n}")
    return i, n


def describe_policy(factory: Callable[..., Any]) -> str:
    """A stable text naming a policy factory and its arguments, recorded as ``agent`` in ``meta.json``.

    ``functools.partial(StickyRandomAgent, p=0.75)`` → ``"agents.random_agent.StickyRandomAgent(p=0.75)"`` (the
    bundled agents keep the module path they had as the top-level package ``agents``, so that stores collected then
    still resume).
    """
    args: tuple = ()
    kwargs: dict[str, Any] = {}
    while isinstance(factory, functools.partial):
        args = factory.args + args
        kwargs = {**factory.keywords, **kwargs}
        factory = factory.func
    module = str(getattr(factory, "__module__", "?"))
    if module.startswith("genie_gym.agents."):  # the name stores recorded before agents/ moved into genie_gym/
        module = module.removeprefix("genie_gym.")
    name = f"{module}.{getattr(factory, '__qualname__', type(factory).__name__)}"
    parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in sorted(kwargs.items())]
    return f"{name}({', '.join(parts)})"


class _ParentGone(Exception):
    """The main process died; the worker drops its episode in progress and exits."""


def play_lead_in(
    env: Any, lead_policy: Policy, seed: int, game: str, index: int, lead_in: tuple[int, int],
    parent_pid: int | None = None,
) -> tuple[np.ndarray, int, int]:
    """Reset ``env`` and play ``L ~ U{lead_in}`` unrecorded steps with ``lead_policy``; return ``(obs, L, env_seed)``.

    The lead-in takes the episode deeper into the level before recording starts. ``L`` and the lead-in's env and
    policy seeds derive from ``(seed, game, index)`` only. A lead-in that ends the game or costs a life (``lives`` in
    ``info`` drops: Mario died, and the game is about to show its black life screen) is replayed with the next
    attempt's seeds, up to :data:`LEAD_IN_ATTEMPTS` times; then this raises ``RuntimeError``.
    """
    rng = np.random.default_rng(derive_seed(seed, game, index, "lead-in"))
    steps = int(rng.integers(lead_in[0], lead_in[1] + 1))
    for attempt in range(LEAD_IN_ATTEMPTS):
        env_seed = derive_seed(seed, game, index, f"env:{attempt}" if attempt else "env")
        obs, info = env.reset(seed=env_seed)
        lives = info.get("lives")
        lead_policy.reset(derive_seed(seed, game, index, f"lead-in-policy:{attempt}"))
        for _ in range(steps):
            if parent_pid is not None and os.getppid() != parent_pid:
                raise _ParentGone
            obs, _, terminated, truncated, info = env.step(validate_action(lead_policy.act(obs)))
            now = info.get("lives")
            lives = now if lives is None else lives  # a reset may not report the RAM values yet
            if terminated or truncated or (now is not None and now < lives):
                break
        else:
            return obs, steps, env_seed
    raise RuntimeError(f"{game} episode {index}: the {steps}-step lead-in ended the game {LEAD_IN_ATTEMPTS} times; "
                       "use a shorter --lead-in")


def record_episode(
    env: Any, policy: Policy, seed: int, game: str, index: int, max_steps: int, parent_pid: int | None = None,
    start_obs: np.ndarray | None = None, hires_size: int | None = None,
) -> tuple[np.ndarray, np.ndarray, bool, bool] | tuple[np.ndarray, np.ndarray, bool, bool, np.ndarray]:
    """Play one episode and return ``(frames uint8 (T, 64, 64, 3), actions int64 (T-1,), terminated, truncated)``.

    ``frames[0]`` is the reset observation and ``frames[t+1]`` the observation after ``actions[t]``. The env is reset
    with ``derive_seed(seed, game, index, "env")`` and the policy with ``derive_seed(seed, game, index, "policy")``;
    with ``start_obs`` (the observation after a lead-in, :func:`play_lead_in`) the env is not reset and recording
    starts from that observation. The episode ends when the env says terminated or truncated, or after
    ``max_steps`` recorded steps. With ``hires_size`` (``genie collect --hires``) a fifth element follows: uint8
    ``(T, S, S, 3)``, each frame made from the same emulator frame at ``S x S`` (``env.unwrapped.frame_at``).
    """
    if start_obs is None:
        obs, _ = env.reset(seed=derive_seed(seed, game, index, "env"))
    else:
        obs = start_obs
    policy.reset(derive_seed(seed, game, index, "policy"))
    frames = np.empty((max_steps + 1, *FRAME_SHAPE), dtype=np.uint8)
    actions = np.empty(max_steps, dtype=np.int64)
    frames[0] = obs
    hires = None
    if hires_size is not None:
        raw = env.unwrapped
        hires = np.empty((max_steps + 1, hires_size, hires_size, 3), dtype=np.uint8)
        hires[0] = raw.frame_at(hires_size)
    steps = 0
    terminated = truncated = False
    while steps < max_steps:
        if parent_pid is not None and os.getppid() != parent_pid:
            raise _ParentGone
        action = validate_action(policy.act(obs))
        obs, _, terminated, truncated, _ = env.step(action)
        actions[steps] = action
        steps += 1
        frames[steps] = obs
        if hires is not None:
            hires[steps] = raw.frame_at(hires_size)
        if terminated or truncated:
            break
    truncated = truncated or not terminated
    result = frames[: steps + 1].copy(), actions[:steps].copy(), bool(terminated), bool(truncated)
    return result if hires is None else (*result, hires[: steps + 1].copy())


@dataclass(frozen=True)
class _Settings:
    out_dir: str
    seed: int
    max_steps: int
    frame_skip: int
    agent: str
    lead_in: list[int] | None = None  # [min, max] unrecorded lead-in steps, None: recording starts at the reset
    lead_in_agent: str | None = None
    states: dict[str, list[str | None]] | None = None  # per game, the start states its episodes cycle through
    hires_size: int | None = None  # also store each frame at this size (hires.npy; genie collect --hires)

    def state_for(self, game: str, index: int) -> str | None:
        """The start state of episode ``index`` of ``game`` (:func:`episode_state`); ``None``: the game's default."""
        return episode_state(self.states.get(game) if self.states else None, index)

    def meta(self, game: str, index: int, terminated: bool, truncated: bool,
             lead_in_steps: int | None = None, env_seed: int | None = None,
             state: str | None = None) -> dict[str, Any]:
        lead = {} if self.lead_in is None else {"lead_in": self.lead_in, "lead_in_agent": self.lead_in_agent,
                                                  "lead_in_steps": lead_in_steps}
        return {
            **lead,
            "source": "collect",
            "state": state,
            "agent": self.agent,
            "seed": self.seed,
            "env_seed": derive_seed(self.seed, game, index, "env") if env_seed is None else env_seed,
            "policy_seed": derive_seed(self.seed, game, index, "policy"),
            "max_steps": self.max_steps,
            "frame_skip": self.frame_skip,
            "terminated": terminated,
            "truncated": truncated,
            "genie_gym_version": __version__,
        }


def episode_state(states: Sequence[str | None] | None, index: int) -> str | None:
    """The start state of episode ``index`` when a game's episodes are spread over ``states``: they take turns
    (``states[index % len(states)]``), so the state of an episode depends on its index only (resuming, sharding and
    adding episodes keep it). ``None`` or ``[]``: ``None``, the game's default start state."""
    return states[index % len(states)] if states else None


def recorded_state(meta: dict[str, Any], default: str | None) -> str | None:
    """The start state an episode's ``meta.json`` records; stores from before genie-gym recorded it (no ``state``
    key) were collected from the game's ``default`` start state."""
    return meta["state"] if "state" in meta else default


class _EpisodeRunner:
    """Holds one env (reused across episodes of the same game and start state) and one policy; records and writes
    episodes."""

    def __init__(self, policy_factory: PolicyFactory, settings: _Settings, parent_pid: int | None = None,
                 lead_in_factory: PolicyFactory | None = None) -> None:
        self.settings = settings
        self.policy = policy_factory()
        self.lead_policy = None if settings.lead_in is None or lead_in_factory is None else lead_in_factory()
        self.parent_pid = parent_pid
        self.env = None
        self.game: str | None = None
        self.state: str | None = None

    def run(self, game: str, index: int) -> int:
        """Record and write episode ``index`` of ``game``; return its number of frames."""
        s = self.settings
        state = s.state_for(game, index)
        if self.env is None or (self.game, self.state) != (game, state):
            self.close()
            longest_lead_in = 0 if s.lead_in is None else s.lead_in[1]
            self.env = GenieRetroEnv(game, max_episode_steps=s.max_steps + longest_lead_in, frame_skip=s.frame_skip,
                                     state=state)
            self.game, self.state = game, state
        start_obs = lead_steps = env_seed = None
        if self.lead_policy is not None:
            start_obs, lead_steps, env_seed = play_lead_in(
                self.env, self.lead_policy, s.seed, game, index, tuple(s.lead_in), self.parent_pid
            )
        frames, actions, terminated, truncated, *hires = record_episode(
            self.env, self.policy, s.seed, game, index, s.max_steps, self.parent_pid, start_obs, s.hires_size
        )
        try:
            meta = s.meta(game, index, terminated, truncated, lead_steps, env_seed, self.env.start_state)
            write_episode(s.out_dir, game, index, frames, actions, meta, hires=hires[0] if hires else None)
        except EpisodeExistsError:
            pass  # another (orphaned or concurrent) process wrote the same deterministic episode
        return len(frames)

    def close(self) -> None:
        if self.env is not None:
            self.env.close()
            self.env = None
            self.game = self.state = None


def _worker_main(conn: Connection, policy_factory: PolicyFactory, settings: _Settings, parent_pid: int,
                 lead_in_factory: PolicyFactory | None = None) -> None:
    """Worker loop: receive ``(game, index)``, collect and write it, answer ``("done", frames)``; ``None`` stops."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is handled by the main process, which stops the workers
    task = None
    runner = None
    try:
        runner = _EpisodeRunner(policy_factory, settings, parent_pid, lead_in_factory)
        while True:
            try:
                task = conn.recv()
            except EOFError:
                return
            if task is None:
                return
            frames = runner.run(*task)
            conn.send(("done", frames))
    except _ParentGone:
        return
    except BaseException as exc:  # report it to the main process, which stops the collection
        try:
            conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
        except (OSError, EOFError):
            pass
        sys.exit(1)
    finally:
        if runner is not None:
            runner.close()


def _game_names(games: Iterable[str | Game] | str) -> list[str]:
    if isinstance(games, str | Game):
        games = [games]
    names = []
    for game in games:
        name = game.name if isinstance(game, Game) else get_game(game).name
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError("no game to collect")
    return names


def plan_collection(
    store: EpisodeStore, games: Sequence[str], episodes: int, shard: tuple[int, int], settings: dict[str, Any],
    states: dict[str, list[str | None]] | None = None, hires_size: int | None = None,
) -> tuple[list[tuple[str, int]], int]:
    """The ``(game, index)`` tasks still to collect, and how many of the shard's episodes are already on disk.

    An episode already on disk must pass the cheap check and have been collected with the same ``settings``
    (agent, seed, max_steps, frame_skip) and from the start state this collection gives its index (``states``: per
    game, the states its episodes take turns in, :func:`episode_state`; ``None``: every game's default), else this
    raises (a corrupt episode: :class:`CorruptEpisodeError`). The tasks of a game come grouped by start state, so a
    worker makes a new emulator only when the state changes. With ``hires_size`` (``--hires``) every episode on disk
    must hold hires frames of that size, and without it none may: a store is either all hires or none.
    """
    shard_i, shard_n = shard
    pending: list[tuple[str, int]] = []
    skipped = 0
    for game in games:
        game_states = (states or {}).get(game)
        default = default_start_state(get_game(game).retro_game)
        present = set(store.indices(game))
        todo = []
        for index in range(shard_i, episodes, shard_n):
            if index not in present:
                todo.append(index)
                continue
            ref = store.ref(game, index)
            meta = check_episode(ref)
            different = {k: meta.get(k) for k in SETTINGS_KEYS if meta.get(k) != settings[k]}
            if different:
                wanted = {k: settings[k] for k in different}
                raise ValueError(
                    f"{ref.path} was collected with {different}, but this collection uses "
                    f"{wanted}. Collect into another --out directory, or rerun with the same settings to resume."
                )
            if meta.get("hires_size") != hires_size:
                have = f"with --hires ({meta['hires_size']}x{meta['hires_size']} frames)" if meta.get("hires_size") \
                    else "without --hires"
                raise ValueError(
                    f"{ref.path} was collected {have}, but this collection {'adds' if hires_size else 'omits'} "
                    "them: collect into another --out directory, or rerun with the same --hires choice to resume."
                )
            recorded, wanted_state = recorded_state(meta, default), episode_state(game_states, index) or default
            if recorded != wanted_state:
                raise ValueError(
                    f"{ref.path} was collected from start state {recorded!r}, but this collection gives episode "
                    f"{index} start state {wanted_state!r}: collect into another --out directory, or rerun with the "
                    "same --states to resume."
                )
            skipped += 1
        slot = {state: position for position, state in enumerate(game_states or [None])}
        todo.sort(key=lambda i: (slot[episode_state(game_states, i)], i))
        pending.extend((game, index) for index in todo)
    return pending, skipped


def collect(
    games: Iterable[str | Game] | str,
    policy_factory: PolicyFactory,
    episodes: int,
    max_steps: int,
    workers: int,
    out_dir: os.PathLike | str,
    seed: int,
    shard: tuple[int, int] | str | None = (0, 1),
    progress: bool = True,
    frame_skip: int = FRAME_SKIP,
    agent: str | None = None,
    lead_in: tuple[int, int] | None = None,
    lead_in_factory: PolicyFactory | None = None,
    states: str | Sequence[str] | None = None,
    hires: bool = False,
) -> CollectionResult:
    """Collect episodes ``0 .. episodes-1`` of each game (those of ``shard``) into the store at ``out_dir``.

    Args:
        games: game names (``"SMB"``) or :class:`Game` objects; ``episodes`` is per game.
        policy_factory: picklable callable returning a fresh policy (``reset(seed)``, ``act(obs) -> int``).
        episodes: episodes per game (global indices ``0 .. episodes-1``).
        max_steps: agent steps after which an episode is truncated (an episode has at most ``max_steps + 1`` frames).
        workers: subprocesses collecting in parallel (``0``: collect in this process).
        out_dir: the episode store directory.
        seed: the collection seed; with it the episodes are byte-identical across runs.
        shard: ``(i, n)`` or ``"i/n"``: only indices with ``index % n == i``.
        progress: show a tqdm bar with episodes and frames/s.
        frame_skip: emulator frames per agent step.
        agent: the name recorded in ``meta.json`` (default: :func:`describe_policy` of the factory).
        lead_in: ``(min, max)``: before recording, play ``U{min..max}`` unrecorded steps with ``lead_in_factory``'s
            policy (:func:`play_lead_in`), so episodes start deeper in the level; ``None``: record from the reset.
        lead_in_factory: picklable factory of the lead-in policy (required with ``lead_in``).
        states: the start states to spread each game's episodes over: ``"all"`` (every one-player state of the
            game, SMB's 12 levels and variants), a list or comma-separated names (``"Level1-1,Level2-1"``, checked
            against every game; :class:`genie_gym.roms.UnknownStateError` lists a game's states), or ``None`` (each
            game's default state). Episode ``i`` starts from ``states[i % len(states)]``; ``meta.json`` records its
            ``state``.
        hires: also store each frame at 256x256 (``hires.npy``, :data:`genie_gym.data.store.HIRES_SIZE`), made from
            the same emulator frame by the same convention, to train the super-resolution network on. Resuming a
            store refuses episodes collected with the other choice.

    Returns:
        A :class:`CollectionResult`. Raises :class:`CollectionError` if a worker dies or fails (rerun to resume).
    """
    if episodes < 0 or max_steps < 1 or workers < 0:
        raise ValueError("episodes must be >= 0, max_steps >= 1 and workers >= 0")
    lead_in = _checked_lead_in(lead_in, lead_in_factory)
    shard = parse_shard(shard)
    names = _game_names(games)
    game_states = _start_states(names, states)
    settings = _Settings(str(Path(out_dir)), int(seed), int(max_steps), int(frame_skip),
                         agent or describe_policy(policy_factory), None if lead_in is None else list(lead_in),
                         None if lead_in is None else describe_policy(lead_in_factory), game_states,
                         HIRES_SIZE if hires else None)
    pending, skipped = _open_and_plan(out_dir, names, episodes, shard, settings)

    start = time.perf_counter()
    desc = f"collect {','.join(names)}" + (f" shard {shard[0]}/{shard[1]}" if shard[1] > 1 else "")
    frames = _collect_pending(pending, skipped, workers, policy_factory, lead_in_factory, settings, start,
                              progress, desc)
    return CollectionResult(Path(out_dir), len(pending), skipped, frames, time.perf_counter() - start)


def _checked_lead_in(lead_in: tuple[int, int] | None, lead_in_factory: PolicyFactory | None
                     ) -> tuple[int, int] | None:
    """``lead_in`` as two ints, checked before any ROM or store is touched so that a typo fails at once."""
    if lead_in is not None:
        lead_in = (int(lead_in[0]), int(lead_in[1]))
        if not 0 <= lead_in[0] <= lead_in[1] or lead_in_factory is None:
            raise ValueError(f"lead_in must be (min, max) with 0 <= min <= max, and needs a lead_in_factory; "
                             f"got {lead_in}")
    return lead_in


def _start_states(names: list[str], states: str | Sequence[str] | None) -> dict[str, list[str | None]] | None:
    """Per game, the start states its episodes take turns in (``None``: every game's default).

    Every game's ROM is required first: the states are read from its stable-retro integration.
    """
    for name in names:
        require_rom(get_game(name).retro_game)
    return None if states is None else {
        name: resolve_start_states(get_game(name).retro_game, states) for name in names
    }


def _open_and_plan(out_dir: os.PathLike | str, names: list[str], episodes: int, shard: tuple[int, int],
                   settings: _Settings) -> tuple[list[tuple[str, int]], int]:
    """Create the store, remove the temporary directories of killed runs, and plan (:func:`plan_collection`)."""
    store = EpisodeStore(out_dir)
    store.root.mkdir(parents=True, exist_ok=True)
    for name in names:
        store.remove_stale_temp_dirs(name)
    return plan_collection(store, names, episodes, shard, {k: getattr(settings, k) for k in SETTINGS_KEYS},
                           settings.states, hires_size=settings.hires_size)


def _collect_pending(
    pending: list[tuple[str, int]], skipped: int, workers: int, policy_factory: PolicyFactory,
    lead_in_factory: PolicyFactory | None, settings: _Settings, start: float, progress: bool, desc: str,
) -> int:
    """Collect the ``pending`` tasks in this process (``workers == 0``) or in workers; return the frames written.

    The bar counts the ``skipped`` episodes as done, so that a resumed run shows the whole collection's progress.
    """
    bar = tqdm(total=len(pending) + skipped, initial=skipped, unit="ep", disable=not progress, dynamic_ncols=True,
               desc=desc)
    frames_done = 0

    def on_done(frames: int) -> None:
        nonlocal frames_done
        frames_done += frames
        bar.update(1)
        bar.set_postfix(frames_per_s=f"{frames_done / max(time.perf_counter() - start, 1e-9):.0f}", refresh=False)

    try:
        if workers == 0:
            runner = _EpisodeRunner(policy_factory, settings, lead_in_factory=lead_in_factory)
            try:
                for game, index in pending:
                    on_done(runner.run(game, index))
            finally:
                runner.close()
        elif pending:
            _run_workers(pending, min(workers, len(pending)), policy_factory, settings, on_done, lead_in_factory)
    finally:
        bar.close()
    return frames_done


@dataclass
class _Worker:
    number: int
    process: Any
    conn: Connection
    task: tuple[str, int] | None = None
    game: str | None = None


def _run_workers(
    pending: list[tuple[str, int]],
    count: int,
    policy_factory: PolicyFactory,
    settings: _Settings,
    on_done: Callable[[int], None],
    lead_in_factory: PolicyFactory | None = None,
) -> None:
    """Hand the tasks to ``count`` spawn workers, one at a time each, until all are done or one fails."""
    ctx = mp.get_context("spawn")
    queues: dict[str, deque[int]] = {}
    for game, index in pending:
        queues.setdefault(game, deque()).append(index)
    workers: list[_Worker] = []
    try:
        for number in range(count):
            workers.append(_start_worker(ctx, number, policy_factory, settings, lead_in_factory))
        for worker in workers:
            _dispatch(worker, queues)
        while busy := [w for w in workers if w.task is not None]:
            handles = {w.conn: w for w in busy} | {w.process.sentinel: w for w in busy}
            for handle in wait(list(handles)):
                worker = handles[handle]
                if worker.task is None:
                    continue  # already handled through its other handle in this round
                frames = _receive(worker, settings.out_dir)
                if frames is None:
                    continue
                on_done(frames)
                _dispatch(worker, queues)
        for worker in workers:
            worker.process.join(timeout=10.0)
    finally:
        _stop_workers(workers)


def _start_worker(ctx: Any, number: int, policy_factory: PolicyFactory, settings: _Settings,
                  lead_in_factory: PolicyFactory | None) -> _Worker:
    """Start worker ``number`` with its end of a new pipe; the child's end is closed here so that its death reads as
    EOF on ours."""
    parent_conn, child_conn = ctx.Pipe(duplex=True)
    worker_args = (child_conn, policy_factory, settings, os.getpid(), lead_in_factory)
    process = ctx.Process(target=_worker_main, args=worker_args, name=f"genie-collect-{number}", daemon=True)
    process.start()
    child_conn.close()
    return _Worker(number, process, parent_conn)


def _next_task(worker: _Worker, queues: dict[str, deque[int]]) -> tuple[str, int] | None:
    """The worker's next task: of its current game while it has any (no new emulator), else of the game with the
    most left; ``None`` when all are handed out."""
    game = worker.game if worker.game in queues and queues[worker.game] else None
    if game is None:
        remaining = [(len(q), g) for g, q in queues.items() if q]
        if not remaining:
            return None
        game = max(remaining)[1]
    return game, queues[game].popleft()


def _dispatch(worker: _Worker, queues: dict[str, deque[int]]) -> None:
    """Send the worker its next task, or ``None`` (stop) when there is none."""
    worker.task = _next_task(worker, queues)
    if worker.task is not None:
        worker.game = worker.task[0]
    try:
        worker.conn.send(worker.task)
    except (BrokenPipeError, ConnectionResetError, EOFError):
        pass  # the worker is dead; its sentinel reports it


def _receive(worker: _Worker, out_dir: str) -> int | None:
    """The frame count of the episode the worker finished; ``None`` while it is alive with nothing to read.

    Raises :class:`CollectionError` if it died or reported an error: the collection stops at the first failure.
    """
    if not worker.conn.poll():
        if worker.process.is_alive():
            return None
        raise _died(worker, out_dir)
    try:
        message = worker.conn.recv()
    except (EOFError, OSError):
        raise _died(worker, out_dir) from None
    if message[0] == "error":
        what = f"{worker.task[0]}/ep_{worker.task[1]:06d}"
        raise CollectionError(
            f"collection worker {worker.number} failed while collecting {what}: {message[1]}. "
            f"Finished episodes are saved in {out_dir}; fix the cause and rerun to resume.",
            worker_traceback=message[2],
        )
    return int(message[1])


def _died(worker: _Worker, out_dir: str) -> CollectionError:
    """The error for a worker that died (killed, or crashed in C code) without reporting an error itself."""
    worker.process.join(timeout=1.0)
    what = f"{worker.task[0]}/ep_{worker.task[1]:06d}" if worker.task else "no episode"
    return CollectionError(
        f"collection worker {worker.number} (pid {worker.process.pid}) died with exit code "
        f"{worker.process.exitcode} while collecting {what}. Finished episodes are saved in {out_dir}; "
        "rerun the same command to resume."
    )


def _stop_workers(workers: list[_Worker]) -> None:
    """Terminate the workers still running (after a failure or Ctrl-C), then kill those that do not stop."""
    for worker in workers:
        if worker.process.is_alive():
            worker.process.terminate()
    for worker in workers:
        worker.process.join(timeout=5.0)
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join()
        worker.conn.close()
