#!/usr/bin/env bash
# The whole image pipeline on a GPU host, for when one is available (not run in this repository's CI: it needs an
# NVIDIA GPU, the CUDA execution provider and the real CLIP weights). For each weight type (fp16, fp32) and
# inference batch size it runs bench:import's image sections — decode + preprocessing alone (GLIMPSE_DECODE_WORKERS
# threads, one per core by default), inference alone, database writes, and end to end through the importer — with
# ViT-L/14 on CUDA, keeps each JSON report and prints a summary table.
#
#   bash scripts/gpu-image-bench.sh [IMAGES] [BATCH SIZES...]      (default: 2000 images; batches 16 32 64 128)
#
# Environment: GLIMPSE_MODEL (default Xenova/clip-vit-large-patch14), DTYPES ("fp16 fp32"), GLIMPSE_EP (cuda;
# GLIMPSE_EP=cpu GLIMPSE_MODEL=test is a smoke run of this script on any machine).
# Before: `npm run setup:gpu` (CUDA provider), `npm run glimpse -- model fetch` (the model, or put its files in
# GLIMPSE_MODEL_DIR), `bash scripts/postgres.sh` (the scratch databases). Reports: bench/results/gpu-images-<dtype>-<batch>.json.
# Reading them: imagesPerSecond.decode is the CPU side's ceiling (it scales with cores: decode workers), .embed the
# GPU's; end to end should approach the smaller of the two. Exits 1 when CUDA was asked for but a run used the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
images=${1:-2000}
shift || true
batches=${*:-16 32 64 128}
export GLIMPSE_EP=${GLIMPSE_EP:-cuda} GLIMPSE_MODEL=${GLIMPSE_MODEL:-Xenova/clip-vit-large-patch14}
dtypes=${DTYPES:-fp16 fp32}
cores=$(nproc)
# sharp decodes on libuv's thread pool (4 threads by default): one per core
export UV_THREADPOOL_SIZE=${UV_THREADPOOL_SIZE:-$cores}
mkdir -p bench/results
echo "host: ${cores} cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || echo 'no nvidia-smi')" >&2
reports=()
for dtype in $dtypes; do
  for b in $batches; do
    out="bench/results/gpu-images-$dtype-$b.json"
    echo "=== $dtype, batch $b (${GLIMPSE_MODEL}, ${GLIMPSE_EP}, ${cores} cores)" >&2
    GLIMPSE_MODEL_DTYPE=$dtype GLIMPSE_MAX_BATCH=$b npx tsx bench/import.ts --images "$images" --products 0 --live-base 0 \
      --model "$GLIMPSE_MODEL" --concurrency $((b * 2)) --no-write >"$out"
    reports+=("$out")
  done
done
node - "$GLIMPSE_EP" "${reports[@]}" <<'JS'
const [ep, ...files] = process.argv.slice(2);
const rows = files.map((f) => {
  const r = require(require('node:path').resolve(f));
  return { report: f, device: r.model.device, batch: r.model.maxBatch, ...r.imagesPerSecond };
});
console.table(rows);
if (ep === 'cuda' && rows.some((r) => r.device !== 'cuda')) {
  console.error('CUDA was asked for, but some runs used the CPU (column "device"): these are not GPU numbers');
  process.exit(1);
}
JS
