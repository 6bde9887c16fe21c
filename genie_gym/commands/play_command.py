"""``genie play ENV_ID``: play a real game or a dream with the keyboard (or a scripted action file, headless)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from genie_gym.options import add_options, from_args, option
from genie_gym.sampling_options import given_sampling, sampling_option

# The player (pygame, the envs) is imported inside _play: every `genie` invocation imports this module to build its
# parser.


@dataclass(kw_only=True)
class PlaySettings:
    """``genie play``'s command-line options (see :mod:`genie_gym.options`), what :func:`genie_gym.play.run_play`
    plays with. The sampling options (:mod:`genie_gym.sampling_options`) set the dream's sampling (:attr:`sampling`).
    """

    env_id: str = option(help="e.g. GenieDream-SMB-v0 or GenieRetro-SMB-v0, or a world-model directory "
                              "(`genie world-model pack`): its dream, next to the real game it was made of",
                         positional=True)
    fps: float = option(15.0, "steps per second (15 = real time at frame skip 4)")
    scale: int = option(6, "pixel upscaling of the 64x64 frames")
    upscale: bool | None = option(None, "draw the frames through the game's super-resolution network "
                                        "(checkpoints/upscaler-smb; bicubic where none is installed); default: on "
                                        "when the network is installed")
    upscaler: str | None = option(None, "the upscaler to draw with instead of the shipped one: a `genie train "
                                        "upscaler` run or checkpoint directory, or 'bicubic'", metavar="DIR")
    seed: int = option(0)
    side_by_side: bool = option(False, "start with real | dream side by side")
    actions_file: str | None = option(None, "scripted actions, one per line (name or index); the session ends when "
                                            "they run out", flag="--actions")
    record: str | None = option(None, "write what the window shows to FILE.gif or FILE.mp4")
    record_store: str | None = option(None, "also write the real game's episode into this store")
    max_steps: int | None = option(None)
    maskgit_steps: int | None = sampling_option("maskgit_steps")
    action_guidance: float | None = sampling_option("action_guidance")
    change_temperature: float | None = sampling_option("change_temperature")
    dream_from: int = option(0, "run only the real game for the first N steps, then start the dream from its latest "
                                "frames (default 0: the dream starts at the reset)", metavar="N")
    policy: str | None = option(None, "a trained policy plays (A hands the game to the keyboard and back): a `genie "
                                      "explore` run directory, a policy.safetensors, the shipped ppo-in-dream-smb, or "
                                      "an SB3 .zip (loaded with SB3's PPO.load, which unpickles it: only zips from a "
                                      "trusted source)", metavar="RUN_OR_CHECKPOINT")
    policy_sees: str | None = option(None, "the frame the policy chooses its action on (side by side both panels "
                                           "take that action; while no dream runs, the real frame); default: the "
                                           "shown one (the dream when the env is a dream or Tab shows it)",
                                     choices=("real", "dream"))
    deterministic: bool = option(False, "the policy takes its most likely action instead of sampling one (sampling "
                                        "is seeded by --seed)")
    overlay: bool = option(False, "start with the heat map of the dream's per-token uncertainty over the dream panel "
                                  "(U toggles it; the dream computes its uncertainty, and the header shows it, only "
                                  "while the map is on, which costs 40-50%% of the frames/s at --maskgit-steps 1); "
                                  "recordings show what the window shows")

    @property
    def sampling(self) -> dict[str, Any]:
        """The dream's sampling settings given; the others stay the checkpoint's ``dream.json``'s (as the dream env
        resolves them, :meth:`~genie_gym.models.configs.DreamSettings.resolve`)."""
        return given_sampling(self)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``genie play`` to the command line."""
    parser = subparsers.add_parser(
        "play", help="play a real or dream env in a pygame window",
        description="Arrows + space to play; Tab dream<->real, B side-by-side, P pause, N single step, R reset, "
                    "A policy<->keys (with --policy), U uncertainty heat map over the dream, Esc quit. Frames are "
                    "drawn at 256x256 through the super-resolution network where one is installed (--no-upscale: "
                    "the 64x64 pixels blown up). Headless: "
                    "SDL_VIDEODRIVER=dummy with --actions FILE, or with --policy and --max-steps N.")
    add_options(parser, PlaySettings)
    parser.set_defaults(func=_play)


def _play(args: argparse.Namespace) -> int:
    from genie_gym.play import run_play

    summary = run_play(from_args(PlaySettings, args))
    players = summary.get("players")
    by = f" ({', '.join(f'{name} {count}' for name, count in players.items())})" if players else ""
    print(f"played {summary['steps']} steps{by}" + (f", drawn by {summary['upscaler']}" if summary["upscaler"] else ""))
    if "record" in summary:
        print(f"wrote {summary['record']}")
    for path in summary.get("episodes", []):
        print(f"wrote episode {path}")
    return 0
