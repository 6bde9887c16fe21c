#!/usr/bin/env bash
# One dynamics run of the SMB world-model campaign (issue 35) on the campaign's training mix, over the shipped
# tokenizer's token ids with unchanged patches holding their id (hold_unchanged_tokens: docs/WORLD_MODEL_CAMPAIGN.md),
# the plain MaskGIT + TDCE loss (the stage-8 options off), half of the clips with a fully visible prefix.
#
#   bash campaign/train.sh d192 [--stop-at STEP] [--threads 2]    # SIZE is one of campaign/configs/dyn_*.json
#   INIT=checkpoints/genie-redux-g-smb/dynamics LR=2e-4 bash campaign/train.sh d128_shipped   # the shipped weights on
#
# Resumable: rerun the same command and the run continues from its latest checkpoint in runs/campaign_SIZE. On a new
# machine (no run directory yet) it starts from INIT if given, else the committed weights campaign/weights/SIZE (fp16,
# a fresh optimizer with a short warm-up), else from scratch. Extra `--set KEY=VALUE` after SIZE change training
# options (a changed option needs a new run: INIT=the last checkpoint of the old one). The schedule spans STEPS (default 40000: a near-constant learning rate
# over many sessions); --stop-at ends this session's share with a checkpoint.
set -euo pipefail
SIZE=$1; shift
# bf16 autocast where the CPU multiplies bf16 natively (~2x fp32 there), else fp32 (emulated bf16 is ~100x slower)
PRECISION=${PRECISION:-$(grep -qwE 'avx512_bf16|amx_bf16' /proc/cpuinfo 2>/dev/null && echo bf16 || echo fp32)}
GENIE=${GENIE:-.venv/bin/genie}
OUT=${OUT:-runs/campaign_$SIZE}
START=(--config "campaign/configs/dyn_${SIZE%%_*}.json")   # d128_shipped -> dyn_d128.json
if [ -e "$OUT/args.json" ]; then
    START=(--resume)
elif [ -n "${INIT:-}" ]; then
    START=(--init "$INIT")   # e.g. INIT=checkpoints/genie-redux-g-smb/dynamics for the d128_shipped run
elif [ -e "campaign/weights/$SIZE/model.safetensors" ]; then
    START=(--init "campaign/weights/$SIZE")
fi
exec "$GENIE" train dynamics "${START[@]}" --data "${DATA:-data/train_mix}" \
    --tokenizer checkpoints/genie-redux-g-smb/tokenizer --out "$OUT" --steps "${STEPS:-40000}" \
    --batch-size 8 --window 8 --lr "${LR:-3e-4}" --warmup-steps 100 --precision "$PRECISION" \
    --set visible_prefix_prob=0.5 --set hold_unchanged_tokens=true --set changed_token_weight=1 \
    --set context_stall_prob=0 --set context_rollout_prob=0 --checkpoint-every "${EVERY:-100}" \
    --keep-checkpoints 1000 --seed "${SEED:-0}" --no-progress "$@"
