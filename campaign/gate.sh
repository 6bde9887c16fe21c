#!/usr/bin/env bash
# The campaign's gate: pack a dynamics checkpoint with the shipped tokenizer and dream settings, then
#  1. run the shipped model's dream behaviour tests on it (beats the repeated frame x 2, Mario jumps, steps right
#     under RIGHT, the camera stops under DOWN); extra arguments go to pytest (`-k ""`: the whole file);
#  2. dream along 8 real runs of the noisy runner for 200 steps (`genie probe long-dream --seeds 8`) and fail if the
#     dream's mean scroll at step 200 falls below MIN_SCROLL px (default 37: the shipped model, measured in sessions
#     34-37; 43 in session 31's probe; the real game moves ~154 px). LONG=0 skips it (~10 min on a busy 2-core VM).
#
#   bash campaign/gate.sh runs/campaign_d128_rollout/checkpoints/step_0000500 [SETTINGS.json]
set -euo pipefail
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
    # the moment-200 row: step runs psnr dB psnr dB psnr dB REAL px SCROLL px MARIO% MARIO_REAL%
    scroll=$(awk '$1 == 200 && $12 == "px" {print $11}' "$OUT/long_dream.txt")
    if [ -z "$scroll" ] || [ "$scroll" -lt "${MIN_SCROLL:-37}" ]; then
        echo "long dream: scroll ${scroll:-?} px at step 200, below MIN_SCROLL=${MIN_SCROLL:-37} px"; status=1
    else
        echo "long dream: scroll $scroll px at step 200 (MIN_SCROLL=${MIN_SCROLL:-37} px)"
    fi
fi
exit $status
