#!/usr/bin/env bash
# GPU hosts only: installs onnxruntime-node's CUDA 12 execution-provider libraries (downloaded from
# NuGet by onnxruntime-node's own install script, which the default CPU-only install skips).
# Needs internet access and an NVIDIA driver; afterwards set GLIMPSE_EP=cuda.
set -euo pipefail
cd "$(dirname "$0")/.."
ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js
ls node_modules/onnxruntime-node/bin/napi-v6/linux/x64/ | grep -q providers_cuda \
  && echo "CUDA execution provider installed; start with GLIMPSE_EP=cuda" \
  || { echo "CUDA libraries were not installed" >&2; exit 1; }
