"""``genie play ENV_ID``: play a real game or a dream with the keyboard (or a scripted action file, headless)."""

from __future__ import annotations

import argparse

# The player (pygame, the envs) is imported inside _play: every `genie` invocation imports this module to build its
# parser.


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie play`` to the command line."""
    parser = subparsers.add_parser(
        "play", help="play a real or dream env in a pygame window",
        description="Arrows + space to play; Tab dream<->real, B side-by-side, P pause, N single step, R reset, "
                    "A policy<->keys (with --policy), U uncertainty heat map over the dream, Esc quit. Frames are "
                    "drawn at 256x256 through the super-resolution network where one is installed (--no-upscale: "
                    "the 64x64 pixels blown up). Headless: "
                    "SDL_VIDEODRIVER=dummy with --actions FILE, or with --policy and --max-steps N.")
    parser.add_argument("env_id", help="e.g. GenieDream-SMB-v0 or GenieRetro-SMB-v0, or a world-model directory "
                                       "(`genie world-model pack`): its dream, next to the real game it was made of")
    parser.add_argument("--fps", type=float, default=15.0, help="steps per second (15 = real time at frame skip 4)")
    parser.add_argument("--scale", type=int, default=6, help="pixel upscaling of the 64x64 frames")
    parser.add_argument("--upscale", action=argparse.BooleanOptionalAction, default=None,
                        help="draw the frames through the game's super-resolution network (checkpoints/upscaler-smb; "
                             "bicubic where none is installed); default: on when the network is installed")
    parser.add_argument("--upscaler", default=None, metavar="DIR",
                        help="the upscaler to draw with instead of the shipped one: a `genie train upscaler` run or "
                             "checkpoint directory, or 'bicubic'")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--side-by-side", action="store_true", help="start with real | dream side by side")
    parser.add_argument("--actions", dest="actions_file", default=None,
                        help="scripted actions, one per line (name or index); the session ends when they run out")
    parser.add_argument("--record", default=None, help="write what the window shows to FILE.gif or FILE.mp4")
    parser.add_argument("--record-store", default=None, help="also write the real game's episode into this store")
    parser.add_argument("--max-steps", type=int, default=None)
    parser.add_argument("--maskgit-steps", type=int, default=None,
                        help="MaskGIT steps per dreamed frame (default: the checkpoint's); 1 or 2 dream in about "
                             "real time on a 2-core CPU")
    parser.add_argument("--action-guidance", type=float, default=None, metavar="W",
                        help="action-guidance weight of the dream (default: the checkpoint's, off for the shipped "
                             "SMB model); 1 makes the dreamed Mario answer RIGHT more reliably, 2.3x slower")
    parser.add_argument("--change-temperature", type=float, default=None, metavar="C",
                        help="the dream's keep-or-change draw per patch (default: the checkpoint's, off for the "
                             "shipped SMB model); 0.1 keeps a long dream scrolling, less exact over a few frames")
    parser.add_argument("--dream-from", type=int, default=0, metavar="N",
                        help="run only the real game for the first N steps, then start the dream from its latest "
                             "frames (default 0: the dream starts at the reset)")
    parser.add_argument("--policy", default=None, metavar="RUN_OR_CHECKPOINT",
                        help="a trained policy plays (A hands the game to the keyboard and back): a `genie explore` "
                             "run directory, a policy.safetensors, the shipped ppo-in-dream-smb, or an SB3 .zip "
                             "(loaded with SB3's PPO.load, which unpickles it: only zips from a trusted source)")
    parser.add_argument("--policy-sees", choices=("real", "dream"), default=None,
                        help="the frame the policy chooses its action on (side by side both panels take that "
                             "action; while no dream runs, the real frame); default: the shown one (the dream when "
                             "the env is a dream or Tab shows it)")
    parser.add_argument("--deterministic", action="store_true",
                        help="the policy takes its most likely action instead of sampling one (sampling is seeded "
                             "by --seed)")
    parser.add_argument("--overlay", action="store_true",
                        help="start with the heat map of the dream's per-token uncertainty over the dream panel "
                             "(U toggles it; the dream computes its uncertainty, and the header shows it, only while "
                             "the map is on, which costs 40-50%% of the frames/s at --maskgit-steps 1); recordings "
                             "show what the window shows")
    parser.set_defaults(func=_play)


def _play(args: argparse.Namespace) -> int:
    import genie_gym  # noqa: F401  (registers the env ids)
    from genie_gym.envs.registration import resolve_env_id
    from genie_gym.play import run_play

    summary = run_play(resolve_env_id(args.env_id), fps=args.fps, scale=args.scale, seed=args.seed,
                       side_by_side=args.side_by_side, actions_file=args.actions_file, record=args.record,
                       record_store=args.record_store,
                       max_steps=args.max_steps, maskgit_steps=args.maskgit_steps, dream_from=args.dream_from,
                       action_guidance=args.action_guidance, policy=args.policy, policy_sees=args.policy_sees,
                       deterministic=args.deterministic, overlay=args.overlay, upscale=args.upscale,
                       upscaler=args.upscaler, change_temperature=args.change_temperature)
    players = summary.get("players")
    by = f" ({', '.join(f'{name} {count}' for name, count in players.items())})" if players else ""
    print(f"played {summary['steps']} steps{by}" + (f", drawn by {summary['upscaler']}" if summary["upscaler"] else ""))
    if "record" in summary:
        print(f"wrote {summary['record']}")
    for path in summary.get("episodes", []):
        print(f"wrote episode {path}")
    return 0
