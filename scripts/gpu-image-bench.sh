#!/usr/bin/env bash
# The whole image pipeline on a GPU host, for when one is available (not run in this repository's CI: it needs an
# NVIDIA GPU, the CUDA execution provider and the real CLIP weights). For each inference batch size it runs
# bench:import's image sections — decode + preprocessing alone (one per core), inference alone, database writes,
# and end to end through the importer — with ViT-L/14 in fp16 on CUDA, and keeps each JSON report.
#
#   bash scripts/gpu-image-bench.sh [IMAGES] [BATCH SIZES...]      (default: 2000 images; batches 16 32 64 128)
#
# Before: `npm run setup:gpu` (CUDA provider), `npm run glimpse -- model fetch` (the model, or put its files in
# GLIMPSE_MODEL_DIR), `bash scripts/postgres.sh` (the scratch databases). Reports: bench/results/gpu-images-<batch>.json.
# Reading them: imagesPerSecond.decode is the CPU side's ceiling (it scales with cores: decode workers), .embed the
# GPU's; end to end should approach the smaller of the two.
set -euo pipefail
cd "$(dirname "$0")/.."
images=${1:-2000}
shift || true
batches=${*:-16 32 64 128}
export GLIMPSE_EP=cuda GLIMPSE_MODEL_DTYPE=fp16 GLIMPSE_MODEL=${GLIMPSE_MODEL:-Xenova/clip-vit-large-patch14}
cores=$(nproc)
# sharp decodes on libuv's thread pool (4 threads by default): one per core
export UV_THREADPOOL_SIZE=${UV_THREADPOOL_SIZE:-$cores}
mkdir -p bench/results
for b in $batches; do
  echo "=== batch $b (${GLIMPSE_MODEL}, fp16, CUDA, ${cores} cores)" >&2
  GLIMPSE_MAX_BATCH=$b npx tsx bench/import.ts --images "$images" --products 0 --live-base 0 \
    --model "$GLIMPSE_MODEL" --concurrency $((b * 2)) --no-write >"bench/results/gpu-images-$b.json"
  node -e "const r=require('./bench/results/gpu-images-$b.json');console.log('batch $b', JSON.stringify(r.imagesPerSecond), r.model.device)"
done
