#!/usr/bin/env bash
# One command on a machine with an NVIDIA GPU and driver (H200 / H100: sm_90), from
# anywhere:  bash packages/backend-cuda/scripts/gpu-check.sh
# 1. builds the addon and the kernels (nvcc + node-gyp), 2. builds the TypeScript of this
# package and its dependencies, 3. runs this package's tests (the GPU tests and the
# conformance suite run instead of skipping), 4. runs the decode-attention benchmark and
# prints its table. Needs Node 20, the workspace's node_modules (pnpm install), nvcc
# (CUDA 13; SKVQ_CUDA_ARCH, default 90), a C++ compiler and python3. About 2-5 minutes.
set -euo pipefail
PKG="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$PKG/../.." && pwd)"
cd "$ROOT"

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
fi
if [ ! -d node_modules ]; then
  pnpm install --frozen-lockfile
fi

echo "== build:native (nvcc sm_${SKVQ_CUDA_ARCH:-90} + node-gyp)"
(cd "$PKG" && node scripts/build-native.mjs >/tmp/skvq-build-native.log 2>&1) || {
  tail -50 /tmp/skvq-build-native.log
  exit 1
}

echo "== TypeScript build of @skvq/backend-cuda and its dependencies"
pnpm --filter "@skvq/backend-cuda..." run build >/tmp/skvq-build-ts.log 2>&1 || {
  tail -50 /tmp/skvq-build-ts.log
  exit 1
}

echo "== tests (GPU tests included)"
status=0
pnpm exec vitest run --project @skvq/backend-cuda || status=$?

echo "== benchmark"
node "$PKG/scripts/gpu-bench.mjs" "$@" || status=$?
exit $status
