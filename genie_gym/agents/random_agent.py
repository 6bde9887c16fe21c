"""Random data-collection policies: uniform random and sticky random actions.

Both follow the collection policy interface of :mod:`genie_gym.collection`: ``reset(seed)`` at the start of each
episode (re-seeding the agent's own ``np.random.Generator``, so the same seed gives the same actions) and
``act(obs) -> int`` with ``obs`` an RGB uint8 ``(64, 64, 3)`` frame (unused by these agents) and the result an
action in ``[0, 5)`` (``0 RIGHT, 1 LEFT, 2 UP, 3 DOWN, 4 JUMP``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from genie_gym.conventions import NUM_ACTIONS


class RandomAgent:
    """Picks each action uniformly at random among the ``num_actions`` actions.

    Args:
        num_actions: size of the action space (5, the shared convention).
    """

    def __init__(self, num_actions: int = NUM_ACTIONS) -> None:
        if num_actions < 1:
            raise ValueError(f"num_actions must be >= 1, got {num_actions}")
        self.num_actions = int(num_actions)
        self._rng = np.random.default_rng(0)

    def reset(self, seed: int) -> None:
        """Start an episode: re-seed the agent's random generator."""
        self._rng = np.random.default_rng(seed)

    def act(self, obs: np.ndarray) -> int:
        """Return a uniformly random action (``obs`` is ignored)."""
        return int(self._rng.integers(self.num_actions))

    def __repr__(self) -> str:
        return f"RandomAgent(num_actions={self.num_actions})"


class StickyRandomAgent(RandomAgent):
    """Random actions held for a while: with probability ``p`` repeat the previous action, else draw a uniform one.

    Runs of the same action last ``1 / (1 - p)`` steps on average (4 for the default ``p = 0.75``), so the agent
    holds RIGHT or JUMP long enough to get further into a level than a uniform random agent.

    Args:
        p: probability of repeating the previous action, in ``[0, 1)``.
        num_actions: size of the action space.
    """

    def __init__(self, p: float = 0.75, num_actions: int = NUM_ACTIONS) -> None:
        super().__init__(num_actions)
        if not 0.0 <= p < 1.0:
            raise ValueError(f"sticky probability p must be in [0, 1), got {p}")
        self.p = float(p)
        self._previous: int | None = None

    def reset(self, seed: int) -> None:
        """Start an episode: re-seed, and forget the previous action."""
        super().reset(seed)
        self._previous = None

    def act(self, obs: np.ndarray) -> int:
        """Repeat the previous action with probability ``p``, otherwise draw uniformly (``obs`` is ignored)."""
        repeat = self._rng.random() < self.p
        if self._previous is None or not repeat:
            self._previous = int(self._rng.integers(self.num_actions))
        return self._previous

    def __repr__(self) -> str:
        return f"StickyRandomAgent(p={self.p}, num_actions={self.num_actions})"


class RightBiasedStickyAgent(StickyRandomAgent):
    """Sticky random actions drawn with a bias towards RIGHT and JUMP, to get further into side-scrolling levels.

    Uniform random agents in Super Mario Bros rarely leave the first screen, so a world model trained only on them
    never sees the camera scroll. This agent draws a new action from ``weights`` (default RIGHT 0.55, LEFT 0.1,
    UP 0.05, DOWN 0.05, JUMP 0.25) and holds it like :class:`StickyRandomAgent`; LEFT and idle actions still occur,
    so the data keeps every action's effect.

    Args:
        p: probability of repeating the previous action, in ``[0, 1)``.
        weights: unnormalised probability of each action when a new one is drawn; ``num_actions`` entries, >= 0.
        num_actions: size of the action space.
    """

    DEFAULT_WEIGHTS = (0.55, 0.10, 0.05, 0.05, 0.25)

    def __init__(self, p: float = 0.75, weights: tuple[float, ...] | None = None,
                 num_actions: int = NUM_ACTIONS) -> None:
        super().__init__(p, num_actions)
        weights = self.DEFAULT_WEIGHTS if weights is None else tuple(float(w) for w in weights)
        if len(weights) != self.num_actions or min(weights) < 0 or sum(weights) <= 0:
            raise ValueError(f"weights must be {self.num_actions} non-negative numbers with a positive sum, "
                             f"got {weights}")
        total = sum(weights)
        self.weights = tuple(w / total for w in weights)

    def act(self, obs: np.ndarray) -> int:
        """Repeat the previous action with probability ``p``, otherwise draw one from ``weights``."""
        repeat = self._rng.random() < self.p
        if self._previous is None or not repeat:
            self._previous = int(self._rng.choice(self.num_actions, p=self.weights))
        return self._previous

    def __repr__(self) -> str:
        return f"RightBiasedStickyAgent(p={self.p}, weights={self.weights})"


class RunStopAgent(RandomAgent):
    """Runs RIGHT, then lets go: alternates a held RIGHT (``run`` steps, uniform) with a held LEFT, UP or DOWN
    (``stop`` steps, uniform), so the data shows what the game does when RIGHT is released mid-run.

    Random and sticky-random agents rarely release RIGHT while Mario is moving fast, so a world model trained on them
    sees the camera keep scrolling after RIGHT and learns little about braking: Mario's momentum carries him a few
    pixels, and UP / DOWN (no horizontal input for small Mario) only slow him down. A run sometimes ends in a jump
    (``jump_p``), held for the same lengths as a stop.

    Args:
        run: ``(min, max)`` steps of a RIGHT run, inclusive.
        stop: ``(min, max)`` steps of a stop (LEFT, UP or DOWN, uniform) or of a jump, inclusive.
        jump_p: probability that a run is followed by JUMP instead of a stop.
        num_actions: size of the action space (5: the stop actions are 1 LEFT, 2 UP, 3 DOWN, JUMP is 4).
    """

    def __init__(self, run: tuple[int, int] = (4, 16), stop: tuple[int, int] = (2, 8), jump_p: float = 0.2,
                 num_actions: int = NUM_ACTIONS) -> None:
        super().__init__(num_actions)
        if num_actions != NUM_ACTIONS:
            raise ValueError(f"RunStopAgent needs the shared {NUM_ACTIONS}-action convention, got {num_actions}")
        for name, (low, high) in (("run", run), ("stop", stop)):
            if not 1 <= low <= high:
                raise ValueError(f"{name} must be (min, max) with 1 <= min <= max, got {(low, high)}")
        if not 0.0 <= jump_p <= 1.0:
            raise ValueError(f"jump_p must be in [0, 1], got {jump_p}")
        self.run, self.stop, self.jump_p = (int(run[0]), int(run[1])), (int(stop[0]), int(stop[1])), float(jump_p)
        self._action, self._left = 0, 0

    def reset(self, seed: int) -> None:
        """Start an episode with a RIGHT run: re-seed and draw the first run's length."""
        super().reset(seed)
        self._action, self._left = 0, int(self._rng.integers(self.run[0], self.run[1] + 1))

    def act(self, obs: np.ndarray) -> int:
        """The current segment's action; a new segment (run after a stop, stop or jump after a run) when it ends."""
        if self._left <= 0:
            if self._action == 0:
                jump = self._rng.random() < self.jump_p
                self._action = 4 if jump else int(self._rng.integers(1, 4))
                self._left = int(self._rng.integers(self.stop[0], self.stop[1] + 1))
            else:
                self._action, self._left = 0, int(self._rng.integers(self.run[0], self.run[1] + 1))
        self._left -= 1
        return self._action

    def __repr__(self) -> str:
        return f"RunStopAgent(run={self.run}, stop={self.stop}, jump_p={self.jump_p})"


class RunnerAgent(RandomAgent):
    """A noisy RIGHT + JUMP runner: RIGHT, with JUMP held on steps 4-7 of every 8 (it clears level 1-1's first
    pipes), and a uniformly random action instead with probability ``noise``.

    It plays as a player who wants to get on does: the level scrolls, Mario meets pipes, steps and enemies, gets
    blocked and sometimes dies; the random actions put every action's effect into its episodes.

    Args:
        noise: probability of a uniformly random action instead of the runner's, in ``[0, 1]``.
        num_actions: size of the action space (5: RIGHT is 0, JUMP is 4).
    """

    def __init__(self, noise: float = 0.1, num_actions: int = NUM_ACTIONS) -> None:
        super().__init__(num_actions)
        if num_actions != NUM_ACTIONS:
            raise ValueError(f"RunnerAgent needs the shared {NUM_ACTIONS}-action convention, got {num_actions}")
        if not 0.0 <= noise <= 1.0:
            raise ValueError(f"noise must be in [0, 1], got {noise}")
        self.noise = float(noise)
        self._step = 0

    def reset(self, seed: int) -> None:
        """Start an episode: re-seed and restart the 8-step RIGHT / JUMP cycle."""
        super().reset(seed)
        self._step = 0

    def act(self, obs: np.ndarray) -> int:
        """JUMP on steps 4-7 of every 8, RIGHT otherwise; a uniform action instead with probability ``noise``."""
        self._step += 1
        if self._rng.random() < self.noise:
            return int(self._rng.integers(self.num_actions))
        return 4 if self._step % 8 >= 4 else 0

    def __repr__(self) -> str:
        return f"RunnerAgent(noise={self.noise})"


AGENTS: dict[str, type[RandomAgent]] = {
    "random": RandomAgent,
    "sticky-random": StickyRandomAgent,
    "right-biased": RightBiasedStickyAgent,
    "run-stop": RunStopAgent,
    "runner": RunnerAgent,
}


def agent_factory(name: str, **kwargs) -> Callable[[], RandomAgent]:
    """A picklable factory (``functools.partial``) for the agent called ``name`` (one of :data:`AGENTS`)."""
    if name not in AGENTS:
        raise ValueError(f"unknown agent {name!r}; choose one of {sorted(AGENTS)}")
    return functools.partial(AGENTS[name], **kwargs)
