#!/usr/bin/env bash
# Your own world model of any playable annotated game, from real play to a dream: collect episodes from the real
# emulator, train the tokenizer and a GenieRedux-G dynamics model on them, pack both into a world-model directory,
# evaluate it on held-out episodes (PSNR, SSIM, dPSNR, next to the repeated last frame; table + JSON + PNG grid) and
# play its dream next to the real game (GIF). GAME is SMB by default; `genie roms list --playable` lists the others.
#
#   bash examples/collect_and_train.sh                       # SMB, defaults below: ~25 min on 2 CPU cores
#   GAME=Kangaroo bash examples/collect_and_train.sh         # an Atari 2600 platformer -> runs/my_kangaroo
#   OUT=runs/big TOKENIZER_STEPS=3000 DYNAMICS_STEPS=3000 bash examples/collect_and_train.sh
#
# The dream is then GenieDream-<Game>-v0 in Python: genie_gym.envs.registration.register_dreams(OUT/world_model)
# registers it (for SMB this replaces the shipped GenieDream-SMB-v0 in that process), then gym.make it.
# Every step resumes: rerun the same command after an interruption and finished work is kept (the collection
# keeps its episodes, the trainings continue from their latest checkpoint, a finished training returns at once).
# The defaults give a blurry, working world model; the shipped one had hours of training (its MODEL_CARD.md).
# Under DDP, replace `$GENIE train` by `torchrun --nproc_per_node N -m genie_gym.trainers` with the same arguments.
set -euo pipefail

GENIE=${GENIE:-genie}               # e.g. "python -m genie_gym.cli" where the console script is not on PATH
GAME=${GAME:-SMB}                   # any game of `genie roms list --playable` (SMB, Kangaroo, Hero, Pitfall...)
OUT=${OUT:-runs/my_$(printf %s "$GAME" | tr '[:upper:]' '[:lower:]')}
AGENT=${AGENT:-right-biased}        # the training episodes' agent (genie collect --help lists them)
EPISODES=${EPISODES:-60}            # training episodes (right-biased play: the camera scrolls into the level)
TEST_EPISODES=${TEST_EPISODES:-6}   # held-out episodes (sticky-random play, other seeds)
MAX_STEPS=${MAX_STEPS:-200}         # agent steps per episode (frame skip 4)
WORKERS=${WORKERS:-2}
TOKENIZER_STEPS=${TOKENIZER_STEPS:-400}
DYNAMICS_STEPS=${DYNAMICS_STEPS:-400}
EVAL_SEQUENCES=${EVAL_SEQUENCES:-16}
PLAY_STEPS=${PLAY_STEPS:-80}
PLAY_ACTIONS=${PLAY_ACTIONS:-$(dirname "$0")/smb_demo_actions.txt}   # RIGHT runs and JUMPs: any platformer
THREADS=${THREADS:-2}

$GENIE collect --env "$GAME" --agent "$AGENT" --episodes "$EPISODES" --max-steps "$MAX_STEPS" \
    --workers "$WORKERS" --out "$OUT/data" --seed 0
$GENIE collect --env "$GAME" --agent sticky-random --episodes "$TEST_EPISODES" --max-steps "$MAX_STEPS" \
    --workers "$WORKERS" --out "$OUT/test" --seed 1000

$GENIE train tokenizer --config small --data "$OUT/data" --out "$OUT/tokenizer" --steps "$TOKENIZER_STEPS" \
    --batch-size 4 --window 4 --lr 4e-4 --warmup-steps 20 --threads "$THREADS" --no-progress --resume
$GENIE train dynamics --config small --data "$OUT/data" --tokenizer "$OUT/tokenizer" --out "$OUT/dynamics" \
    --steps "$DYNAMICS_STEPS" --batch-size 8 --window 8 --lr 4e-4 --warmup-steps 20 --threads "$THREADS" \
    --no-progress --resume

$GENIE world-model pack --tokenizer "$OUT/tokenizer" --dynamics "$OUT/dynamics" --games "$GAME" \
    --out "$OUT/world_model"
$GENIE eval --checkpoint "$OUT/world_model" --data "$OUT/test" --split all --max-sequences "$EVAL_SEQUENCES" \
    --maskgit-steps 8 --json "$OUT/eval.json" --grid "$OUT/eval.png"
SDL_VIDEODRIVER=${SDL_VIDEODRIVER:-dummy} $GENIE play "$OUT/world_model" --side-by-side --dream-from 12 \
    --actions "$PLAY_ACTIONS" --max-steps "$PLAY_STEPS" --scale 4 --record "$OUT/dream.gif"
echo "world model of $GAME: $OUT/world_model (play it: genie play $OUT/world_model); evaluation: $OUT/eval.json"
