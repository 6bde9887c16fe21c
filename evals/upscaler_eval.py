"""The super-resolution U-Net against bicubic: test MSE / PSNR at 256x256 on held-out real frames, the frame-to-frame
change it adds on dreamed frames, and its cost per frame.

    python evals/upscaler_eval.py --upscaler checkpoints/upscaler-smb --data HELD_OUT_HIRES_STORE \
        [--dreams 4 --dream-steps 60] [--json out.json]

- **Real frames**: every frame of every episode of ``--data`` (a ``genie collect --hires`` store whose episodes the
  upscaler never saw: other episodes, another ``--seed``), upscaled from its 64x64 frame and compared with its own
  256x256 frame. MSE on ``[0, 1]`` images; PSNR per frame, then averaged (as ``genie eval`` does), and the PSNR of the
  mean MSE. The gain over bicubic is the paired per-frame difference, with its standard error over episodes (frames of
  one episode are not independent).
- **Dreamed frames** (the shipped SMB world model, ``--maskgit-steps`` 1, sticky random actions): no 256x256 truth
  exists, so the check is that the network does not invent detail that flickers. For consecutive frames it reports
  the mean squared frame-to-frame change of the upscaled frames, network vs bicubic, and ``invented``: the share of
  256x256 pixels that stay put under bicubic (every channel within 1/255) but move by more than 8/255 under the
  network. The same numbers on the real frames, and the real 256x256 frames' own (``real_256``, and the share of
  pixels that really move where bicubic is still), say what is normal; ``where_real_256_is_still`` measures the change
  each upscaling makes up where the real 256x256 frame does not move at all.
- **Cost**: milliseconds per frame at batch 1 on one thread (median of ``--timing-runs``), network and bicubic.

Numbers depend on the machine and its load: the script prints the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from genie_gym.data.store import EpisodeStore, load_hires
from genie_gym.models.upscaler import FrameUpscaler, bicubic, float_to_uint8, frames_to_input
from genie_gym.summary import mean_and_se

MOVE_THRESHOLD = 8 / 255  # a 256x256 pixel "moved" by more than this in some channel
STILL_THRESHOLD = 1 / 255  # ... while bicubic kept it within this
NAMES = ("upscaler", "bicubic")


def upscale_both(upscaler: FrameUpscaler, frames: np.ndarray, chunk: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """The network's and bicubic's 256x256 frames of uint8 ``(T, 64, 64, 3)``, as float ``(T, 3, 256, 256)`` of the
    uint8 images a user sees (rounded, clamped)."""
    ours, base = [], []
    for start in range(0, len(frames), chunk):
        part = np.asarray(frames[start : start + chunk])
        ours.append(frames_to_input(upscaler(part)))
        with torch.no_grad():
            base.append(frames_to_input(float_to_uint8(bicubic(frames_to_input(part), upscaler.size))))
    return torch.cat(ours), torch.cat(base)


def temporal_change(images: torch.Tensor) -> dict[str, float]:
    """Mean squared change between consecutive frames of float ``(T, 3, H, W)``."""
    return {"mean_sq_change": float((images[1:] - images[:-1]).pow(2).mean())} if len(images) > 1 else {}


def invented_motion(ours: torch.Tensor, base: torch.Tensor) -> float:
    """Share of pixels (over consecutive frame pairs) that bicubic keeps still and the network moves."""
    if len(ours) < 2:
        return 0.0
    still = (base[1:] - base[:-1]).abs().amax(dim=1) <= STILL_THRESHOLD
    moved = (ours[1:] - ours[:-1]).abs().amax(dim=1) > MOVE_THRESHOLD
    return float((still & moved).float().mean())


def change_where_still(ours: torch.Tensor, base: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """Sums over the pixels that stay still in the real 256x256 frames (every channel within 1/255 from one frame to
    the next): their count, and for the network and bicubic the summed squared change and the count moving by more
    than 8/255. Any change there is made up by the upscaling."""
    still = (truth[1:] - truth[:-1]).abs().amax(dim=1) <= STILL_THRESHOLD
    sums = {"pixels": float(still.sum())}
    for name, images in (("upscaler", ours), ("bicubic", base)):
        change = images[1:] - images[:-1]
        sums[f"{name}_sq"] = float(change.pow(2).mean(dim=1)[still].sum())
        sums[f"{name}_moving"] = float((change.abs().amax(dim=1)[still] > MOVE_THRESHOLD).sum())
    return sums


def psnr_db(mse: torch.Tensor) -> torch.Tensor:
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-12))


def evaluate_real(upscaler: FrameUpscaler, store_dir: str, max_frames_per_episode: int | None) -> dict[str, object]:
    """MSE / PSNR of the network and bicubic against the real 256x256 frames of every episode of ``store_dir``."""
    refs = EpisodeStore(store_dir).episodes()
    per_episode_gain, mse_ours, mse_base, psnr_ours, psnr_base = [], [], [], [], []
    change_ours, change_base, change_true, invented, truth_moves = [], [], [], [], []
    still: dict[str, float] = {}
    for ref in refs:
        high = load_hires(ref)
        if high is None:
            raise SystemExit(f"{ref.path} has no 256x256 frames: collect the held-out store with --hires")
        low = np.load(ref.frames_path, mmap_mode="r")
        if max_frames_per_episode:
            low, high = low[:max_frames_per_episode], high[:max_frames_per_episode]
        ours, base = upscale_both(upscaler, low)
        truth = frames_to_input(np.array(high))  # a copy: torch wants writable memory
        m_ours = (ours - truth).pow(2).mean(dim=(1, 2, 3))
        m_base = (base - truth).pow(2).mean(dim=(1, 2, 3))
        mse_ours.append(m_ours)
        mse_base.append(m_base)
        psnr_ours.append(psnr_db(m_ours))
        psnr_base.append(psnr_db(m_base))
        per_episode_gain.append(float((psnr_db(m_ours) - psnr_db(m_base)).mean()))
        change_ours.append(temporal_change(ours).get("mean_sq_change", 0.0))
        change_base.append(temporal_change(base).get("mean_sq_change", 0.0))
        change_true.append(temporal_change(truth).get("mean_sq_change", 0.0))
        invented.append(invented_motion(ours, base))
        truth_moves.append(invented_motion(truth, base))
        for key, value in change_where_still(ours, base, truth).items():
            still[key] = still.get(key, 0.0) + value
    all_ours, all_base = torch.cat(mse_ours), torch.cat(mse_base)
    gain, gain_se = mean_and_se(per_episode_gain)
    return {
        "episodes": len(refs),
        "frames": int(len(all_ours)),
        "mse": float(all_ours.mean()),
        "bicubic_mse": float(all_base.mean()),
        "psnr": float(torch.cat(psnr_ours).mean()),
        "bicubic_psnr": float(torch.cat(psnr_base).mean()),
        "psnr_of_mean_mse": float(psnr_db(all_ours.mean())),
        "bicubic_psnr_of_mean_mse": float(psnr_db(all_base.mean())),
        "psnr_gain_db": gain,
        "psnr_gain_se_db": float("nan") if gain_se is None else gain_se,
        "frames_better_than_bicubic": float((all_ours < all_base).float().mean()),
        "frame_change": {"upscaler": float(np.mean(change_ours)), "bicubic": float(np.mean(change_base)),
                         "real_256": float(np.mean(change_true))},
        "invented_motion": float(np.mean(invented)),
        "real_256_moves_where_bicubic_is_still": float(np.mean(truth_moves)),
        "where_real_256_is_still": {
            "pixel_share": still["pixels"] / max(float(len(all_ours) - len(refs)) * upscaler.size**2, 1.0),
            "mean_sq_change": {name: still[f"{name}_sq"] / max(still["pixels"], 1.0) for name in NAMES},
            "share_moving": {name: still[f"{name}_moving"] / max(still["pixels"], 1.0) for name in NAMES},
        },
    }


def evaluate_dreams(upscaler: FrameUpscaler, dreams: int, steps: int, maskgit_steps: int,
                    seed: int) -> dict[str, object]:
    """The frame-to-frame change the network adds to dreamed frames, against bicubic."""
    import gymnasium as gym

    import genie_gym  # noqa: F401  (registers the dream ids)

    env = gym.make("GenieDream-SMB-v0", maskgit_steps=maskgit_steps)
    rng = np.random.default_rng(seed)
    change_ours, change_base, invented, gap = [], [], [], []
    try:
        for dream in range(dreams):
            obs, _ = env.reset(seed=seed + dream)
            frames, action = [obs], 0
            for _ in range(steps):
                if rng.random() > 0.75:  # sticky random actions, as the collection agents
                    action = int(rng.integers(0, 5))
                obs, *_ = env.step(action)
                frames.append(obs)
            ours, base = upscale_both(upscaler, np.stack(frames))
            change_ours.append(temporal_change(ours)["mean_sq_change"])
            change_base.append(temporal_change(base)["mean_sq_change"])
            invented.append(invented_motion(ours, base))
            gap.append(float((ours - base).pow(2).mean()))
    finally:
        env.close()
    return {"dreams": dreams, "steps": steps, "maskgit_steps": maskgit_steps,
            "frame_change": {"upscaler": float(np.mean(change_ours)), "bicubic": float(np.mean(change_base))},
            "added_change_ratio": float(np.mean(change_ours) / max(np.mean(change_base), 1e-12)),
            "invented_motion": float(np.mean(invented)),
            "mean_sq_difference_from_bicubic": float(np.mean(gap))}


def time_per_frame(upscaler: FrameUpscaler, runs: int) -> dict[str, float]:
    """Median ms per frame at batch 1 (one thread): the network and bicubic."""
    frame = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    bicubic_only = FrameUpscaler(upscaler.size)
    timings = {}
    for name, fn in (("upscaler_ms", upscaler), ("bicubic_ms", bicubic_only)):
        for _ in range(5):
            fn(frame)
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            fn(frame)
            samples.append((time.perf_counter() - start) * 1000)
        timings[name] = statistics.median(samples)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upscaler", default="auto", help="checkpoint or run directory (default: the shipped one)")
    parser.add_argument("--data", default=None, help="held-out store collected with --hires (skip: no real numbers)")
    parser.add_argument("--max-frames", type=int, default=None, help="frames per episode (default: all)")
    parser.add_argument("--dreams", type=int, default=4, help="dreams to upscale (0: none)")
    parser.add_argument("--dream-steps", type=int, default=60)
    parser.add_argument("--maskgit-steps", type=int, default=1, help="the fast dream setting of genie play")
    parser.add_argument("--seed", type=int, default=100)
    parser.add_argument("--timing-runs", type=int, default=50)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", default=None, help="also write the numbers here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    upscaler = FrameUpscaler.load(args.upscaler, game="SMB", size=256)
    if upscaler.model is None:
        raise SystemExit(f"no upscaler at {args.upscaler!r}: pass --upscaler DIR (a checkpoint or run directory)")
    result: dict[str, object] = {"upscaler": upscaler.source, "threads": args.threads,
                                 "load_before": os.getloadavg()}
    if args.data:
        result["real"] = evaluate_real(upscaler, args.data, args.max_frames)
        print(json.dumps({"real": result["real"]}, indent=2), flush=True)
    if args.dreams:
        result["dream"] = evaluate_dreams(upscaler, args.dreams, args.dream_steps, args.maskgit_steps, args.seed)
        print(json.dumps({"dream": result["dream"]}, indent=2), flush=True)
    result["cost"] = time_per_frame(upscaler, args.timing_runs)
    result["load_after"] = os.getloadavg()
    print(json.dumps({k: result[k] for k in ("upscaler", "threads", "cost", "load_before", "load_after")}, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
