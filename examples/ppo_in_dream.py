"""PPO inside the dream, judged in the real game.

Trains Stable-Baselines3 PPO (``CnnPolicy``) on ``GenieDreamVecEnv``: a batch of dreams of the shipped Super Mario
Bros world model, rewarded with the model's token-entropy uncertainty (the AutoExplore signal: the agent is paid for
reaching what the world model cannot yet predict). Then it plays the trained policy, a uniformly random policy and
the right-biased data-collection agent in the real game, from the same seeds, and prints how far each got (SMB's
camera position, ``xscrollHi * 256 + xscrollLo``: pixels of the level, 0 on the first screen), which actions each
took, and how uncertain the world model is along each run.

    python examples/ppo_in_dream.py --timesteps 30000 --out runs/ppo_dream     # ~12 min on 2 CPU cores
    python examples/ppo_in_dream.py --evaluate checkpoints/ppo-in-dream-smb --out runs/ppo_eval   # a saved policy

It is a thin caller of ``genie explore --env GenieDream-SMB-v0 --reward uncertainty``
(``genie_gym.agents.explore_command.train_explorer``): the same settings train the same policy. Writes
``OUT/policy.safetensors`` (the policy's weights; ``safetensors.torch.load_model(PPO("CnnPolicy", env).policy,
FILE)`` loads them), ``OUT/checkpoint.pt`` (rerunning the command continues an interrupted run) and
``OUT/result.json`` (``genie explore``'s: the run's settings, the training rewards, and the real-game figures under
``ppo_in_dream``, ``random`` and ``right_biased``).
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from genie_gym.agents import explore_command
from genie_gym.agents.explore_settings import ExploreSettings
from genie_gym.agents.policy_agent import SHIPPED_POLICIES, resolve_policy
from genie_gym.envs.registration import SHIPPED_DREAMS
from genie_gym.options import add_options, from_args, override

FIGURES = {"real_game": "ppo_in_dream", "real_game_random": "random", "real_game_right_biased": "right_biased"}
"""``genie explore``'s real-game keys and this example's names for them."""
OPTIONS = ("out", "timesteps", "num_envs", "n_steps", "episode_steps", "maskgit_steps", "eval_episodes", "eval_steps",
           "seed")
"""The ``genie explore`` options this example offers (the others keep their defaults: PPO, no epsilon)."""


@dataclass(kw_only=True)
class PPOInDreamSettings(ExploreSettings):
    """``genie explore``'s settings with this example's defaults and names."""

    out: str = override(ExploreSettings, "out", "runs/ppo_dream")
    num_envs: int | None = override(ExploreSettings, "num_envs", dest="num_dreams",
                                    help="dreams stepped together (default: 16)")
    # the shipped policy's real-game figures (checkpoints/ppo-in-dream-smb/MODEL_CARD.md) are 8 runs
    eval_episodes: int = override(ExploreSettings, "eval_episodes", 8)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="smb", help="world model (shipped name or directory)")
    add_options(parser, PPOInDreamSettings, only=OPTIONS)
    parser.add_argument("--evaluate", metavar="DIR", help="only evaluate the policy saved in DIR (result: --out)")
    return parser.parse_args()


def explore_settings(args: argparse.Namespace) -> ExploreSettings:
    """This example's options as ``genie explore``'s settings (PPO in the dream, paid its uncertainty), with a
    uniformly random policy played next to the trained one and the right-biased agent."""
    env = next((env_id for env_id, name in SHIPPED_DREAMS.items() if name == args.checkpoint), args.checkpoint)
    return from_args(PPOInDreamSettings, args, env=env, reward="uncertainty", random_baseline=True)


def main() -> None:
    args = parse_args()
    out = Path(args.out)
    try:
        explore = explore_settings(args)  # checked here, before anything is built
    except ValueError as exc:  # e.g. --num-dreams 0
        raise SystemExit(str(exc)) from None
    if args.evaluate:
        source = Path(args.evaluate)
        policy_file = source / "policy.safetensors"
        if not policy_file.is_file() and source.name in SHIPPED_POLICIES:  # e.g. a wheel install, outside a clone
            policy_file = resolve_policy(source)  # the installed copy, or one clear error
            source = policy_file.parent
        if not policy_file.is_file():
            raise SystemExit(f"{policy_file} not found: train first with --out {source}, or evaluate a shipped "
                             f"policy: --evaluate {', '.join(SHIPPED_POLICIES)}")
        try:
            figures = explore_command.evaluate_saved_policy(explore, policy_file)
        except ValueError as exc:
            raise SystemExit(f"{exc}; train again with --out {source}") from None
        trained_with = source / "result.json"  # keep the training run's settings and rewards
        result = json.loads(trained_with.read_text()) if trained_with.is_file() else {"settings": asdict(explore)}
        result.update(figures)
    else:
        try:
            result = explore_command.train_explorer(explore)
        except ValueError as exc:  # e.g. OUT holds a run with other settings
            raise SystemExit(str(exc)) from None
        rewards = result.get("training", {}).get("mean_episode_reward", [])
        result["dream_episode_reward"] = rewards[:: max(1, len(rewards) // 20)]
    for key, name in FIGURES.items():
        if key in result:
            result[name] = result.pop(key)
    result["evaluation"] = {"episodes": explore.eval_episodes, "steps": explore.eval_steps, "seed": explore.eval_seed}
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out / 'result.json'}")


if __name__ == "__main__":
    main()
