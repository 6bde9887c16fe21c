#!/usr/bin/env bash
# The paper's pretrain -> fine-tune claim at this machine's scale: does a world model pretrained on many platformers,
# then fine-tuned on SMB 1-1, beat the same architecture trained on SMB 1-1 alone for the same fine-tuning steps?
#
#   1. Data (real emulators; every store has its own seed, so no episode is in two stores):
#      pretraining: SMB's start states other than 1-1 (`genie collect --states`) and the platformer-labelled Atari
#      games (`genie roms list --group platformers --playable`), each played by every agent of AGENTS (random and
#      sticky-random), mixed into one store (`genie data mix`);
#      fine-tuning: SMB 1-1, the same agents;
#      held-out test sets (sticky-random play, seeds used nowhere else): SMB 1-1, SMB's other levels, and
#      HELD_OUT_GAME, a platformer left out of pretraining.
#   2. Pretrain one tokenizer and one GenieRedux-G dynamics model (`--config $CONFIG`) on the multi-game store
#      (`genie train ... --games SMB,<Atari games>`).
#   3. Fine-tune on SMB 1-1 (`--init` from the pretrained runs): the tokenizer's decoder (`--decoder-only`, so the
#      token ids, and the pretrained dynamics that reads them, stay valid), then the whole dynamics model. From scratch:
#      the same architecture, a tokenizer and a dynamics model trained on the same SMB 1-1 store for the same steps,
#      batch, window, learning rate and seed.
#   4. Pack both (`genie world-model pack`) and evaluate both on every test set (`genie eval --json`: PSNR +- standard
#      error over sequences, the repeated last frame, per-sequence PSNRs; the same sequences and seed for both).
#   5. The summary (OUT/summary.md, OUT/summary.json, printed): per test set the two models' PSNR, the repeated
#      frame's, and the fine-tuned - scratch difference paired per sequence +- its standard error
#      (examples/summarize_pretrain_finetune.py).
#
#   bash examples/pretrain_finetune.sh                          # defaults below: ~4-5 h on 2 idle CPU cores
#   TINY=1 OUT=/tmp/pf_tiny bash examples/pretrain_finetune.sh  # every step at toy size (~75 s of CPU, 2 at a time)
#   PRETRAIN_DYNAMICS_STEPS=8000 FINETUNE_DYNAMICS_STEPS=1000 OUT=runs/pf_big bash examples/pretrain_finetune.sh
#
# The defaults' cost, measured single-threaded on the 2-core VM (2026-12-07): a tokenizer step 0.86 s of CPU, a
# dynamics step 2.6 s, a test sequence of `genie eval` 3.4 s; with collection and token caching ~6.6 CPU-hours in
# all (training ~4 h, evaluation ~1.7 h), so ~4-5 h with THREADS=2 on 2 otherwise idle cores. JOBS=2 runs
# independent steps two at a time (the from-scratch chain next to the pretraining one, the evaluations): with
# THREADS=1 on 2 cores.
#
# Resumable: every step checks for the output it leaves (a `.done` marker next to a store, a mixed store, the final
# training checkpoint, a packed dream.json, an evaluation JSON) and is skipped ("skip (done): ...") when it is there;
# interrupted steps continue (trainings from their latest checkpoint, collections keep their episodes). The sizes are
# written to OUT/sizes.txt at the first run: a rerun with other sizes stops with an error (use a new OUT).
set -euo pipefail
{ # the whole script is read before it runs: editing it during a run (hours) cannot change the run

EXAMPLES=$(cd "$(dirname "$0")" && pwd)
GENIE=${GENIE:-genie}               # e.g. "python -m genie_gym.cli" where the console script is not on PATH
PYTHON=${PYTHON:-python3}           # runs examples/summarize_pretrain_finetune.py
TINY=${TINY:-0}                     # 1: toy sizes for every variable left unset (the test's)

size() {  # size VAR REAL TINY: VAR keeps its value if set, else the real run's or the tiny run's default
    if [ -z "${!1:-}" ]; then
        if [ "$TINY" = 1 ]; then printf -v "$1" '%s' "$3"; else printf -v "$1" '%s' "$2"; fi
    fi
}
size OUT runs/pretrain_finetune /tmp/pretrain_finetune_tiny
size CONFIG small small               # tokenizer and dynamics architecture (small, paper or a JSON file)
size PRETRAIN_GAMES "CrazyClimber,ElevatorAction,Frostbite,Hero,MontezumaRevenge" "Hero"   # besides SMB
size HELD_OUT_GAME Kangaroo Kangaroo  # a platformer left out of pretraining (a test set only)
SMB_LEVELS=Level1-4,Level2-1,Level2-1-clouds,Level2-1-clouds-easy,Level3-1,Level4-1,Level5-1,Level6-1,Level7-1,Level8-1
size SMB_PRETRAIN_STATES "$SMB_LEVELS" "Level2-1,Level3-1"   # SMB's 12 start states but Level1-1(-99lives)
size SMB_TEST_STATES "$SMB_PRETRAIN_STATES" "Level2-1,Level3-1"   # the "other SMB levels" test set
size AGENTS "random sticky-random" "random sticky-random"   # the agents of the pretraining and fine-tuning data
size TEST_AGENT sticky-random sticky-random
size SMB_PRETRAIN_EPISODES 60 2       # per agent, spread over SMB_PRETRAIN_STATES in turn
size ATARI_EPISODES 20 1              # per agent and Atari game
size FINETUNE_EPISODES 30 1           # SMB 1-1, per agent
size TEST_EPISODES 40 1               # per test set (a 300-step episode: up to 15 sequences of 12 frames)
size MAX_STEPS 300 32                 # agent steps per episode (frame skip 4), every store
size PRETRAIN_TOKENIZER_STEPS 3000 2
size PRETRAIN_DYNAMICS_STEPS 3000 2
size FINETUNE_TOKENIZER_STEPS 600 2   # fine-tune, and the from-scratch run, alike
size FINETUNE_DYNAMICS_STEPS 600 2
size TOKENIZER_BATCH 4 2
size TOKENIZER_WINDOW 4 2
size DYNAMICS_BATCH 8 2
size DYNAMICS_WINDOW 8 4
size LR 4e-4 4e-4                     # pretraining and from scratch
size FINETUNE_LR "$LR" "$LR"          # fine-tuning
size SEED 0 0                         # training seed (the same for the fine-tuned and the scratch run)
size EVAL_SEQUENCES 300 2             # test sequences per test set (the paper: >= 300)
size EVAL_MASKGIT_STEPS 8 1           # MaskGIT steps per decode in `genie eval` (the protocol's 25; the dream's 8)
size EVAL_MODES single single         # single and/or autoregressive
size EVAL_SEED 0 0
size JOBS 1 2                         # steps run at once (collections, the two trainings, evaluations)
size WORKERS 2 0                      # collection subprocesses (0: in the collecting process)
size THREADS 2 1
size CHECKPOINT_EVERY 500 1000

mkdir -p "$OUT"
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
skip() { log "skip (done): $*"; }
for agent in $AGENTS $TEST_AGENT; do
    case $agent in random | sticky-random | right-biased | run-stop | runner) ;;
        *) echo "unknown agent '$agent' in AGENTS/TEST_AGENT (random, sticky-random, right-biased, run-stop," \
                "runner)" >&2; exit 2 ;;
    esac
done
for mode in $EVAL_MODES; do
    case $mode in single | autoregressive) ;;
        *) echo "unknown mode '$mode' in EVAL_MODES (single, autoregressive)" >&2; exit 2 ;;
    esac
done
case ",$PRETRAIN_GAMES," in
    *",$HELD_OUT_GAME,"*) echo "HELD_OUT_GAME=$HELD_OUT_GAME is in PRETRAIN_GAMES: it must be left out" >&2; exit 2 ;;
    *",SMB,"*) echo "PRETRAIN_GAMES lists the Atari games only (SMB joins with SMB_PRETRAIN_STATES)" >&2; exit 2 ;;
esac
[ "$HELD_OUT_GAME" != SMB ] || { echo "HELD_OUT_GAME must be another game than SMB" >&2; exit 2; }
case ",$SMB_PRETRAIN_STATES," in *",Level1-1"*)
    echo "SMB_PRETRAIN_STATES must leave out Level1-1 (the fine-tuning level): $SMB_PRETRAIN_STATES" >&2; exit 2 ;;
esac

# the sizes of this OUT: a rerun with others would mix two experiments
sizes=$(for var in CONFIG PRETRAIN_GAMES HELD_OUT_GAME SMB_PRETRAIN_STATES SMB_TEST_STATES AGENTS TEST_AGENT \
        SMB_PRETRAIN_EPISODES ATARI_EPISODES FINETUNE_EPISODES TEST_EPISODES MAX_STEPS PRETRAIN_TOKENIZER_STEPS \
        PRETRAIN_DYNAMICS_STEPS FINETUNE_TOKENIZER_STEPS FINETUNE_DYNAMICS_STEPS TOKENIZER_BATCH TOKENIZER_WINDOW \
        DYNAMICS_BATCH DYNAMICS_WINDOW LR FINETUNE_LR SEED EVAL_SEQUENCES EVAL_MASKGIT_STEPS EVAL_MODES EVAL_SEED; do
    echo "$var=${!var}"; done)
if [ ! -f "$OUT/sizes.txt" ]; then
    echo "$sizes" >"$OUT/sizes.txt"
elif [ "$(cat "$OUT/sizes.txt")" != "$sizes" ]; then
    echo "$OUT was started with other sizes; pass another OUT, or the same sizes. Differences (<: $OUT/sizes.txt):" >&2
    diff <(cat "$OUT/sizes.txt") <(echo "$sizes") >&2 || true
    exit 2
fi

collect() {  # collect STORE SEED EPISODES ARGS...: a store, marked done once complete
    local store=$1 seed=$2 episodes=$3
    shift 3
    if [ -f "$store.done" ]; then skip "$store"; return; fi
    log "collect $store"
    $GENIE collect "$@" --episodes "$episodes" --max-steps "$MAX_STEPS" --workers "$WORKERS" --out "$store" \
        --seed "$seed" --no-progress
    touch "$store.done"
}

mix() {  # mix STORE SOURCES...: one store linking the episodes of SOURCES (`genie data mix`), made once
    local store=$1
    shift
    if [ -d "$store" ]; then skip "$store"; return; fi
    log "mix $store"
    rm -rf "$store.tmp"
    $GENIE data mix --out "$store.tmp" "$@"
    mv "$store.tmp" "$store"
}

jobs_running=()
spawn() {  # spawn COMMAND...: run it now (JOBS 1), or in the background, JOBS at a time; `join` waits for all
    if [ "$JOBS" -le 1 ]; then "$@"; return; fi
    "$@" &
    jobs_running+=($!)
    if [ "${#jobs_running[@]}" -ge "$JOBS" ]; then join; fi
}
join() {  # wait for the spawned steps; stop if one failed (its error is above)
    local pid failed=0
    for pid in "${jobs_running[@]}"; do wait "$pid" || failed=1; done
    jobs_running=()
    if [ "$failed" = 1 ]; then echo "a step failed (its error is above); rerun to continue" >&2; exit 1; fi
}

final_checkpoint() { printf '%s/checkpoints/step_%07d' "$1" "$2"; }

train() {  # train KIND RUN STEPS LR ARGS...: a training run, skipped once its final checkpoint is there
    local kind=$1 run=$2 steps=$3 lr=$4 batch=$TOKENIZER_BATCH window=$TOKENIZER_WINDOW
    shift 4
    if [ -d "$(final_checkpoint "$run" "$steps")" ]; then skip "$run"; return; fi
    log "train $kind $run"
    if [ "$kind" = dynamics ]; then batch=$DYNAMICS_BATCH window=$DYNAMICS_WINDOW; fi
    $GENIE train "$kind" "$@" --out "$run" --steps "$steps" --batch-size "$batch" --window "$window" --lr "$lr" \
        --warmup-steps $((steps / 10)) --seed "$SEED" --checkpoint-every "$CHECKPOINT_EVERY" --keep-checkpoints 1 \
        --image-every 0 --threads "$THREADS" --no-progress --resume
}

pack() {  # pack NAME: OUT/tokenizer_NAME + OUT/dynamics_NAME -> the world model OUT/wm_NAME (SMB's dream)
    local name=$1
    if [ -f "$OUT/wm_$name/dream.json" ]; then skip "$OUT/wm_$name"; return; fi
    log "pack $OUT/wm_$name"
    rm -rf "$OUT/wm_$name.tmp"
    $GENIE world-model pack --tokenizer "$OUT/tokenizer_$name" --dynamics "$OUT/dynamics_$name" --games SMB \
        --out "$OUT/wm_$name.tmp"
    rm -rf "$OUT/wm_$name"
    mv "$OUT/wm_$name.tmp" "$OUT/wm_$name"
}

evaluate() {  # evaluate MODEL SET GAME MODE: OUT/wm_MODEL on the test store OUT/data/test_SET (GAME's episodes)
    local model=$1 set=$2 game=$3 mode=$4 json="$OUT/eval/$1_$2_$4.json"
    if [ -f "$json" ]; then skip "$json"; return; fi
    log "eval $OUT/wm_$model on $set ($mode)"
    mkdir -p "$OUT/eval"
    $GENIE eval --checkpoint "$OUT/wm_$model" --data "$OUT/data/test_$set" --games "$game" --split all \
        --mode "$mode" --max-sequences "$EVAL_SEQUENCES" --maskgit-steps "$EVAL_MASKGIT_STEPS" --seed "$EVAL_SEED" \
        --json "$json.tmp" >"${json%.json}.log"
    mv "$json.tmp" "$json"
}

# 1. data: pretraining (SMB's other levels + Atari platformers, every agent), fine-tuning (SMB 1-1), test sets
data=$OUT/data
mkdir -p "$data"
pretrain_stores=() finetune_stores=()
i=0
for agent in $AGENTS; do
    i=$((i + 1))
    spawn collect "$data/pretrain_smb_$agent" $((1000 + i)) "$SMB_PRETRAIN_EPISODES" --env SMB \
        --states "$SMB_PRETRAIN_STATES" --agent "$agent"
    spawn collect "$data/pretrain_atari_$agent" $((2000 + i)) "$ATARI_EPISODES" --env "$PRETRAIN_GAMES" \
        --agent "$agent"
    spawn collect "$data/finetune_$agent" $((3000 + i)) "$FINETUNE_EPISODES" --env SMB --states Level1-1 \
        --agent "$agent"
    pretrain_stores+=("$data/pretrain_smb_$agent" "$data/pretrain_atari_$agent")
    finetune_stores+=("$data/finetune_$agent")
done
spawn collect "$data/test_smb_1-1" 900001 "$TEST_EPISODES" --env SMB --states Level1-1 --agent "$TEST_AGENT"
spawn collect "$data/test_smb_levels" 900002 "$TEST_EPISODES" --env SMB --states "$SMB_TEST_STATES" \
    --agent "$TEST_AGENT"
spawn collect "$data/test_held_out" 900003 "$TEST_EPISODES" --env "$HELD_OUT_GAME" --agent "$TEST_AGENT"
join
spawn mix "$data/pretrain" "${pretrain_stores[@]}"
spawn mix "$data/finetune" "${finetune_stores[@]}"
join

# 2. pretraining on every pretraining game, then fine-tuning on SMB 1-1 (the tokenizer's decoder, the dynamics)
pretrained_then_finetuned() {
    train tokenizer "$OUT/tokenizer_pretrained" "$PRETRAIN_TOKENIZER_STEPS" "$LR" --config "$CONFIG" \
        --data "$data/pretrain" --games "SMB,$PRETRAIN_GAMES"
    train dynamics "$OUT/dynamics_pretrained" "$PRETRAIN_DYNAMICS_STEPS" "$LR" --config "$CONFIG" \
        --data "$data/pretrain" --games "SMB,$PRETRAIN_GAMES" --tokenizer "$OUT/tokenizer_pretrained"
    train tokenizer "$OUT/tokenizer_finetuned" "$FINETUNE_TOKENIZER_STEPS" "$FINETUNE_LR" --data "$data/finetune" \
        --init "$OUT/tokenizer_pretrained" --decoder-only
    train dynamics "$OUT/dynamics_finetuned" "$FINETUNE_DYNAMICS_STEPS" "$FINETUNE_LR" --data "$data/finetune" \
        --init "$OUT/dynamics_pretrained" --tokenizer "$OUT/tokenizer_finetuned"
    pack finetuned
}
# 3. the same architecture from scratch on SMB 1-1, for the same steps
from_scratch() {
    train tokenizer "$OUT/tokenizer_scratch" "$FINETUNE_TOKENIZER_STEPS" "$LR" --config "$CONFIG" \
        --data "$data/finetune"
    train dynamics "$OUT/dynamics_scratch" "$FINETUNE_DYNAMICS_STEPS" "$LR" --config "$CONFIG" \
        --data "$data/finetune" --tokenizer "$OUT/tokenizer_scratch"
    pack scratch
}
spawn pretrained_then_finetuned
spawn from_scratch
join

# 4. both evaluated on every test set
for model in finetuned scratch; do
    for mode in $EVAL_MODES; do
        spawn evaluate "$model" smb_1-1 SMB "$mode"
        spawn evaluate "$model" smb_levels SMB "$mode"
        spawn evaluate "$model" held_out "$HELD_OUT_GAME" "$mode"
    done
done
join

# 5. the summary
$PYTHON "$EXAMPLES/summarize_pretrain_finetune.py" "$OUT" --modes $EVAL_MODES \
    --set smb_1-1 "SMB 1-1 (held-out play)" \
    --set smb_levels "SMB, $(tr ',' '\n' <<<"$SMB_TEST_STATES" | wc -l) other start states (held-out play)" \
    --set held_out "$HELD_OUT_GAME (left out of pretraining)"
exit
}
