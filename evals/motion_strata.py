"""How the game-independent motion strata of ``genie eval`` agree with SMB's camera.

For every evaluation window of the given stores (12 frames, stride 20: 2 context + 10 predicted), prints the
changed-pixel fraction of :func:`genie_gym.evaluation.motion_fraction` against the real camera shift
(:func:`genie_gym.metrics.camera_shift`) and the confusion table of the two strata definitions; the bounds of
``MOTION_STRATA`` were chosen from it.

    python evals/motion_strata.py data/val_sticky data/val_runner data/val_runstop
"""

from __future__ import annotations

import argparse

import numpy as np

from genie_gym.evaluation import (
    CAMERA_STRATA,
    MOTION_STRATA,
    EvalSettings,
    camera_strata,
    load_evaluation_data,
    motion_fraction,
    motion_strata,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("stores", nargs="+", help="episode stores (all their episodes) or .npz files")
    args = parser.parse_args()
    settings = EvalSettings()
    fractions, by_motion, by_camera = [], [], []
    for store in args.stores:
        frames, _ = load_evaluation_data(store, settings, split="all")
        context, targets = frames[:, settings.context_frames - 1], frames[:, settings.context_frames:]
        fractions.append(motion_fraction(context, targets))
        by_motion += motion_strata(context, targets)
        by_camera += camera_strata(context, targets)
    fraction = np.concatenate(fractions)
    names_motion = [name for name, _ in MOTION_STRATA]
    names_camera = [name for name, _ in CAMERA_STRATA]
    print(f"{len(fraction)} windows; changed-pixel fraction by camera stratum (quantiles 10/50/90%):")
    for camera in names_camera:
        pick = np.array(by_camera) == camera
        if pick.any():
            q = np.quantile(fraction[pick], [0.1, 0.5, 0.9])
            print(f"  camera {camera:<9} n {pick.sum():>4}  {q[0]:.4f} / {q[1]:.4f} / {q[2]:.4f}")
    print("confusion (rows: motion strata, columns: camera strata):")
    print("             " + "".join(f"{name:>11}" for name in names_camera))
    for motion in names_motion:
        pairs = list(zip(by_motion, by_camera, strict=True))
        counts = [sum(1 for m, c in pairs if m == motion and c == camera) for camera in names_camera]
        print(f"  {motion:<10} " + "".join(f"{count:>11}" for count in counts))
    agree = np.mean([m == c for m, c in zip(by_motion, by_camera, strict=True)])
    print(f"agreement {agree:.3f}")


if __name__ == "__main__":
    main()
