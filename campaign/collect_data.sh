#!/usr/bin/env bash
# The data of the SMB world-model campaign (issue 35): training, validation and test episode stores of level 1-1,
# collected with the project's own agents. Resumable: rerun after an interruption and finished episodes are kept.
# Seed ranges never overlap: training 10_000-14_999, validation 7_000_000-7_099_999, test 9_000_000-9_099_999.
# Test sets are for the final report only; models are chosen on the validation sets.
#
#   bash campaign/collect_data.sh            # ~10 min on 2 cores, ~3 GB under data/
set -euo pipefail
GENIE=${GENIE:-.venv/bin/genie}
D=${DATA:-data}
W=${WORKERS:-2}
c() { "$GENIE" collect --env SMB --workers "$W" --no-progress "$@"; }

# training (~190k frames): what teaches walking, braking, jumping, scrolling, pipes, deaths and the restart
c --agent sticky-random --episodes 150 --max-steps 300 --out "$D/train_sticky" --seed 10000
c --agent right-biased  --episodes 150 --max-steps 300 --out "$D/train_right"  --seed 11000
c --agent runner --noise 0.2 --episodes 150 --max-steps 400 --out "$D/train_runner" --seed 12000
c --agent run-stop --lead-in 0:250 --episodes 200 --max-steps 100 --out "$D/train_runstop" --seed 13000
c --agent random --episodes 300 --max-steps 40 --out "$D/train_start_random" --seed 14000

# validation (for choosing: sizes, checkpoints, sampler settings)
c --agent sticky-random --episodes 12 --max-steps 300 --out "$D/val_sticky" --seed 7000000
c --agent runner --noise 0.2 --episodes 12 --max-steps 400 --out "$D/val_runner" --seed 7010000
c --agent run-stop --lead-in 60:250 --episodes 40 --max-steps 100 --out "$D/val_runstop" --seed 7020000

# test (the report only; >= 300 sequences of 12 frames at stride 20 each)
c --agent sticky-random --episodes 25 --max-steps 300 --out "$D/test_sticky" --seed 9000000
c --agent runner --noise 0.2 --episodes 20 --max-steps 400 --out "$D/test_runner" --seed 9010000
c --agent run-stop --lead-in 60:250 --episodes 80 --max-steps 100 --out "$D/test_runstop" --seed 9020000
