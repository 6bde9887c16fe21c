#!/usr/bin/env bash
# The campaign's gate: pack a dynamics checkpoint with the shipped tokenizer and dream settings, then
#  1. run the shipped model's dream behaviour tests on it (beats the repeated frame x 2, Mario jumps, steps right
#     under RIGHT, the camera stops under DOWN); extra arguments go to pytest (`-k ""`: the whole file);
#  2. dream along 8 real runs of the noisy runner for 200 steps (`genie probe long-dream --seeds 8`) and fail if the
#     dream scrolls less than the shipped model's on the same runs by more than two standard errors, paired per seed
#     (campaign/compare_long_dream.py; the real game moves ~154 px). LONG=0 skips it (~7 min at THREADS=1).
#     When a candidate ships, its probe output becomes campaign/long_dream_shipped.txt.
#
#   bash campaign/gate.sh runs/campaign_d128_rollout/checkpoints/step_0000500 [SETTINGS.json]
#
# THREADS=1 caps torch's threads (OMP_NUM_THREADS) beside a training run: two busy processes on 2 cores with torch's
# default 2 threads each made the long dreams far slower (one seed took more than 20 min, session 39).
set -euo pipefail
[ -n "${THREADS:-}" ] && export OMP_NUM_THREADS=$THREADS
CKPT=$1; shift
SETTINGS=${1:-checkpoints/genie-redux-g-smb/dream.json}; [ $# -gt 0 ] && shift
OUT=$(mktemp -d /tmp/gate.XXXXXX)
.venv/bin/genie world-model pack --tokenizer checkpoints/genie-redux-g-smb/tokenizer --dynamics "$CKPT" \
    --game SMB --fp16 --out "$OUT/genie-redux-g-smb" --settings "$SETTINGS" >/dev/null
cp -r checkpoints/ppo-in-dream-smb "$OUT/"
status=0
GENIE_GYM_CHECKPOINTS=$OUT .venv/bin/pytest -q -p no:cacheprovider tests/test_shipped_checkpoint.py \
    -k "beats or jumps or step_right or coasts" "$@" || status=1
if [ "${LONG:-1}" != 0 ]; then
    .venv/bin/genie probe long-dream --seeds 8 --checkpoint "$OUT/genie-redux-g-smb" | tee "$OUT/long_dream.txt"
    # paired per seed against the shipped model's long dreams (campaign/long_dream_shipped.txt, the same 8 real runs)
    .venv/bin/python campaign/compare_long_dream.py "$OUT/long_dream.txt" || status=1
fi
exit $status
