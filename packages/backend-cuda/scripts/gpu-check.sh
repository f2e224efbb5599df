#!/usr/bin/env bash
# The GPU check of @skvq/backend-cuda, one prepared script for a machine with an NVIDIA GPU
# (H200 / H100: sm_90), run from the repository root or anywhere:
#
#   bash packages/backend-cuda/scripts/gpu-check.sh [--dry-run] [--lengths 32768,131072]
#
# 1. finds Node 20 (PATH, else the carried .gpu-carry/node.tar.xz) and node_modules (the
#    workspace's, else the carried modules.tar.xz, else `pnpm install --offline`);
# 2. builds the addon and kernels (build:native: nvcc + node-gyp); if that fails, uses the
#    prebuilt ones from .gpu-carry/built.tar.xz, saying whether their sources match;
# 3. uses dist/ built here by pnpm, else the carried one (the benchmarks import dist/);
# 4. runs this package's GPU tests (kernels, cuda conformance suite, device storage);
# 5. benchmarks fused SKVQ decode (K2 V1.5 group 128 fp8, window 128, sinks 5) against dense
#    fp16 for one Llama-2-7B layer at 32k and 128k tokens: kernels alone (gpu-bench.mjs) and
#    whole decode steps through the backend-owned storage (gpu-store-bench.mjs), with the
#    ratio and the >= 5x-at-128k target;
# 6. tries WebGPU through Dawn (the `webgpu` package) on the GPU's Vulkan driver and runs
#    the webgpu conformance suite there if an adapter is found, else says why not.
#
# The device machines of this project reach no registry and start without Node or
# node_modules: prepare the carry first, where the workspace is installed and built:
#   node packages/backend-cuda/scripts/gpu-pack.mjs           (writes .gpu-carry/, ~45 MiB)
# then run this script there with carry [".gpu-carry", ".gl"]. `.gl` holds the Vulkan loader
# Dawn needs (the device machines may lack it); fetch it once, in the repository root:
#   echo /.gl/ >>.git/info/exclude; mkdir -p .gl /tmp/amd64/partial
#   o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
#   apt-get $o update; (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2) Output: every step's log and the benchmark tables under $OUT (the device
# tool's folder) or bench-out/gpu-check/. About 3-5 minutes on an H200.
#
# --dry-run: on any machine (no GPU needed), checks what can be checked without one (Node,
# the carried archives unpack, the scripts parse) and prints the GPU steps without running.
set -uo pipefail

PKG="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$PKG/../.." && pwd)"
CARRY="${SKVQ_GPU_CARRY:-$ROOT/.gpu-carry}"
DRY=0
LENGTHS=32768,131072
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --lengths) LENGTHS="$2"; shift ;;
    *) echo "gpu-check: unknown option $1 (expected --dry-run, --lengths N,M)"; exit 2 ;;
  esac
  shift
done
OUTDIR="${OUT:-$ROOT/bench-out/gpu-check}"
mkdir -p "$OUTDIR"
exec > >(tee -a "$OUTDIR/gpu-check.log") 2>&1
cd "$ROOT"

declare -a SUMMARY=()
status=0
step() { echo; echo "== $* [$(date -u +%H:%M:%S), ${SECONDS}s]"; }
note() { SUMMARY+=("$1"); echo "-- $1"; }
failed() { note "FAILED: $1"; status=1; }
# Runs a GPU step, or prints it under --dry-run. Keeps going after a failure.
gpu() {
  local name="$1"; shift
  if [ $DRY = 1 ]; then echo "(dry run) would run: $*"; return 0; fi
  if "$@"; then note "ok: $name"; else failed "$name (exit $?)"; fi
}
# Unpacks an xz tarball with python3 (present on every machine, unlike xz itself).
unpack() {
  python3 - "$1" "$2" "${3:-}" <<'PY'
import sys, tarfile
archive, dest, prefix = sys.argv[1], sys.argv[2], sys.argv[3]
with tarfile.open(archive, 'r:xz') as tar:
    members = [m for m in tar.getmembers() if not prefix or m.name.startswith(prefix)]
    tar.extractall(dest, members=members)
print(f'unpacked {len(members)} entries of {archive} into {dest}')
PY
}

step "machine"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
else
  echo "nvidia-smi not found"
fi
echo "nvcc: $(command -v nvcc || echo /usr/local/cuda/bin/nvcc?) $(nvcc --version 2>/dev/null | tail -1)"
[ -f "$CARRY/manifest.json" ] && { echo "carry manifest:"; cat "$CARRY/manifest.json"; }

step "Node 20"
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -ge 20 ] 2>/dev/null; then
  echo "node $(node -v) at $(command -v node)"
  if [ $DRY = 1 ] && [ -f "$CARRY/node.tar.xz" ]; then
    unpack "$CARRY/node.tar.xz" /tmp/skvq-node-dry >/dev/null &&
      echo "(dry run) the carried node runs: $(/tmp/skvq-node-dry/bin/node -v)"
  fi
elif [ -f "$CARRY/node.tar.xz" ]; then
  NODE_HOME=/tmp/skvq-node
  unpack "$CARRY/node.tar.xz" "$NODE_HOME" || { failed "unpack node"; exit 1; }
  export PATH="$NODE_HOME/bin:$PATH"
  [ -f "$NODE_HOME/include/node/node_api.h" ] && export SKVQ_NODEDIR="$NODE_HOME"
  echo "node $(node -v) from the carry"
else
  failed "no Node >= 20 here and no $CARRY/node.tar.xz (run scripts/gpu-pack.mjs where the workspace is installed, carry .gpu-carry)"
  exit 1
fi

step "node_modules"
if [ -e "$ROOT/node_modules/vitest/package.json" ]; then
  echo "workspace node_modules present"
elif [ -f "$CARRY/modules.tar.xz" ]; then
  if [ $DRY = 1 ]; then
    unpack "$CARRY/modules.tar.xz" /tmp/skvq-modules-dry >/dev/null && echo "(dry run) modules.tar.xz unpacks"
  else
    unpack "$CARRY/modules.tar.xz" "$ROOT" || { failed "unpack node_modules"; exit 1; }
  fi
elif command -v pnpm >/dev/null 2>&1; then
  pnpm install --offline --frozen-lockfile || { failed "pnpm install --offline"; exit 1; }
else
  failed "no node_modules, no $CARRY/modules.tar.xz and no pnpm"
  exit 1
fi
VITEST="$ROOT/node_modules/vitest/vitest.mjs"

step "build:native (nvcc sm_${SKVQ_CUDA_ARCH:-90} + node-gyp)"
if [ $DRY = 1 ]; then
  echo "(dry run) would run: node scripts/build-native.mjs (fallback: $CARRY/built.tar.xz)"
elif (cd "$PKG" && node scripts/build-native.mjs >"$OUTDIR/build-native.log" 2>&1); then
  note "ok: build:native here"
else
  tail -30 "$OUTDIR/build-native.log"
  if [ -f "$CARRY/built.tar.xz" ]; then
    unpack "$CARRY/built.tar.xz" "$ROOT" packages/backend-cuda/build
    unpack "$CARRY/built.tar.xz" "$ROOT" packages/backend-cuda/native/build
    here="$(node "$PKG/scripts/native-source-hash.mjs")"
    packed="$(node -p "require('$CARRY/manifest.json').nativeSourceHash")"
    if [ "$here" = "$packed" ]; then
      note "build:native failed here; using the prebuilt addon and kernels (same sources)"
    else
      failed "build:native failed here and the prebuilt addon/kernels come from OTHER sources"
    fi
  else
    failed "build:native (see build-native.log)"
  fi
fi

step "TypeScript dist (the benchmarks import dist/)"
if [ $DRY = 1 ]; then
  echo "(dry run) would build with pnpm, else unpack dist/ from $CARRY/built.tar.xz"
elif command -v pnpm >/dev/null 2>&1 && pnpm --filter "@skvq/backend-cuda..." run build >"$OUTDIR/build-ts.log" 2>&1; then
  note "ok: TypeScript built here"
elif [ -f "$CARRY/built.tar.xz" ]; then
  for p in core formats backend-cuda backend-webgpu; do
    unpack "$CARRY/built.tar.xz" "$ROOT" "packages/$p/dist" >/dev/null
  done
  note "dist/ from the carry (commit $(node -p "require('$CARRY/manifest.json').commit" 2>/dev/null))"
else
  failed "no pnpm to build dist/ and no carried dist"
fi

step "CUDA driver"
# Without a usable driver every GPU test would skip and pass: fail here instead, with why.
if [ $DRY = 1 ]; then
  echo "(dry run) would check cudaAvailability() of dist/index.js"
elif node --input-type=module -e "
  const { cudaAvailability } = await import('$PKG/dist/index.js');
  const a = cudaAvailability();
  console.log('cudaAvailability:', JSON.stringify(a));
  process.exit(a.available ? 0 : 4);"; then
  note "ok: CUDA driver and device"
else
  failed "CUDA is not usable here (reason above): the GPU tests would only skip"
  DRY=1  # the GPU steps below are printed, not run
fi

step "GPU tests: kernels, cuda conformance, device storage"
# Only the suites that need the GPU: the host and emulator ones ran where CI runs them.
gpu "GPU tests" bash -c "cd '$PKG' && timeout 360 node '$VITEST' run --root . \
  -t '(GPU\\)|conformance: cuda )' 2>&1 | tee '$OUTDIR/tests.log'; exit \${PIPESTATUS[0]}"

step "benchmark: decode kernels, SKVQ fused vs dense fp16 (one 7B layer)"
gpu "kernel benchmark" bash -c "node '$PKG/scripts/gpu-bench.mjs' --lengths '$LENGTHS' --iters 20 \
  2>&1 | tee '$OUTDIR/bench-kernels.md'; exit \${PIPESTATUS[0]}"

step "benchmark: decode steps through the backend-owned storage"
gpu "store benchmark" bash -c "node '$PKG/scripts/gpu-store-bench.mjs' --lengths '$LENGTHS' --steps 20 \
  2>&1 | tee '$OUTDIR/bench-store.md'; exit \${PIPESTATUS[0]}"

step "WebGPU through Dawn on the GPU"
# The Vulkan loader may be missing there: the device notes' recipe downloads it to .gl/.
if ls "$ROOT"/.gl/*.deb >/dev/null 2>&1 && [ $DRY = 0 ]; then
  for f in "$ROOT"/.gl/*.deb; do dpkg -x "$f" /; done
  ldconfig || true
fi
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json; do
  [ -f "$icd" ] && export VK_DRIVER_FILES="$icd" && break
done
echo "libvulkan: $(ldconfig -p 2>/dev/null | grep -m1 -o 'libvulkan.so.1 .*' || echo 'not found (carry .gl with the loader)')"
echo "Vulkan ICD: ${VK_DRIVER_FILES:-none found}"
export SKVQ_WEBGPU_FLAGS="${SKVQ_WEBGPU_FLAGS:-backend=vulkan}"
probe='
const { create } = await import("webgpu");
const gpu = create(process.env.SKVQ_WEBGPU_FLAGS.split(","));
const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
if (!adapter) { console.log("WebGPU (Dawn) NOT reachable: requestAdapter() gave no adapter with " + process.env.SKVQ_WEBGPU_FLAGS); process.exit(3); }
const i = adapter.info ?? {};
console.log(`WebGPU (Dawn) reachable: ${i.vendor} ${i.architecture} ${i.device} ${i.description} (${process.env.SKVQ_WEBGPU_FLAGS})`);
process.exit(0);'
if [ $DRY = 1 ]; then
  echo "(dry run) would probe a Dawn adapter with $SKVQ_WEBGPU_FLAGS, then run the webgpu conformance suite"
elif (cd "$ROOT/packages/backend-webgpu" && timeout 60 node --input-type=module -e "$probe"); then
  note "ok: WebGPU adapter through Dawn"
  gpu "webgpu conformance on the GPU" bash -c "cd '$ROOT/packages/backend-webgpu' && timeout 150 \
    node '$VITEST' run --root . test/conformance.test.ts 2>&1 | tee '$OUTDIR/webgpu-tests.log'; exit \${PIPESTATUS[0]}"
else
  note "WebGPU (Dawn) NOT reachable on this machine (see the line above; not counted as a failure)"
fi

step "summary"
for line in "${SUMMARY[@]}"; do echo "  $line"; done
grep -h "target at 128k\|bytes per step" "$OUTDIR"/bench-*.md 2>/dev/null || true
echo "logs and tables: $OUTDIR"
exit $status
