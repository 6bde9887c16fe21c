"""Average the weights of several checkpoints of one run (a uniform average along the trajectory, as in SWA):
consecutive checkpoints of the campaign swing from one behaviour test to the next, their mean is steadier.

    python campaign/average_weights.py runs/campaign_d128_rollout/checkpoints/step_0000{400,500,600} \\
        --out /tmp/avg_400_600
    python campaign/average_weights.py A B --weights 0.75 0.25 --out /tmp/mix   # a weighted mean of two means
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from genie_gym.atomic import atomic_write_text
from genie_gym.models.checkpoint_io import load_pretrained, save_pretrained
from genie_gym.models.configs import TRAINING_OPTIONS_FILE


def average_state_dicts(states: list[dict[str, torch.Tensor]],
                        weights: list[float] | None = None) -> dict[str, torch.Tensor]:
    """Mean of floating-point tensors (in fp32), uniform or with the given weights (normalised to sum 1); other
    tensors (counters, masks) must agree and are kept."""
    weights = [1.0] * len(states) if weights is None else list(weights)
    if len(weights) != len(states) or any(w < 0 for w in weights) or sum(weights) <= 0:
        raise SystemExit(f"--weights needs one non-negative weight per checkpoint ({len(states)}), not all zero")
    weights = [w / sum(weights) for w in weights]
    if any(state.keys() != states[0].keys() for state in states):
        raise SystemExit("the checkpoints hold different tensors: average checkpoints of one model only")
    out = {}
    for name, first in states[0].items():
        if first.is_floating_point():
            out[name] = sum(w * state[name].float() for w, state in zip(weights, states)).to(first.dtype)
        else:
            if any(not torch.equal(state[name], first) for state in states):
                raise SystemExit(f"non-float tensor {name} differs between checkpoints; they are not one model")
            out[name] = first
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--weights", type=float, nargs="+",
                        help="one weight per checkpoint (normalised to sum 1); default: the uniform mean")
    parser.add_argument("--fp16", action="store_true", help="save the average in fp16 (as committed weights are)")
    args = parser.parse_args()
    models = [load_pretrained(path, expected_kind="dynamics") for path in args.checkpoints]
    if any(model.config != models[0].config for model in models[1:]):
        raise SystemExit("the checkpoints' configs differ: average checkpoints of one run only")
    model = models[0]
    model.load_state_dict(average_state_dicts([m.state_dict() for m in models], args.weights))
    save_pretrained(model, args.out, dtype=torch.float16 if args.fp16 else None)
    # the mean was trained with its checkpoints' options: --init from it then trains on with them
    options = {(path / TRAINING_OPTIONS_FILE).read_text() for path in args.checkpoints
               if (path / TRAINING_OPTIONS_FILE).is_file()}
    if len(options) == 1:
        atomic_write_text(args.out / TRAINING_OPTIONS_FILE, options.pop())
    print(f"mean of {len(models)} checkpoints -> {args.out}")


if __name__ == "__main__":
    main()
