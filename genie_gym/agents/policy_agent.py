"""A trained Stable-Baselines3 ``CnnPolicy`` as a data-collection agent (e.g. one trained in the dream).

``examples/ppo_in_dream.py`` trains PPO inside a world model on its uncertainty and saves the policy's weights with
``safetensors.torch.save_model``; :class:`PolicyAgent` plays those weights in the real game, so that
``genie collect --agent policy --policy FILE`` records the data an exploring agent reaches (the paper's AutoExplore
loop: explore in the dream, collect in the real game, train the world model on it).

It follows the collection policy interface of :mod:`genie_gym.collection`: ``reset(seed)`` re-seeds the sampling of
its actions, ``act(obs uint8 (64, 64, 3)) -> int`` samples an action from the policy (or takes the most likely one
with ``deterministic=True``), so the same seed gives the same episode.

With ``epsilon`` it replaces each action, with that probability, by one drawn uniformly from the 5 (drawn from the same
seeded generator): the paper's test sets are played by a strong agent with epsilon-random actions mixed in, so that all
actions appear (``genie collect --agent policy --epsilon 0.1``).

A recurrent policy (``genie explore --agent paper``: sb3-contrib's ``RecurrentActorCriticCnnPolicy``, recognised by its
``lstm_actor`` weights) carries its LSTM state from one ``act`` to the next; ``reset`` starts it afresh, and the
collection calls ``reset`` at the start of every episode.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_model
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticCnnPolicy
from stable_baselines3 import PPO
from stable_baselines3.common.policies import ActorCriticCnnPolicy

from genie_gym.conventions import FRAME_SIZE, NUM_ACTIONS
from genie_gym.world_model import checkpoint_search_paths

POLICY_FILE = "policy.safetensors"
SHIPPED_POLICIES = ("ppo-in-dream-smb",)
"""Policies shipped in ``checkpoints/`` (and installed by the wheel next to the world models): pass the name, or a
path ending in it that does not exist here (``checkpoints/ppo-in-dream-smb`` outside a clone), and
:func:`resolve_policy` finds the installed copy."""


def resolve_policy(path: str | Path) -> Path:
    """The ``policy.safetensors`` of ``path``: the file itself, the one in the directory ``path``, or the installed
    copy of a shipped policy named by ``path`` (:data:`SHIPPED_POLICIES`, looked up where the shipped world models are:
    ``$GENIE_GYM_CHECKPOINTS``, the source tree's ``checkpoints/``, ``<prefix>/share/genie-gym/checkpoints``).

    Raises ``FileNotFoundError`` saying what is accepted.
    """
    path = Path(path)
    local = path / POLICY_FILE if path.is_dir() else path
    if local.is_file():
        return local
    name = path.parent.name if path.name == POLICY_FILE else path.name
    if name in SHIPPED_POLICIES:
        searched = checkpoint_search_paths()
        for root in searched:
            if (root / name / POLICY_FILE).is_file():
                return root / name / POLICY_FILE
        raise FileNotFoundError(f"the shipped policy {name} is not installed (searched: "
                                f"{', '.join(str(root) for root in searched)}): reinstall genie-gym, or set "
                                "GENIE_GYM_CHECKPOINTS to the folder that holds it")
    raise FileNotFoundError(f"policy file {local} not found: train one with examples/ppo_in_dream.py (it writes "
                            f"OUT/{POLICY_FILE}) or `genie explore`, or name a shipped policy: "
                            f"{', '.join(SHIPPED_POLICIES)}")


def weight_shapes(path: Path) -> dict[str, list[int]]:
    """The shape of every tensor of a policy's weights: a safetensors file (read from its header), else a
    ``genie explore`` ``checkpoint.pt`` (its ``"policy"`` state dict, loaded with ``weights_only=True``)."""
    try:
        with safe_open(str(path), "pt") as handle:
            return {name: list(handle.get_slice(name).get_shape()) for name in handle.keys()}
    except Exception:  # not safetensors: a torch checkpoint, or not weights at all (the loader says so)
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = state.get("policy", state) if isinstance(state, dict) else {}
        return {name: list(value.shape) for name, value in state.items() if isinstance(value, torch.Tensor)}


def recurrent_layout(shapes: dict[str, list[int]]) -> dict | None:
    """The ``RecurrentActorCriticCnnPolicy`` keyword arguments that a recurrent policy's weights imply (``None`` for a
    feed-forward policy): LSTM size and layers, and whether the critic has its own LSTM, shares the actor's or has
    none."""
    if "lstm_actor.weight_hh_l0" not in shapes:
        return None
    layers = sum(1 for name in shapes if name.startswith("lstm_actor.weight_hh_l"))
    critic_lstm = "lstm_critic.weight_hh_l0" in shapes
    return {"lstm_hidden_size": int(shapes["lstm_actor.weight_hh_l0"][1]), "n_lstm_layers": layers,
            "enable_critic_lstm": critic_lstm, "shared_lstm": not critic_lstm and "critic.weight" not in shapes}


class PolicyAgent:
    """Samples actions from an SB3 ``ActorCriticCnnPolicy`` (or sb3-contrib ``RecurrentActorCriticCnnPolicy``, whose
    LSTM state is carried across ``act`` calls and zeroed by ``reset``) whose weights are in a safetensors file.

    Args:
        path: the policy's ``policy.safetensors``, the directory holding it or a shipped policy's name
            (:func:`resolve_policy`).
        deterministic: take the most likely action instead of sampling one.
        epsilon: probability of replacing the policy's action by a uniformly random one (0: never).
        threads: torch CPU threads of the agent (1: collection runs one agent per worker process; ``None``: leave
            torch's setting alone, as ``genie play`` does, whose dream shares the process).
    """

    recurrent = False  # a recurrent (LSTM) policy: known once loaded
    _lstm_state = None  # its actor LSTM's (hidden, cell) state

    def __init__(self, path: str | Path, deterministic: bool = False, threads: int | None = 1,
                 epsilon: float = 0.0) -> None:
        if not 0.0 <= float(epsilon) <= 1.0:
            raise ValueError(f"epsilon must lie in [0, 1], got {epsilon}")
        self.path = self._resolve_path(path)
        self.deterministic = bool(deterministic)
        self.epsilon = float(epsilon)
        self.threads = None if threads is None else int(threads)
        self._policy = None  # loaded on first use, in the process that plays (collection workers are subprocesses)
        self._generator = None

    @staticmethod
    def _resolve_path(path: str | Path) -> Path:
        """Where the policy file is (each kind of source finds it its own way)."""
        return resolve_policy(path)

    def _load(self):
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        # SB3 trains image policies on channel-first observations (VecTransposeImage): (3, 64, 64)
        observation_space = gym.spaces.Box(0, 255, (3, FRAME_SIZE, FRAME_SIZE), dtype=np.uint8)
        try:
            layout = recurrent_layout(weight_shapes(self.path))
            if layout is None:
                policy = ActorCriticCnnPolicy(observation_space, gym.spaces.Discrete(NUM_ACTIONS),
                                              lr_schedule=lambda _: 0.0)
            else:
                policy = RecurrentActorCriticCnnPolicy(observation_space, gym.spaces.Discrete(NUM_ACTIONS),
                                                       lr_schedule=lambda _: 0.0, **layout)
            self._load_weights(policy)
        except Exception as exc:  # truncated file, other format, other network
            raise ValueError(f"{self.path} is not the weights of an SB3 CnnPolicy (or sb3-contrib CnnLstmPolicy) for "
                             f"64x64x3 frames and {NUM_ACTIONS} actions ({exc})") from None
        self.recurrent = layout is not None
        self._policy = policy.eval()
        self._generator = torch.Generator()

    def _load_weights(self, policy) -> None:
        load_model(policy, str(self.path))

    def reset(self, seed: int) -> None:
        """Start an episode: re-seed the sampling of actions and zero a recurrent policy's LSTM state (loads the
        policy the first time)."""
        if self._policy is None:
            self._load()
        self._generator.manual_seed(int(seed))
        if self.recurrent:
            shape = self._policy.lstm_hidden_state_shape  # (layers, 1, hidden)
            self._lstm_state = (torch.zeros(shape), torch.zeros(shape))

    def act(self, obs: np.ndarray) -> int:
        """An action in ``[0, 5)`` for an RGB uint8 ``(64, 64, 3)`` frame (a uniformly random one with probability
        ``epsilon``; the policy still sees the frame, so a recurrent policy's state moves on)."""
        probs = self._probs(obs, advance=True)
        if self.epsilon > 0:
            draw = torch.rand(2, generator=self._generator)
            if float(draw[0]) < self.epsilon:
                return min(int(float(draw[1]) * NUM_ACTIONS), NUM_ACTIONS - 1)
        if self.deterministic:
            return int(probs.argmax())
        return int(torch.multinomial(probs, 1, generator=self._generator))

    def probabilities(self, obs: np.ndarray) -> np.ndarray:
        """The policy's action probabilities float ``(5,)`` for an RGB uint8 ``(64, 64, 3)`` frame (draws nothing)."""
        return self._probs(obs).numpy().copy()

    def _probs(self, obs: np.ndarray, advance: bool = False):
        """The action probabilities; a recurrent policy keeps the LSTM state it reaches only with ``advance`` (``act``
        moves the episode on, ``probabilities`` only looks)."""
        if self._policy is None:
            self.reset(0)
        with torch.no_grad():
            if not self.recurrent:
                return self._policy.get_distribution(self._observation(obs)).distribution.probs[0]
            distribution, state = self._policy.get_distribution(self._observation(obs), self._lstm_state,
                                                                torch.zeros(1))
            if advance:
                self._lstm_state = state
            return distribution.distribution.probs[0]

    def _observation(self, obs: np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obs.transpose(2, 0, 1)))[None]

    def __repr__(self) -> str:
        extra = f", epsilon={self.epsilon}" if self.epsilon else ""
        return f"{type(self).__name__}({str(self.path)!r}, deterministic={self.deterministic}{extra})"


EXPLORE_CHECKPOINT = "checkpoint.pt"


class ExploreCheckpointAgent(PolicyAgent):
    """The policy of a ``genie explore`` run that is still training: the latest ``checkpoint.pt`` (tensors only,
    loaded with ``torch.load(weights_only=True)``; the run writes ``policy.safetensors`` only when it finishes)."""

    @staticmethod
    def _resolve_path(path: str | Path) -> Path:
        path = Path(path)
        path = path / EXPLORE_CHECKPOINT if path.is_dir() else path
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: pass a `genie explore` run directory")
        return path

    def _load_weights(self, policy) -> None:
        policy.load_state_dict(torch.load(self.path, map_location="cpu", weights_only=True)["policy"])


class SB3ZipAgent(PolicyAgent):
    """A policy saved by Stable-Baselines3 (``model.save("ppo.zip")``), loaded with SB3's own ``PPO.load``.

    SB3 unpickles parts of the zip: load only zips from a trusted source. The policy must take 64x64 RGB frames
    (channel-first or channel-last) and choose among the shared 5 actions.
    """

    @staticmethod
    def _resolve_path(path: str | Path) -> Path:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"SB3 zip {path} not found: pass the file written by SB3's model.save()")
        return path

    def _load(self) -> None:
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:  # the schedules are replaced, as SB3 suggests for zips saved by other versions: play needs none
            model = PPO.load(self.path, device="cpu", custom_objects={"learning_rate": 0.0, "lr_schedule": _zero,
                                                                       "clip_range": _zero})
        except Exception as exc:  # not a zip, another algorithm, another SB3
            raise ValueError(f"{self.path} could not be loaded with stable_baselines3's PPO.load ({exc}); pass a zip "
                             "saved by PPO.save, or a policy.safetensors") from None
        space, actions = model.observation_space, model.action_space
        shapes = ((3, FRAME_SIZE, FRAME_SIZE), (FRAME_SIZE, FRAME_SIZE, 3))
        if getattr(space, "shape", None) not in shapes or getattr(actions, "n", None) != NUM_ACTIONS:
            raise ValueError(f"{self.path} is a policy for observations {space} and actions {actions}; pass one for "
                             f"64x64 RGB frames and Discrete({NUM_ACTIONS})")
        self._policy = model.policy.eval()
        self._generator = torch.Generator()

    def _observation(self, obs: np.ndarray):
        return self._policy.obs_to_tensor(np.ascontiguousarray(obs))[0]  # SB3 transposes to channel-first if needed


def _zero(_: float) -> float:
    return 0.0


def load_policy(source: str | Path, deterministic: bool = False, threads: int | None = 1) -> PolicyAgent:
    """The agent of any trained policy (what ``genie play --policy`` plays), loaded now so that a bad source fails here:

    - a ``policy.safetensors``, the directory holding it, or a shipped policy's name (:class:`PolicyAgent`);
    - a ``genie explore`` run directory that is still training: its ``checkpoint.pt`` (:class:`ExploreCheckpointAgent`);
    - an SB3 ``.zip`` (:class:`SB3ZipAgent`; SB3 unpickles it, so only from a trusted source).

    Raises ``FileNotFoundError`` or ``ValueError`` with one line saying what is accepted.
    """
    path = Path(source)
    if path.suffix.lower() == ".zip":
        agent: PolicyAgent = SB3ZipAgent(path, deterministic, threads)
    elif path.is_dir() and not (path / POLICY_FILE).is_file() and (path / EXPLORE_CHECKPOINT).is_file():
        agent = ExploreCheckpointAgent(path, deterministic, threads)
    else:
        agent = PolicyAgent(path, deterministic, threads)
    agent.reset(0)
    return agent
