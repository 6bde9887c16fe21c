#!/usr/bin/env bash
# The campaign's gate: pack a dynamics checkpoint with the shipped tokenizer and dream settings, then run the shipped
# model's dream behaviour tests on it (beats the repeated frame x 2, Mario jumps, steps right under RIGHT, the camera
# stops under DOWN). Extra arguments go to pytest (e.g. nothing else: the five; `-k ""`: the whole file).
#
#   bash campaign/gate.sh runs/campaign_d128_rollout/checkpoints/step_0000500 [SETTINGS.json]
set -euo pipefail
CKPT=$1; shift
SETTINGS=${1:-checkpoints/genie-redux-g-smb/dream.json}; [ $# -gt 0 ] && shift
OUT=$(mktemp -d /tmp/gate.XXXXXX)
.venv/bin/genie world-model pack --tokenizer checkpoints/genie-redux-g-smb/tokenizer --dynamics "$CKPT" \
    --game SMB --fp16 --out "$OUT/genie-redux-g-smb" --settings "$SETTINGS" >/dev/null
cp -r checkpoints/ppo-in-dream-smb "$OUT/"
GENIE_GYM_CHECKPOINTS=$OUT .venv/bin/pytest -q -p no:cacheprovider tests/test_shipped_checkpoint.py \
    -k "beats or jumps or step_right or coasts" "$@"
