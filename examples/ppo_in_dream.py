"""PPO inside the dream, judged in the real game.

Trains Stable-Baselines3 PPO (``CnnPolicy``) on ``GenieDreamVecEnv``: a batch of dreams of the shipped Super Mario
Bros world model, rewarded with the model's token-entropy uncertainty (the AutoExplore signal: the agent is paid for
reaching what the world model cannot yet predict). Then it plays the trained policy, a uniformly random policy and
the right-biased data-collection agent in the real game, from the same seeds, and prints how far each got (SMB's
camera position, ``xscrollHi * 256 + xscrollLo``: pixels of the level, 0 on the first screen), which actions each
took, and how uncertain the world model is along each run.

    python examples/ppo_in_dream.py --timesteps 30000 --out runs/ppo_dream     # ~12 min on 2 CPU cores
    python examples/ppo_in_dream.py --evaluate checkpoints/ppo-in-dream-smb --out runs/ppo_eval   # a saved policy

Writes ``OUT/policy.safetensors`` (the policy's weights; ``safetensors.torch.load_model(PPO("CnnPolicy",
env).policy, FILE)`` loads them) and ``OUT/result.json`` (the settings, the training rewards and the real-game
figures).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecMonitor

import genie_gym
from genie_gym.agents.policy_agent import SHIPPED_POLICIES, resolve_policy
from genie_gym.agents.ppo_settings import build_ppo
from genie_gym.agents.random_agent import RightBiasedStickyAgent
from genie_gym.agents.real_game_eval import real_game_runs
from genie_gym.envs.dream_vec_env import GenieDreamVecEnv
from genie_gym.world_model import WorldModel


class DreamRewardLog(BaseCallback):
    """Keeps the mean return of the dream episodes finished so far (``VecMonitor``'s buffer) after every rollout."""

    def __init__(self) -> None:
        super().__init__()
        self.returns: list[float] = []

    def _on_step(self) -> bool:
        return True

    def _on_rollout_end(self) -> None:
        if self.model.ep_info_buffer:
            self.returns.append(float(np.mean([info["r"] for info in self.model.ep_info_buffer])))
            print(f"{self.num_timesteps} dreamed steps: mean dream episode reward {self.returns[-1]:.3f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="smb", help="world model (shipped name or directory)")
    parser.add_argument("--out", default="runs/ppo_dream", help="where the policy and result.json go")
    parser.add_argument("--timesteps", type=int, default=30000, help="dreamed steps of PPO training (all dreams)")
    parser.add_argument("--num-dreams", type=int, default=16, help="dreams stepped together")
    parser.add_argument("--n-steps", type=int, default=64, help="PPO rollout length per dream")
    parser.add_argument("--episode-steps", type=int, default=64, help="a dream restarts from the real game after this")
    parser.add_argument("--maskgit-steps", type=int, default=1, help="1: the real-time setting")
    parser.add_argument("--eval-episodes", type=int, default=8)
    parser.add_argument("--eval-steps", type=int, default=300, help="real-game steps per evaluation run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--evaluate", metavar="DIR", help="only evaluate the policy saved in DIR (result: --out)")
    args = parser.parse_args()
    genie_gym.keep_freed_memory()
    out = Path(args.out)
    source = Path(args.evaluate or args.out)  # where the policy is read from
    world_model = WorldModel.from_pretrained(args.checkpoint)
    dreams = VecMonitor(GenieDreamVecEnv(args.num_dreams, world_model=world_model,
                                         max_episode_steps=args.episode_steps, maskgit_steps=args.maskgit_steps,
                                         seed=args.seed))
    model = build_ppo(dreams, args.seed, args.n_steps)
    policy_file = source / "policy.safetensors"
    result: dict = {"settings": vars(args)}
    if args.evaluate:
        if not policy_file.is_file() and source.name in SHIPPED_POLICIES:  # e.g. a wheel install, outside a clone
            policy_file = resolve_policy(source)  # the installed copy, or one clear error
            source = policy_file.parent
        if not policy_file.is_file():
            raise SystemExit(f"{policy_file} not found: train first with --out {source}, or evaluate a shipped "
                             f"policy: --evaluate {', '.join(SHIPPED_POLICIES)}")
        try:
            load_model(model.policy, str(policy_file))  # strict: every weight, with its shape
        except Exception as exc:  # a truncated file, another format, another policy's weights
            raise SystemExit(f"{policy_file} is not a CnnPolicy saved by this script ({exc}); train again with "
                             f"--out {source}") from None
        trained_with = source / "result.json"  # keep the training run's settings and rewards
        result = json.loads(trained_with.read_text()) if trained_with.is_file() else result
    else:
        out.mkdir(parents=True, exist_ok=True)
        log = DreamRewardLog()
        start = time.perf_counter()
        model.learn(total_timesteps=args.timesteps, callback=log)
        result["train_seconds"] = time.perf_counter() - start
        result["dream_episode_reward"] = log.returns[:: max(1, len(log.returns) // 20)]
        save_model(model.policy, str(policy_file))  # the shared CNN once
        print(f"trained {args.timesteps} dreamed steps in {result['train_seconds']:.0f} s; "
              f"mean dream episode reward (uncertainty) over training: "
              f"{', '.join(f'{r:.2f}' for r in result['dream_episode_reward'])}")
    dreams.close()

    eval_seed = 10_000 + args.seed  # seeds the dreams' contexts never used
    result["evaluation"] = {"episodes": args.eval_episodes, "steps": args.eval_steps, "seed": eval_seed}
    rng = np.random.default_rng(eval_seed)

    def trained(obs):
        return model.predict(obs, deterministic=False)[0]  # sampled, as during training

    right_biased = RightBiasedStickyAgent()  # the data-collection agent that scrolls SMB most: RIGHT 55%, JUMP 25%
    right_biased.reset(eval_seed)
    baselines = {"ppo_in_dream": trained, "random": lambda obs: rng.integers(0, 5), "right_biased": right_biased.act}
    for name, act in baselines.items():
        torch.manual_seed(eval_seed)  # the policy's samples: the same figures when a saved policy is evaluated again
        result[name] = real_game_runs(str(world_model.settings["game"]), act, args.eval_episodes, args.eval_steps,
                                      eval_seed, world_model)
        figures = result[name]
        shares = ", ".join(f"{action} {share:.0%}" for action, share in figures["action_share"].items())
        print(f"real game, {name:>12}: furthest camera x {figures['mean_furthest_camera_x']} px "
              f"(runs: {figures['furthest_camera_x']}), {figures['mean_distinct_screens']:.1f} distinct screens, "
              f"world-model uncertainty along the run "
              f"{figures['mean_uncertainty_along_run']:.3f}; actions {shares}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out / 'result.json'}" if args.evaluate else f"wrote {policy_file} and {out / 'result.json'}")


if __name__ == "__main__":
    main()
