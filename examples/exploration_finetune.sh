#!/usr/bin/env bash
# The paper's Table 5 at this machine's scale: does fine-tuning a world model on an explorer's data beat fine-tuning it
# on random play? (And the Table 6 direction: how wrong is the base model on each explorer's own episodes?)
#
#   1. A test set as the paper's: a PPO agent trained on the game's own reward in the real game (`--reward game`), its
#      episodes collected with epsilon-random actions mixed in so that every action appears. It is never used to
#      choose anything.
#   2. For each seed and each data source: random (no training), AutoExplore (`--agent paper --reward uncertainty`),
#      RF and VAE (the paper's versions on top of the world model: `--reward rf|vae`), every explorer trained in the
#      real game with the base world model as its reward. Each source collects the same episodes of the same length;
#      their train splits are then cut to the same number of frames (`summarize_finetune.py equal-frames`). From ONE
#      base world model each source fine-tunes the tokenizer's decoder, then the dynamics (the same steps, batch and
#      frames for every source), packs a world model and evaluates it on the test set (single pass and
#      autoregressive: PSNR, SSIM, dPSNR, FID where the Inception weights are, the repeated last frame copy_psnr and
#      psnr_gain_over_copy with its standard error).
#   3. The base world model evaluated on each source's own episodes (Tab. 6: higher error = more of what it gets wrong).
#   4. A summary (OUT/summary.md, OUT/summary.json): per source the mean over seeds +- standard error, and the paired
#      differences against random data (same seed) +- their standard error.
#
#   bash examples/exploration_finetune.sh                     # defaults below: a real run (days on 2 CPU cores)
#   TINY=1 OUT=/tmp/ft_tiny bash examples/exploration_finetune.sh   # every step at toy size (~8 min, 2 cores)
#   SEEDS="1 2 3 4 5" AGENT_TIMESTEPS=96000 OUT=runs/ft bash examples/exploration_finetune.sh
#
# Resumable: every step checks for the output it leaves (a result.json, a `.done` marker next to a store, the final
# training checkpoint, a packed dream.json, an evaluation JSON) and is skipped ("skip (done): ...") when it is there;
# interrupted steps continue (trainings from their latest checkpoint, collections keep their episodes). Change the
# sizes only with a new OUT: finished steps are not redone at another size.
set -euo pipefail
{ # the whole script is read before it runs: editing it during a run (hours) cannot change the run

EXAMPLES=$(cd "$(dirname "$0")" && pwd)
GENIE=${GENIE:-genie}               # e.g. "python -m genie_gym.cli" where the console script is not on PATH
PYTHON=${PYTHON:-python3}           # runs examples/summarize_finetune.py (needs genie_gym importable)
TINY=${TINY:-0}                     # 1: toy sizes for every variable left unset (the test's)

size() {  # size VAR REAL TINY: VAR keeps its value if set, else the real run's or the tiny run's default
    if [ -z "${!1:-}" ]; then
        if [ "$TINY" = 1 ]; then printf -v "$1" '%s' "$3"; else printf -v "$1" '%s' "$2"; fi
    fi
}
size OUT runs/exploration_finetune /tmp/exploration_finetune_tiny
size BASE "$EXAMPLES/../checkpoints/genie-redux-g-smb" "$EXAMPLES/../checkpoints/genie-redux-g-smb"  # world model
size SEEDS "1 2 3" "1"                # whole-pipeline repeats (agent, collection, fine-tune)
size SOURCES "random autoexplore rf vae" "random autoexplore rf vae"
size EXPLORER_AGENT paper paper       # the agent of all three explorers (paper: RecurrentPPO A.3; or ppo)
size AGENT_TIMESTEPS 16000 16         # real-game steps per explorer (10 rollouts; the paper: 480,000)
size AGENT_ENVS 8 2                   # explorer envs (real-game processes)
size AGENT_NSTEPS 200 8               # rollout length per env
size AGENT_EPISODE_STEPS 300 8        # an explorer's training episode is truncated after this many steps
size AGENT_EVAL_EVERY 5 1             # rollouts between the paper agent's best-policy evaluations
size AGENT_EVAL_EPISODES 4 1          # episodes per best-policy evaluation
size AGENT_BATCH 128 16               # paper agent minibatch
size AGENT_EPOCHS 16 1                # paper agent passes over each rollout
size REAL_RUNS 4 0                    # real-game runs reported in each explorer's result.json (camera x)
size TEST_AGENT_TIMESTEPS 100000 16   # PPO steps on the game's reward (the test-set agent)
size TEST_EPSILON 0.1 0.1             # epsilon-random actions of the test-set agent (training and collection)
size TEST_EPISODES 40 2               # test-set episodes
size EPISODES 40 2                    # episodes per data source and seed
size MAX_STEPS 300 40                 # steps per collected episode (test set and sources)
size TOKENIZER_STEPS 500 2            # decoder fine-tune steps (the paper: 1,000)
size TOKENIZER_BATCH 8 2
size TOKENIZER_WINDOW 4 4
size DYNAMICS_STEPS 1000 2            # dynamics fine-tune steps (the paper: 10,000 of batch 160)
size DYNAMICS_BATCH 8 2
size DYNAMICS_WINDOW 8 8
size LR 1e-4 1e-4
size EVAL_SEQUENCES 300 2             # test sequences (the paper: >= 300)
size EVAL_MASKGIT_STEPS 8 1           # MaskGIT steps per decode in `genie eval` (the protocol's 25; the dream's 8)
size EVAL_MODES "single autoregressive" "single autoregressive"
size FID_WEIGHTS "$EXAMPLES/../.cache/fid/default_1.pt" ""   # FID where this file is (make fid-weights); "" none
size WORKERS 2 1
size THREADS 2 1
size CHECKPOINT_EVERY 250 1000

mkdir -p "$OUT"
log() { echo "[$(date -u +%H:%M:%S)] $*"; }
skip() { log "skip (done): $*"; }
FID_ARGS=()
if [ -n "$FID_WEIGHTS" ] && [ -f "$FID_WEIGHTS" ]; then FID_ARGS=(--fid-weights "$FID_WEIGHTS"); fi
for source in $SOURCES; do
    case $source in random | autoexplore | rf | vae) ;;
        *) echo "unknown data source '$source' in SOURCES (random, autoexplore, rf, vae)" >&2; exit 2 ;;
    esac
done
case " $SOURCES " in *" random "*) ;; *) echo "SOURCES must include random (the reference)" >&2; exit 2 ;; esac
[ -f "$BASE/dream.json" ] || { echo "BASE=$BASE is not a world-model directory (no dream.json)" >&2; exit 2; }
BASE=$(cd "$BASE" && pwd)
if [ ! -f "$OUT/base.txt" ]; then  # the fine-tuned models keep the base model's dream settings
    cp "$BASE/dream.json" "$OUT/base_dream.json"
    echo "$BASE" >"$OUT/base.txt"
elif [ "$(cat "$OUT/base.txt")" != "$BASE" ]; then
    echo "$OUT was started from the base world model $(cat "$OUT/base.txt"), not BASE=$BASE: pass another OUT" >&2
    exit 2
fi

collect() {  # collect STORE SEED AGENT_ARGS...: a store, marked done once complete
    local store=$1 seed=$2
    shift 2
    if [ -f "$store.done" ]; then skip "$store"; return; fi
    log "collect $store"
    $GENIE collect --env SMB "$@" --episodes "$EPISODES" --max-steps "$MAX_STEPS" --workers "$WORKERS" \
        --out "$store" --seed "$seed" --no-progress
    touch "$store.done"
}

evaluate() {  # evaluate CHECKPOINT DATA MODE JSON
    local checkpoint=$1 data=$2 mode=$3 json=$4
    if [ -f "$json" ]; then skip "$json"; return; fi
    log "eval $checkpoint on $data ($mode)"
    $GENIE eval --checkpoint "$checkpoint" --data "$data" --split all --mode "$mode" --max-sequences "$EVAL_SEQUENCES" \
        --maskgit-steps "$EVAL_MASKGIT_STEPS" "${FID_ARGS[@]}" --json "$json.tmp" >"$json.log"
    mv "$json.tmp" "$json"
}

final_checkpoint() { printf '%s/checkpoints/step_%07d' "$1" "$2"; }

# 1. the test set: a game-reward agent with epsilon-random actions
if [ -f "$OUT/test_agent/result.json" ]; then skip "$OUT/test_agent"; else
    log "train the test-set agent (game reward, epsilon $TEST_EPSILON)"
    $GENIE explore --agent ppo --env SMB --reward game --epsilon "$TEST_EPSILON" --timesteps "$TEST_AGENT_TIMESTEPS" \
        --num-envs "$AGENT_ENVS" --episode-steps "$MAX_STEPS" --eval-episodes "$REAL_RUNS" --eval-steps "$MAX_STEPS" \
        --seed 500 --threads "$THREADS" --out "$OUT/test_agent"
fi
EPISODES=$TEST_EPISODES collect "$OUT/test" 900000 --agent policy --policy "$OUT/test_agent" --epsilon "$TEST_EPSILON"
for mode in $EVAL_MODES; do
    evaluate "$BASE" "$OUT/test" "$mode" "$OUT/eval_base_$mode.json"  # the base model before any fine-tune
done

for seed in $SEEDS; do
    run=$OUT/seed_$seed
    mkdir -p "$run"
    # 2a. the explorers and their data
    for source in $SOURCES; do
        collect_seed=$((100000 + 1000 * seed))  # the same env seeds for every source of a seed
        if [ "$source" = random ]; then
            collect "$run/data_random" "$collect_seed" --agent random
            continue
        fi
        reward=$source
        [ "$source" = autoexplore ] && reward=uncertainty
        agent=$run/agent_$source
        if [ -f "$agent/result.json" ]; then skip "$agent"; else
            log "train the $source explorer ($EXPLORER_AGENT agent, $reward reward, seed $seed)"
            paper_args=()
            if [ "$EXPLORER_AGENT" = paper ]; then
                paper_args=(--eval-every "$AGENT_EVAL_EVERY" --eval-return-episodes "$AGENT_EVAL_EPISODES"
                            --batch-size "$AGENT_BATCH" --n-epochs "$AGENT_EPOCHS")
            fi
            $GENIE explore --agent "$EXPLORER_AGENT" --env SMB --reward "$reward" --world-model "$BASE" \
                --timesteps "$AGENT_TIMESTEPS" --num-envs "$AGENT_ENVS" --n-steps "$AGENT_NSTEPS" \
                --episode-steps "$AGENT_EPISODE_STEPS" --eval-episodes "$REAL_RUNS" --eval-steps "$MAX_STEPS" \
                --seed "$seed" --threads "$THREADS" "${paper_args[@]}" --out "$agent"
        fi
        policy=$agent
        [ -f "$agent/best_policy.safetensors" ] && policy=$agent/best_policy.safetensors  # the paper: best return
        collect "$run/data_$source" "$collect_seed" --agent policy --policy "$policy"
    done
    # 2b. the same number of training frames for every source
    stores=()
    for source in $SOURCES; do stores+=("$run/data_$source"); done
    if [ -f "$run/frames.json" ]; then skip "$run/frames.json"; else
        log "cut the train splits to the same number of frames"
        $PYTHON "$EXAMPLES/summarize_finetune.py" equal-frames --out "$run" "${stores[@]}"
    fi
    # 2c. fine-tune from the base model: decoder, then dynamics; pack; evaluate on the test set
    for source in $SOURCES; do
        train=$run/train_$source tokenizer=$run/tokenizer_$source dynamics=$run/dynamics_$source
        if [ -d "$(final_checkpoint "$tokenizer" "$TOKENIZER_STEPS")" ]; then skip "$tokenizer"; else
            log "fine-tune the decoder on $source (seed $seed)"
            $GENIE train tokenizer --init "$BASE/tokenizer" --decoder-only --decoder-held-ids --data "$train" \
                --out "$tokenizer" --steps "$TOKENIZER_STEPS" --batch-size "$TOKENIZER_BATCH" \
                --window "$TOKENIZER_WINDOW" --lr "$LR" --warmup-steps $((TOKENIZER_STEPS / 10)) --seed "$seed" \
                --checkpoint-every "$CHECKPOINT_EVERY" --keep-checkpoints 1 --image-every 0 --threads "$THREADS" \
                --no-progress --resume
        fi
        if [ -d "$(final_checkpoint "$dynamics" "$DYNAMICS_STEPS")" ]; then skip "$dynamics"; else
            log "fine-tune the dynamics on $source (seed $seed)"
            $GENIE train dynamics --init "$BASE/dynamics" --tokenizer "$tokenizer" --data "$train" --out "$dynamics" \
                --steps "$DYNAMICS_STEPS" --batch-size "$DYNAMICS_BATCH" --window "$DYNAMICS_WINDOW" --lr "$LR" \
                --warmup-steps $((DYNAMICS_STEPS / 10)) --seed "$seed" --checkpoint-every "$CHECKPOINT_EVERY" \
                --keep-checkpoints 1 --image-every 0 --threads "$THREADS" --no-progress --resume
        fi
        if [ -f "$run/wm_$source/dream.json" ]; then skip "$run/wm_$source"; else
            $GENIE world-model pack --tokenizer "$tokenizer" --dynamics "$dynamics" --out "$run/wm_$source.tmp" \
                --settings "$OUT/base_dream.json"
            rm -rf "$run/wm_$source"
            mv "$run/wm_$source.tmp" "$run/wm_$source"
        fi
        for mode in $EVAL_MODES; do
            evaluate "$run/wm_$source" "$OUT/test" "$mode" "$run/eval_${source}_$mode.json"
        done
    done
    # 3. Tab. 6 direction: the base model on each source's own episodes
    for source in $SOURCES; do
        evaluate "$BASE" "$run/data_$source" single "$run/base_on_$source.json"
    done
done

# 4. the summary
$PYTHON "$EXAMPLES/summarize_finetune.py" summary "$OUT" --seeds $SEEDS --sources $SOURCES --modes $EVAL_MODES
exit
}
