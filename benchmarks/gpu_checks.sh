#!/usr/bin/env bash
# The GPU checks of genie-gym, as one prepared script for a lent CUDA machine (no registry, no emulator there).
#
#   bash benchmarks/gpu_checks.sh prepare        # here (CPU, emulator installed): writes .devdata/ and .whl/
#   bash benchmarks/gpu_checks.sh run OUT_DIR    # there: tests, benchmarks, DDP over nccl, GPU training runs
#   bash benchmarks/gpu_checks.sh restore FILES  # here: the returned files -> runs/gpu_small, runs/gpu_wide
#
# `GPU_STORE=data/smb_act bash benchmarks/gpu_checks.sh prepare` packs another training store (default data/smb_mix);
# INIT_SMALL / INIT_WIDE name the weights the two GPU runs continue (the world-model campaign:
# `GPU_STORE=data/train_s29 INIT_SMALL=campaign/weights/d128_shipped INIT_WIDE=campaign/weights/d192`, see
# docs/WORLD_MODEL_CAMPAIGN.md); their configs, hold_unchanged_tokens included, come with the weights.
# `prepare` packs what the GPU machine lacks: the gymnasium wheel (genie_gym imports it), 64 real SMB contexts
# from the emulator for the dream benchmark and the CUDA tests, and the training store without its frames
# (episode metadata, actions and the tokens of the shipped tokenizer; the dynamics trains on the tokens only).
# `run` rebuilds that store with placeholder frames.npy files (sparse, never read: every token is cached) and
# writes every log and the trained checkpoints (model weights + config, no optimizer state) to OUT_DIR.
# Budget: ~10 minutes of the device's time (GPU_TRAIN_SECONDS=300 of training; 240 leaves room for a slow start);
# each part has its own timeout, so one failure leaves the rest. GPU_DEVICE=cpu runs the same steps on a CPU (a dry run of the script).
set -u
here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"

prepare() {
    set -e
    py=.venv/bin/python
    local store="${GPU_STORE:-data/smb_mix}"  # e.g. GPU_STORE=data/smb_act (see the model card)
    if [ ! -d "$store/SMB" ]; then
        echo "no training store $store: collect it as checkpoints/genie-redux-g-smb/MODEL_CARD.md says" >&2
        exit 1
    fi
    mkdir -p .devdata/init_small .whl
    # the tokens of the shipped tokenizer, cached next to the store (a 1-step CPU run builds what is missing)
    "$py" -m genie_gym.trainers dynamics --data "$store" --tokenizer checkpoints/genie-redux-g-smb/tokenizer \
        --out "$(mktemp -d)/cache_build" --steps 1 --batch-size 1 --window 8 --image-every 0 --no-progress
    "$py" -m benchmarks.dream_fps --save-context .devdata/context.npz --batch 64
    GPU_STORE="$store" "$py" - <<'EOF2'
import os
import tarfile
from pathlib import Path

root = Path(os.environ["GPU_STORE"])  # packed under the name smb_mix whatever its name here
with tarfile.open(".devdata/smb_mix.tar.gz", "w:gz") as tar:
    for episode in sorted((root / "SMB").iterdir()):
        for name in ("meta.json", "actions.npy"):
            tar.add(os.path.realpath(episode / name), arcname=f"smb_mix/SMB/{episode.name}/{name}")
    tar.add(str(root / ".tokens"), arcname="smb_mix/.tokens")
EOF2
    # the dynamics to continue training from: the shipped one (fp16 weights, trained on in fp32), or INIT_SMALL
    cp "${INIT_SMALL:-checkpoints/genie-redux-g-smb/dynamics}"/{config.json,model.safetensors} .devdata/init_small/
    # the wider model: from scratch (examples/configs/dynamics_d256.json), or continued from INIT_WIDE
    rm -rf .devdata/init_wide
    if [ -n "${INIT_WIDE:-}" ]; then
        mkdir -p .devdata/init_wide && cp "$INIT_WIDE"/{config.json,model.safetensors} .devdata/init_wide/
    fi
    "$py" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl \
        "gymnasium==$("$py" -c 'import gymnasium; print(gymnasium.__version__)')" farama-notifications
    du -sh .devdata .whl
}

run() {
    out="${1:?give the output directory}"
    mkdir -p "$out"
    local device="${GPU_DEVICE:-cuda}" log="$out/log.txt"
    export PYTHONUNBUFFERED=1 GENIE_GYM_REAL_CONTEXTS="$here/.devdata/context.npz" GENIE_GYM_TEST_DEVICE="$device"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
    export PYTHONPATH="$here:/tmp/site"
    {
        date -u
        nvidia-smi -L
        python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.is_available())"
    } 2>&1 | tee -a "$log"

    # The training store: metadata, actions, cached tokens; placeholder frames (sparse, never read).
    rm -rf /tmp/genie_data && mkdir -p /tmp/genie_data && tar -xzf .devdata/smb_mix.tar.gz -C /tmp/genie_data
    python3 - <<'EOF2'
import json
from pathlib import Path

import numpy as np

for meta in Path("/tmp/genie_data/smb_mix/SMB").glob("ep_*/meta.json"):
    length = json.loads(meta.read_text())["length"]
    np.lib.format.open_memmap(meta.parent / "frames.npy", mode="w+", dtype=np.uint8, shape=(length, 64, 64, 3))
EOF2
    local store=/tmp/genie_data/smb_mix tokenizer=checkpoints/genie-redux-g-smb/tokenizer
    local train=(python3 -m genie_gym.trainers dynamics --data "$store" --tokenizer "$tokenizer" --window "${GPU_WINDOW:-8}" --no-progress)  # GPU_WINDOW=16: the campaign's d128_w16 clips

    # 1. Size the training runs: the step time of each config at its batch, measured alone.
    echo "== train_throughput (the two configs trained below)" | tee -a "$log"
    timeout 90 python3 benchmarks/train_throughput.py --device "$device" --models dynamics --batch-size 64 \
        --window "${GPU_WINDOW:-8}" --steps 10 --warmup 3 --configs small examples/configs/dynamics_d256.json \
        --json /tmp/calibration.json 2>&1 | tee -a "$log"

    # 2. Two trainings side by side until the deadline (SIGINT writes a checkpoint): the shipped dynamics
    #    continued at batch 64, and a wider model (d256, 6 blocks) from scratch. Steps: what the measured step
    #    time allows at a bit under half speed each (they share the GPU with each other and the tests).
    local seconds="${GPU_TRAIN_SECONDS:-300}"
    read -r small_steps wide_steps < <(python3 - "$seconds" <<'EOF2'
import json
import sys

seconds = float(sys.argv[1])
try:
    rows = json.load(open("/tmp/calibration.json"))["rows"]
    print(*(max(50, int((seconds - 40) * 0.45 / row["step_s"])) for row in rows))
except (OSError, KeyError, ValueError):
    print(2000, 1000)
EOF2
)
    echo "== training: small continued $small_steps steps, d256 from scratch $wide_steps steps, ${seconds}s" \
        | tee -a "$log"
    timeout -s INT "$seconds" "${train[@]}" --device "$device" --init .devdata/init_small --out /tmp/run_small \
        --batch-size 64 --lr 4e-4 --warmup-steps 100 --min-lr-ratio 0.1 --steps "$small_steps" --log-every 50 \
        --image-every 500 --checkpoint-every 500 > "$out/train_small.txt" 2>&1 &
    local small=$!
    local wide_start=(--config examples/configs/dynamics_d256.json --set visible_prefix_prob=0.5)
    [ -d .devdata/init_wide ] && wide_start=(--init .devdata/init_wide)
    timeout -s INT "$seconds" "${train[@]}" --device "$device" "${wide_start[@]}" --out /tmp/run_wide --batch-size 64 --lr 5e-4 --warmup-steps 200 \
        --min-lr-ratio 0.1 --steps "$wide_steps" --log-every 50 --image-every 500 --checkpoint-every 500 \
        > "$out/train_wide.txt" 2>&1 &
    local wide=$!

    # 3. Meanwhile (no timings): the CUDA tests, and DDP under torchrun (a process group of one: nccl on a GPU).
    echo "== tests/test_cuda.py tests/test_step_profile.py" | tee -a "$log"
    timeout "${GPU_TEST_SECONDS:-150}" python3 -m pytest -q -s -p no:cacheprovider tests/test_cuda.py \
        tests/test_step_profile.py 2>&1 \
        | tail -25 | tee -a "$log"
    echo "== torchrun (DDP, process group of one)" | tee -a "$log"
    timeout 90 torchrun --standalone --nproc_per_node 1 -m genie_gym.trainers dynamics --data "$store" \
        --tokenizer "$tokenizer" --window 8 --no-progress --device "$device" --out /tmp/ddp_run --batch-size 32 \
        --steps 30 --log-every 10 --image-every 0 --checkpoint-every 30 2>&1 | tail -4 | tee -a "$log"
    tail -3 /tmp/ddp_run/metrics.jsonl 2>&1 | tee -a "$log"

    wait "$small" "$wide"
    # What comes back from the machine is limited to 16 MiB a file: the weights travel as fp16 (the d256 model is
    # 29 MB in fp32), the rest of each run directory as a tar; `restore` rebuilds the checkpoints here.
    for name in small wide; do
        local run="/tmp/run_$name" latest
        latest="$(cat "$run/latest" 2>/dev/null)"
        python3 - "$run/$latest/model.safetensors" "$out/run_${name}_fp16.safetensors" <<'EOF2'
import sys

from safetensors.torch import load_file, save_file

weights = load_file(sys.argv[1])
save_file({k: v.half() if v.is_floating_point() else v for k, v in weights.items()}, sys.argv[2])
EOF2
        tar -czf "$out/run_$name.tar.gz" -C "$run" config.json args.json metrics.jsonl images \
            "$latest/config.json" 2>&1 | tail -3 | tee -a "$log"
        echo "== run_$name: latest $latest" | tee -a "$log"
        tail -4 "$out/train_$name.txt" | tee -a "$log"
    done

    # 4. On the quiet GPU: training throughput and MFU (small and paper, bf16 autocast), then dream stepping.
    echo "== train_throughput" | tee -a "$log"
    timeout 100 python3 benchmarks/train_throughput.py --device "$device" --batch-size 16 --window 16 --steps 10 \
        --warmup 3 ${GPU_PAPER:+--configs small} 2>&1 | tee -a "$log"
    # why the MFU is low on the GPU (3.7-3.8% at `paper` in session 5): the step's time by kind of kernel, how long
    # the GPU sat idle, the most expensive kernels' operators
    echo "== train_step_profile" | tee -a "$log"
    timeout 120 python3 -m benchmarks.train_step_profile --device "$device" --configs paper small --batch-size 16 \
        --window 16 --steps 3 --warmup 2 --top 15 --json "$out/step_profile.json" 2>&1 | grep -v "^USDT" \
        | tee -a "$log"
    echo "== dream_fps" | tee -a "$log"
    timeout 70 python3 -m benchmarks.dream_fps --device "$device" --context-npz .devdata/context.npz --batch 64 \
        --steps 40 --repeats 2 2>&1 | tee -a "$log"
    date -u | tee -a "$log"
    ls -la "$out"
}

restore() {
    # the files that came back (run_NAME.tar.gz + run_NAME_fp16.safetensors) -> run directories RUNS/gpu_NAME whose
    # latest checkpoint holds the weights in fp32 (load with --init, pack with `genie world-model pack`)
    local files="${1:?give the folder of the returned files}" runs="${2:-runs}"
    set -e
    for archive in "$files"/run_*.tar.gz; do
        local name
        name="$(basename "$archive" .tar.gz)"
        mkdir -p "$runs/gpu_${name#run_}"
        tar -xzf "$archive" -C "$runs/gpu_${name#run_}"
        .venv/bin/python - "$runs/gpu_${name#run_}" "$files/${name}_fp16.safetensors" <<'EOF2'
import json
import sys
from pathlib import Path

from safetensors.torch import load_file

from genie_gym.models.checkpoint_io import model_classes, save_pretrained

run, weights = Path(sys.argv[1]), sys.argv[2]
checkpoint = sorted(run.glob("checkpoints/step_*"))[-1]
meta = json.loads((checkpoint / "config.json").read_text())
cls = model_classes()[meta["model_kind"]]
model = cls(cls.config_class.from_dict(meta["config"]))
model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in load_file(weights).items()})
save_pretrained(model, checkpoint)
(run / "latest").write_text(str(checkpoint.relative_to(run)) + "\n")
print(f"restored {checkpoint}")
EOF2
    done
}

case "${1:-}" in
    prepare) prepare ;;
    run) shift; run "$@" ;;
    restore) shift; restore "$@" ;;
    *) echo "usage: bash benchmarks/gpu_checks.sh prepare | run OUT_DIR | restore FILES_DIR [RUNS_DIR]" >&2; exit 2 ;;
esac
