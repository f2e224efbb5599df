import {
  type BackendPlugin,
  decodeAndPrefill,
  hostStorage,
  type Kernels,
  SkvqError,
} from '@skvq/core';
import {
  CPU_BACKEND_NAME,
  CPU_PRIORITY,
  CPU_REFERENCE_BACKEND_NAME,
  CPU_REFERENCE_PRIORITY,
} from './constants.js';
import { fastKernels, referenceKernels } from './kernels.js';
import { availableCores, threadsUnavailableReason } from './threads/environment.js';
import { defaultWorkerUrl, WorkerPool } from './threads/pool.js';
import { attendThreaded, DEFAULT_MIN_WORK_PER_THREAD } from './threads/threaded-attend.js';
import { fusedAttentionWasm, prepareFusedAttentionWasm } from './wasm-module.js';

/** The reference backend ('cpu-reference', priority -10): the oracle of the conformance suite. */
export const cpuReferenceBackend: BackendPlugin = {
  kind: 'backend',
  name: CPU_REFERENCE_BACKEND_NAME,
  description: 'scalar reference kernels (float64 attention); the oracle for every backend',
  priority: CPU_REFERENCE_PRIORITY,
  label: () => `${CPU_REFERENCE_BACKEND_NAME} (JavaScript, float64)`,
  kernels: referenceKernels,
};

export interface CpuBackendOptions {
  /**
   * Run decode attention through the WebAssembly SIMD module where the engine has it
   * (default true). False keeps every kernel in plain JavaScript, e.g. to measure or test
   * that path on an engine that has SIMD.
   */
  fused?: boolean;
  /**
   * Threads attention runs on, the calling thread included (default: the cores available,
   * `os.availableParallelism()` in Node, `navigator.hardwareConcurrency` in browsers).
   * 1 is the single-thread backend, whose kernels return synchronously. Above 1, a large
   * attention job returns a Promise and runs on worker threads over shared memory (see
   * README, "Threads"); where workers or SharedArrayBuffer are unavailable the backend runs
   * one thread and `label()` says why.
   */
  threads?: number;
  /**
   * Smallest share of a job, in (query row, cached position) pairs, worth a thread: a job
   * is cut into at most work / minWorkPerThread shares, and below two it runs on the
   * calling thread, synchronously (default DEFAULT_MIN_WORK_PER_THREAD, measured).
   */
  minWorkPerThread?: number;
  /**
   * Where the worker script is: default `cpu-worker.js` next to the package's built module.
   * Set it when a bundler moves files, or to run from the TypeScript sources (tests).
   */
  workerUrl?: URL | string;
  /**
   * Segments whose arrays are not SharedArrayBuffer views (a cache that did not allocate
   * them from this backend's storage) cannot be read by the workers in place. Default
   * false: such jobs run on the calling thread. True: each worker's share is copied and
   * transferred every call, which measured no faster than one thread (BENCHMARKS.md).
   */
  copyUnshared?: boolean;
}

function checkThreads(value: unknown, what: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `createCpuBackend: ${what} must be an integer >= ${min}, got ${String(value)}`,
      { details: { field: what, value } },
    );
  }
  return value;
}

/** Threads this backend runs on, and why it runs fewer than asked (if it does). */
function resolveThreads(options: CpuBackendOptions): { threads: number; reason?: string } {
  const requested = checkThreads(options.threads ?? availableCores(), 'threads', 1);
  if (requested === 1) return { threads: 1 };
  const reason =
    threadsUnavailableReason() ??
    (options.workerUrl === undefined &&
    defaultWorkerUrl() === undefined &&
    typeof (globalThis as { process?: unknown }).process === 'object'
      ? 'no cpu-worker.js next to this module (TypeScript sources, or a bundle that did not emit it): pass workerUrl'
      : undefined);
  return reason === undefined ? { threads: requested } : { threads: 1, reason };
}

/**
 * A fast CPU backend ('cpu', priority 0): pure JavaScript, with decode attention in
 * WebAssembly SIMD where available (unless `fused: false`). Each call makes its own plugin
 * object; `cpuBackend` is the default one.
 */
export function createCpuBackend(options: CpuBackendOptions = {}): BackendPlugin {
  const fused = options.fused ?? true;
  const minWorkPerThread = checkThreads(
    options.minWorkPerThread ?? DEFAULT_MIN_WORK_PER_THREAD,
    'minWorkPerThread',
    1,
  );
  const { threads, reason } = resolveThreads(options);
  const single: Kernels = fastKernels({ fused });
  let pool: WorkerPool | undefined;
  const threadedOptions = {
    fused,
    threads,
    minWorkPerThread,
    copyUnshared: options.copyUnshared === true,
    pool: () => {
      if (pool === undefined || pool.failure !== undefined) {
        pool?.terminate();
        pool = new WorkerPool(threads - 1, options.workerUrl);
      }
      return pool;
    },
  };
  const attend: Kernels['attend'] = (job, attrs) => attendThreaded(job, attrs, threadedOptions);
  const kernels: Kernels =
    threads === 1 ? single : { ...single, attend, ...decodeAndPrefill(attend) };
  const engine = () =>
    fused && fusedAttentionWasm() !== null ? 'WebAssembly SIMD decode' : 'JavaScript';
  const threading = () =>
    threads > 1 ? `, ${threads} threads` : reason !== undefined ? `, 1 thread: ${reason}` : '';
  return {
    kind: 'backend',
    name: CPU_BACKEND_NAME,
    description: fused
      ? 'fast kernels (WebAssembly SIMD decode attention, JavaScript elsewhere) attending over packed codes without dequantizing the cache'
      : 'fast JavaScript kernels attending over packed codes without dequantizing the cache',
    priority: CPU_PRIORITY,
    // Compiles the WebAssembly decode kernel ahead of use (never fails: without WebAssembly
    // SIMD the JavaScript kernels run).
    ...(fused ? { init: prepareFusedAttentionWasm } : {}),
    // Worker threads read the cache in place: caches on this backend keep their bytes in
    // SharedArrayBuffers.
    ...(threads > 1 ? { storage: hostStorage({ shared: true }) } : {}),
    dispose: () => {
      pool?.terminate();
      pool = undefined;
    },
    label: () => `${CPU_BACKEND_NAME} (${engine()}${threading()})`,
    kernels,
  };
}

/** The default fast CPU backend: `createCpuBackend()`. */
export const cpuBackend: BackendPlugin = createCpuBackend();
