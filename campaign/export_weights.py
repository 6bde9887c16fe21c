"""Copy the latest checkpoint of each campaign run into campaign/weights/SIZE as fp16 safetensors (+ config), the
weights a new machine continues from (campaign/train.sh) and that are committed at the end of every session.

    python campaign/export_weights.py d128 d192 --run-name session29
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from genie_gym.atomic import atomic_write_text
from genie_gym.models.checkpoint_io import load_pretrained, save_pretrained
from genie_gym.models.configs import TRAINING_OPTIONS_FILE, get_training_options
from genie_gym.trainers.run_dir import RunDir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sizes", nargs="+")
    parser.add_argument("--run-name", required=True, help="this session's name for the run, e.g. session29")
    args = parser.parse_args()
    for size in args.sizes:
        run = RunDir(f"runs/campaign_{size}")
        checkpoint = run.latest_checkpoint()
        if checkpoint is None:
            raise SystemExit(f"runs/campaign_{size} has no checkpoint")
        out = Path("campaign/weights") / size
        save_pretrained(load_pretrained(checkpoint, expected_kind="dynamics"), out, dtype=torch.float16)
        # the options it trained with, which `--init` of the next session's run starts from (train.sh --set on top)
        options = get_training_options("dynamics", checkpoint / "config.json")
        atomic_write_text(out / TRAINING_OPTIONS_FILE, json.dumps(options.to_dict(), indent=2) + "\n")
        step = int(checkpoint.name.split("_")[-1])
        # steps of 8 clips x 8 frames per run; a run on a new machine starts again at step 0 from these weights
        history = out / "trained_steps.json"
        runs = json.loads(history.read_text()) if history.is_file() else []
        runs = [row for row in runs if row["run"] != args.run_name] + [{"run": args.run_name, "steps": step}]
        history.write_text(json.dumps(runs, indent=2) + "\n")
        print(f"{checkpoint} -> {out} (fp16)")


if __name__ == "__main__":
    main()
