#!/usr/bin/env bash
# The trainer on a machine with one CUDA GPU, each run printing its training throughput:
#   1. experiments/tiny.yaml on the GPU: fp32, bf16-mixed, GradCache (8 items per sub-batch);
#   2. experiments/tiny_ddp.yaml (mixed image/audio/text corpus) as 2 processes sharing the GPU, launched as
#      two one-GPU "nodes" with torchrun, the multi-node recipe of the README (gloo: NCCL refuses two ranks on
#      one device);
#   3. experiments/tiny_fsdp.yaml on the GPU (Lightning's FSDP needs one; one GPU makes a single rank);
#   4. the 2-process test files and the GradCache memory benchmark on CUDA.
# Usage:  make install && bash scripts/gpu_check.sh [OUT_DIR]
# GPU_CHECK_ACCELERATOR=cpu runs the same steps on the CPU (a dry run of the script on a machine without GPU).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/gpu_check}
ACCELERATOR=${GPU_CHECK_ACCELERATOR:-gpu}
PY=.venv/bin/python
export HF_HUB_OFFLINE=1 PYTHONPATH=benchmarks
mkdir -p "$OUT"

if [ "$ACCELERATOR" = gpu ]; then
  $PY -c 'import torch; assert torch.cuda.is_available(), "no CUDA device (GPU_CHECK_ACCELERATOR=cpu for a dry run)"
print("torch", torch.__version__, "CUDA", torch.version.cuda, torch.cuda.get_device_name(0))'
fi
$PY -m unibind.cli data shapes "$OUT/shapes_mixed" --sounds --train 12 --val 3 > /dev/null
MIXED=(--data.init_args.train "$OUT/shapes_mixed/train.jsonl" --data.init_args.val "$OUT/shapes_mixed/val.jsonl"
       --data.init_args.test "$OUT/shapes_mixed/val.jsonl")

report() {  # name: print the run's throughput from its StepClock record
  $PY -c "import json, sys; r = json.load(open('$OUT/$1.json'))
print(f'$1: {r[\"samples_per_s\"]:.1f} samples/s, {r[\"steps\"] / r[\"seconds\"]:.1f} steps/s over {r[\"steps\"]} steps')"
}

fit() {  # name, then unibind fit arguments
  local name=$1; shift
  $PY -m unibind.cli fit "$@" --trainer.accelerator "$ACCELERATOR" --trainer.devices 1 \
    --trainer.enable_progress_bar false --trainer.enable_model_summary false \
    --trainer.default_root_dir "$OUT/$name" --trainer.callbacks+=_clock.StepClock \
    --trainer.callbacks.out "$OUT/$name.json" > "$OUT/$name.log" 2>&1 || { tail -40 "$OUT/$name.log"; exit 1; }
  report "$name"
}

fit tiny-fp32 --config experiments/tiny.yaml
fit tiny-bf16 --config experiments/tiny.yaml --trainer.precision bf16-mixed
fit tiny-gradcache --config experiments/tiny.yaml --model.grad_cache_chunk 8
fit tiny_ddp-1rank --config experiments/tiny_ddp.yaml --trainer.max_epochs 5 "${MIXED[@]}"

# two "nodes" of one device each on this machine: the README's multi-node launch, with both ranks on the GPU
PORT=$(( 29500 + RANDOM % 1000 ))
for NODE in 0 1; do
  $PY -m torch.distributed.run --nnodes 2 --nproc-per-node 1 --node-rank $NODE \
    --master-addr 127.0.0.1 --master-port $PORT \
    -m unibind.cli fit --config experiments/tiny_ddp.yaml --trainer.num_nodes 2 --trainer.devices 1 \
    --trainer.accelerator "$ACCELERATOR" --trainer.strategy.init_args.process_group_backend gloo \
    --trainer.max_epochs 5 "${MIXED[@]}" --trainer.enable_progress_bar false \
    --trainer.default_root_dir "$OUT/tiny_ddp-2ranks" --trainer.callbacks+=_clock.StepClock \
    --trainer.callbacks.out "$OUT/tiny_ddp-2ranks.json" > "$OUT/tiny_ddp-2ranks-node$NODE.log" 2>&1 &
done
wait || { tail -40 "$OUT"/tiny_ddp-2ranks-node*.log; exit 1; }
report tiny_ddp-2ranks

if [ "$ACCELERATOR" = gpu ]; then
  fit tiny_fsdp-1gpu --config experiments/tiny_fsdp.yaml --trainer.max_epochs 3 "${MIXED[@]}"
  $PY benchmarks/grad_cache.py --quick --device cuda | tail -2
fi
$PY -m pytest -q tests/training/test_distributed_training.py tests/training/test_grad_cache.py tests/training/test_fsdp.py
echo "gpu_check: every run finished ($ACCELERATOR)"
