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
from pathlib import Path

from genie_gym.agents import explore_command
from genie_gym.agents.explore_settings import ExploreSettings
from genie_gym.agents.policy_agent import SHIPPED_POLICIES, resolve_policy
from genie_gym.envs.registration import SHIPPED_DREAMS

FIGURES = {"real_game": "ppo_in_dream", "real_game_random": "random", "real_game_right_biased": "right_biased"}
"""``genie explore``'s real-game keys and this example's names for them."""
DEFAULTS = ExploreSettings(env="GenieDream-SMB-v0", out="runs/ppo_dream")
"""``genie explore``'s settings for PPO (``--agent ppo``) in the shipped dream: this example's defaults."""


def explore_settings(args: argparse.Namespace) -> ExploreSettings:
    """This example's options as ``genie explore``'s settings (PPO in the dream, paid its uncertainty), with a
    uniformly random policy played next to the trained one and the right-biased agent."""
    env = next((env_id for env_id, name in SHIPPED_DREAMS.items() if name == args.checkpoint), args.checkpoint)
    return ExploreSettings(env=env, reward="uncertainty", out=args.out, timesteps=args.timesteps,
                           num_envs=args.num_dreams, n_steps=args.n_steps, episode_steps=args.episode_steps,
                           maskgit_steps=args.maskgit_steps, eval_episodes=args.eval_episodes,
                           eval_steps=args.eval_steps, seed=args.seed, random_baseline=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="smb", help="world model (shipped name or directory)")
    parser.add_argument("--out", default=DEFAULTS.out, help="where the policy and result.json go")
    parser.add_argument("--timesteps", type=int, default=DEFAULTS.timesteps,
                        help="dreamed steps of PPO training (all dreams)")
    parser.add_argument("--num-dreams", type=int, default=DEFAULTS.num_envs, help="dreams stepped together")
    parser.add_argument("--n-steps", type=int, default=DEFAULTS.n_steps, help="PPO rollout length per dream")
    parser.add_argument("--episode-steps", type=int, default=DEFAULTS.episode_steps,
                        help="a dream restarts from the real game after this")
    parser.add_argument("--maskgit-steps", type=int, default=DEFAULTS.maskgit_steps, help="1: the real-time setting")
    parser.add_argument("--eval-episodes", type=int, default=8)
    parser.add_argument("--eval-steps", type=int, default=DEFAULTS.eval_steps,
                        help="real-game steps per evaluation run")
    parser.add_argument("--seed", type=int, default=DEFAULTS.seed)
    parser.add_argument("--evaluate", metavar="DIR", help="only evaluate the policy saved in DIR (result: --out)")
    args = parser.parse_args()
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
        result = json.loads(trained_with.read_text()) if trained_with.is_file() else {"settings": vars(args)}
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
    eval_seed = 10_000 + args.seed  # seeds the dreams' contexts never used
    result["evaluation"] = {"episodes": args.eval_episodes, "steps": args.eval_steps, "seed": eval_seed}
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out / 'result.json'}")


if __name__ == "__main__":
    main()
