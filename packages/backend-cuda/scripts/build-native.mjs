#!/usr/bin/env node
// Builds the native parts of @skvq/backend-cuda (an explicit step, never an install script):
//   1. node-gyp builds the addon native/build/Release/skvq_cuda.node, which links no CUDA library
//      (libcuda.so.1 is opened at run time);
//   2. nvcc compiles every src/cuda/*.cu to build/kernels/<name>.fatbin holding SASS for
//      the target architecture and PTX for its virtual architecture (so newer GPUs JIT it),
//      and the same PTX as text to build/kernels/<name>.ptx.
// Needs nvcc (NVCC, `which nvcc`, or /usr/local/cuda/bin/nvcc), a C++ compiler, python3,
// node-gyp and node-addon-api (optional peer dependencies: install them to build), and Node headers (SKVQ_NODEDIR, or /usr when /usr/include/node has them). No GPU needed.
// Environment: SKVQ_CUDA_ARCH (default 90: sm_90 SASS + compute_90 PTX).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cudaDir = join(root, 'src', 'cuda');
const outDir = join(root, 'build', 'kernels');
const arch = process.env.SKVQ_CUDA_ARCH ?? '90';
// Files whose results must match the float32 reference bit for bit: no contracted FMAs.
const EXACT = new Set(['quantize.cu', 'dequantize.cu']);

function run(cmd, args, options = {}) {
  console.log(`> ${cmd} ${args.join(' ')}`);
  const result = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...options });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    console.error(`build-native: ${cmd} exited with ${result.status}`);
    process.exit(result.status ?? 1);
  }
}

function findNvcc() {
  if (process.env.NVCC) return process.env.NVCC;
  const which = spawnSync('which', ['nvcc'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  for (const candidate of ['/usr/local/cuda/bin/nvcc', '/usr/local/bin/nvcc']) {
    if (existsSync(candidate)) return candidate;
  }
  console.error('build-native: nvcc not found (set NVCC or put the CUDA toolkit on PATH)');
  process.exit(1);
}

const nodedir =
  process.env.SKVQ_NODEDIR ?? (existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined);
/**
 * node-gyp and node-addon-api are build-time tools only (optional peer dependencies, never
 * runtime ones): this package's own node_modules (a workspace checkout), the project that
 * installed it (node_modules/.bin above it), or PATH.
 */
function findNodeGyp() {
  const candidates = [
    join(root, 'node_modules', '.bin', 'node-gyp'),
    join(root, '..', '..', '.bin', 'node-gyp'),
    join(root, '..', '.bin', 'node-gyp'),
  ];
  const local = candidates.find((path) => existsSync(path));
  if (local !== undefined) return local;
  const which = spawnSync('which', ['node-gyp'], { encoding: 'utf8' });
  if (which.status === 0 && which.stdout.trim()) return which.stdout.trim();
  console.error(
    'build-native: node-gyp not found; install the build tools next to this package: npm install --save-dev node-gyp node-addon-api',
  );
  process.exit(1);
}

const gyp = findNodeGyp();
// binding.gyp lives in native/, not at the package root: a root binding.gyp would make
// package managers run node-gyp as an implicit install script.
run(gyp, ['rebuild', '--directory=native', ...(nodedir ? [`--nodedir=${nodedir}`] : [])]);

const nvcc = findNvcc();
mkdirSync(outDir, { recursive: true });
const sources = readdirSync(cudaDir).filter((f) => f.endsWith('.cu'));
for (const file of sources) {
  const name = file.replace(/\.cu$/, '');
  const common = [
    '-O3',
    '-std=c++17',
    `--fmad=${EXACT.has(file) ? 'false' : 'true'}`,
    join(cudaDir, file),
  ];
  // The image the addon loads: SASS for sm_<arch> plus PTX for compute_<arch>.
  run(nvcc, [
    '-fatbin',
    '-gencode',
    `arch=compute_${arch},code=sm_${arch}`,
    '-gencode',
    `arch=compute_${arch},code=compute_${arch}`,
    '-o',
    join(outDir, `${name}.fatbin`),
    ...common,
  ]);
  // The same PTX as readable text, for inspection and the build test.
  run(nvcc, ['-ptx', `-arch=compute_${arch}`, '-o', join(outDir, `${name}.ptx`), ...common]);
}

console.log(
  `build-native: kernels in ${outDir}, addon in ${join(root, 'native', 'build', 'Release')}`,
);
