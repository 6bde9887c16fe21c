#!/usr/bin/env bash
# The paper's Table 6 on your machine: which explorer reaches what the world model cannot predict?
#
# Trains three PPO explorers inside the dream of a world model, each with another exploration reward (AutoExplore's
# token-entropy uncertainty, and the RF and VAE curiosity of Burda et al. with their own forward model: `rf-burda`,
# `vae-burda`; the paper's RF / VAE "on top of GenieRedux", `--reward rf|vae`, need the real next frame, so they train
# in the real game: `--env SMB`, docs/DESIGN.md §7), plays each in the real game to collect
# episodes (and the uniformly random agent as a reference), then evaluates the world model on every agent's episodes
# (2 context frames, 10 predicted, the agent's actions): the lower its PSNR / SSIM there, the more the agent found
# what the model still gets wrong, which is the data that improves it (the AutoExplore loop).
#
#   bash examples/compare_explorers.sh      # defaults below: 95 min measured on 2 CPU cores shared with other jobs
#   TIMESTEPS=3000 EPISODES=8 OUT=runs/explorers_small bash examples/compare_explorers.sh
#
# Every step resumes: rerun the same command after an interruption and finished work is kept.
set -euo pipefail

GENIE=${GENIE:-genie}               # e.g. "python -m genie_gym.cli" where the console script is not on PATH
OUT=${OUT:-runs/explorers}
DREAM=${DREAM:-GenieDream-SMB-v0}   # the dream the explorers train in (an id or a world-model directory)
CHECKPOINT=${CHECKPOINT:-smb}       # the same world model, for `genie eval`
TIMESTEPS=${TIMESTEPS:-30000}       # dreamed steps of PPO per explorer
EPISODES=${EPISODES:-40}            # real episodes per agent
MAX_STEPS=${MAX_STEPS:-300}
EVAL_SEQUENCES=${EVAL_SEQUENCES:-64}
REAL_RUNS=${REAL_RUNS:-8}           # real-game runs per explorer for its furthest camera x
WORKERS=${WORKERS:-2}
THREADS=${THREADS:-2}
EXPLORE_ARGS=${EXPLORE_ARGS:-}      # more `genie explore` options, e.g. "--num-envs 8 --n-steps 32"

for reward in uncertainty rf-burda vae-burda; do
    $GENIE explore --env "$DREAM" --reward "$reward" --timesteps "$TIMESTEPS" --out "$OUT/$reward" \
        --threads "$THREADS" --eval-episodes "$REAL_RUNS" $EXPLORE_ARGS
    $GENIE collect --env SMB --agent policy --policy "$OUT/$reward" --episodes "$EPISODES" --max-steps "$MAX_STEPS" \
        --workers "$WORKERS" --out "$OUT/data_$reward" --seed 20000 --no-progress
done
$GENIE collect --env SMB --agent random --episodes "$EPISODES" --max-steps "$MAX_STEPS" --workers "$WORKERS" \
    --out "$OUT/data_random" --seed 20000 --no-progress

for agent in random uncertainty rf-burda vae-burda; do
    if [ ! -f "$OUT/eval_$agent.json" ]; then
        $GENIE eval --checkpoint "$CHECKPOINT" --data "$OUT/data_$agent" --split all --max-sequences "$EVAL_SEQUENCES" \
            --maskgit-steps 8 --json "$OUT/eval_$agent.json.tmp" --grid "$OUT/eval_$agent.png"
        mv "$OUT/eval_$agent.json.tmp" "$OUT/eval_$agent.json"
    fi
done

python3 - "$OUT" <<'PY'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
print(f"\nworld model on each agent's real episodes ({out}): lower = the agent found more of what it gets wrong")
print(f"{'agent':<22}{'PSNR':>8}{'SSIM':>8}{'dPSNR':>8}{'camera x':>10}")
names = {"random": "random", "uncertainty": "AutoExplore (ours)", "rf-burda": "RF curiosity",
         "vae-burda": "VAE curiosity"}
for agent, name in names.items():
    e = json.loads((out / f"eval_{agent}.json").read_text())
    run = out / agent / "result.json"
    x = json.loads(run.read_text()).get("real_game", {}).get("mean_furthest_camera_x") if run.is_file() else None
    print(f"{name:<22}{e['psnr']:>8.2f}{e['ssim']:>8.3f}{e['delta_psnr']:>8.2f}{'' if x is None else f'{x:.0f}':>10}")
PY
