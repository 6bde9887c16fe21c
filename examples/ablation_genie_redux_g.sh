#!/usr/bin/env bash
# The paper's Table 4 ablation on your machine: what do GenieRedux-G's token-input skip and TDCE loss add?
#
# Trains three dynamics models from scratch on the same data, tokenizer, seed and budget:
#   plain  GenieRedux-G without either (learned token embeddings only, plain cross-entropy)
#   skip   + token input (each visible token's codebook vector added to its embedding)
#   tdce   + TDCE loss (lambda 3): the full GenieRedux-G, the `small` config
# then evaluates each on held-out episodes (2 context -> 10 predicted frames, recorded actions, single pass; the
# full model also autoregressively, 2 frames at a time) and prints the table, with each model's PSNR difference to
# the plain one paired over the same sequences and sampling noise (mean ± standard error).
#
#   bash examples/ablation_genie_redux_g.sh      # defaults below (the shipped model's data and tokenizer)
#   STEPS=200 EVAL_SEQUENCES=8 OUT=runs/ablation_small bash examples/ablation_genie_redux_g.sh
#   SEED=1 VARIANTS="plain tdce" OUT=runs/ablation_seed1 bash examples/ablation_genie_redux_g.sh   # another seed
#
# Every step resumes: rerun the same command after an interruption and finished work is kept.
set -euo pipefail

GENIE=${GENIE:-genie}               # e.g. "python -m genie_gym.cli" where the console script is not on PATH
OUT=${OUT:-runs/ablation}
DATA=${DATA:-data/smb_mix}          # training episode store (its train split)
TEST=${TEST:-data/smb_test}         # held-out episode store (all of it)
TOKENIZER=${TOKENIZER:-checkpoints/genie-redux-g-smb/tokenizer}
STEPS=${STEPS:-1000}
BATCH_SIZE=${BATCH_SIZE:-8}
WINDOW=${WINDOW:-8}
LR=${LR:-5e-4}
WARMUP=${WARMUP:-50}
SEED=${SEED:-0}
EVAL_SEQUENCES=${EVAL_SEQUENCES:-40}
MASKGIT_STEPS=${MASKGIT_STEPS:-25}
THREADS=${THREADS:-2}
VARIANTS=${VARIANTS:-plain skip tdce}   # which of the three to train (the table compares each with plain)
FID_WEIGHTS=${FID_WEIGHTS:-.cache/fid/default_1.pt}   # FID too where this file exists (`make fid-weights`)
CONFIGS=$(cd "$(dirname "$0")/configs" && pwd)

declare -A CONFIG=([plain]="$CONFIGS/dynamics_small_plain.json" [skip]="$CONFIGS/dynamics_small_skip.json" [tdce]=small)

evaluate() {  # evaluate NAME MODE: world model $OUT/wm_NAME -> $OUT/eval_NAME[_ar].json (kept once written)
    local name=$1 mode=$2 json="$OUT/eval_$1.json"
    [ "$mode" = autoregressive ] && json="$OUT/eval_$1_ar.json"
    local fid=()
    [ -f "$FID_WEIGHTS" ] && fid=(--fid-weights "$FID_WEIGHTS")
    if [ ! -f "$json" ]; then
        $GENIE eval --checkpoint "$OUT/wm_$name" --data "$TEST" --split all --max-sequences "$EVAL_SEQUENCES" \
            --mode "$mode" --maskgit-steps "$MASKGIT_STEPS" --seed "$SEED" --json "$json.tmp" \
            --grid "${json%.json}.png" "${fid[@]}" >/dev/null
        mv "$json.tmp" "$json"
    fi
}

for name in $VARIANTS; do
    [ -n "${CONFIG[$name]:-}" ] || { echo "unknown variant '$name' in VARIANTS (use plain, skip, tdce)" >&2; exit 2; }
    $GENIE train dynamics --config "${CONFIG[$name]}" --data "$DATA" --tokenizer "$TOKENIZER" --out "$OUT/$name" \
        --steps "$STEPS" --batch-size "$BATCH_SIZE" --window "$WINDOW" --lr "$LR" --warmup-steps "$WARMUP" \
        --seed "$SEED" --threads "$THREADS" --no-progress --resume
    if [ ! -f "$OUT/wm_$name/dream.json" ]; then
        rm -rf "$OUT/wm_$name"
        $GENIE world-model pack --tokenizer "$TOKENIZER" --dynamics "$OUT/$name" --out "$OUT/wm_$name" >/dev/null
    fi
    evaluate "$name" single
done
case " $VARIANTS " in *" tdce "*) evaluate tdce autoregressive ;; esac

python3 - "$OUT" <<'PY'
import json, sys
from pathlib import Path

out = Path(sys.argv[1])
rows = [("GenieRedux-G, plain", "plain"), ("+ token input", "skip"), ("+ TDCE loss", "tdce"),
        ("autoregressive", "tdce_ar")]
evals = {key: json.loads((out / f"eval_{key}.json").read_text()) for _, key in rows
         if (out / f"eval_{key}.json").is_file()}
plain = evals.get("plain")
print(f"\nGenieRedux-G ablation ({out}), held-out sequences: {next(iter(evals.values()))['num_sequences']}")
print(f"{'model':<22}{'FID':>8}{'PSNR':>8}{'SSIM':>8}{'dPSNR':>8}  PSNR - plain (paired, ± s.e.)")
for label, key in rows:
    if key not in evals:
        continue
    e, paired = evals[key], ""
    if plain is not None and key != "plain":
        diffs = [a - b for a, b in zip(e["psnr_per_sequence"], plain["psnr_per_sequence"], strict=True)]
        mean = sum(diffs) / len(diffs)
        se = (sum((d - mean) ** 2 for d in diffs) / max(len(diffs) - 1, 1) / len(diffs)) ** 0.5
        paired = f"{mean:+.2f} ± {se:.2f}"
    fid = "-" if e.get("fid") is None else f"{e['fid']:.2f}"
    print(f"{label:<22}{fid:>8}{e['psnr']:>8.2f}{e['ssim']:>8.3f}{e['delta_psnr']:>8.2f}  {paired}")
PY
