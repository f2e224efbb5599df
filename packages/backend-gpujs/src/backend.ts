import {
  type AttendKernel,
  type BackendPlugin,
  decodeAndPrefill,
  describeError,
  type Kernels,
  SkvqError,
} from '@skvq/core';
import { runJob } from '@skvq/formats';
import { attendDecodeGpujs, attendPrefillGpujs } from './attention.js';
import {
  ATTENTION_CHUNK,
  GPUJS_BACKEND_NAME,
  GPUJS_PRIORITY,
  MAX_SLICE_TOKENS,
} from './constants.js';
import { flatten, GpujsContext } from './context.js';
import { dequantizeGpujs } from './dequantize.js';
import {
  checkModeOptions,
  type GpujsMode,
  type GpujsModule,
  type GpujsRequestedMode,
  modeOfKernel,
} from './modes.js';
import { quantizeBlockGpujs, quantizeTokensGpujs } from './quantize.js';
import { gpujsStoreKernels } from './store/kernels.js';
import { createGpujsStorage } from './store/storage.js';

export interface GpujsBackendOptions {
  /**
   * The gpu.js module (`import * as gpujs from 'gpu.js'`, or `window.GPU`'s bundle in a
   * page). Without it init() imports 'gpu.js' (a peer dependency).
   */
  gpujs?: GpujsModule;
  /** The mode to ask gpu.js for; default 'gpu' (its best GL mode, else its fallbacks). */
  mode?: GpujsRequestedMode;
  /**
   * Modes the backend may run in. gpu.js falls back to plain JavaScript or WebAssembly
   * without saying so; with `require`, init() fails (and the registry moves on) unless the
   * mode that actually runs is listed.
   */
  require?: GpujsMode | readonly GpujsMode[];
  /** Extra settings for `new GPU(...)` (a canvas or WebGL context in a page). */
  gpuSettings?: Record<string, unknown>;
  /**
   * Most key positions one attention pass covers (a power of two from ATTENTION_CHUNK up;
   * default MAX_SLICE_TOKENS). Lower it for devices with small texture limits.
   */
  maxSliceTokens?: number;
  /**
   * Quantize values within this distance of a rounding boundary are recomputed on the host
   * with the reference arithmetic (default QUANT_BOUNDARY_MARGIN). 1 recomputes every row
   * and 0 none: both give the reference bytes, which is how the tests check each path.
   */
  quantBoundaryMargin?: number;
  /**
   * Keep caches' KV bytes on the device (default true): the backend then offers a device
   * `storage` whose buffers are textures kept between calls (store/storage.ts). false:
   * caches keep host arrays and every kernel call uploads what it reads.
   */
  storage?: boolean;
  /** Registry name (default 'gpujs'). */
  name?: string;
  /** Registry priority (default GPUJS_PRIORITY: below WebGPU, above the CPU backends). */
  priority?: number;
}

export interface GpujsBackend extends BackendPlugin {
  init(): Promise<void>;
  dispose(): void;
  /** The gpu.js mode the kernels actually run in; throws before init(). */
  mode(): GpujsMode;
  /** The context after init() (tests, benchmarks). */
  context(): GpujsContext;
}

/** A kernel that checks gpu.js really computes (and in which mode) before anything else. */
const PROBE_SOURCE = `function (a) {
  return a[this.thread.x] * 2 + Math.floor(this.thread.x / 2);
}`;

async function loadModule(options: GpujsBackendOptions, name: string): Promise<GpujsModule> {
  if (options.gpujs !== undefined) return options.gpujs;
  try {
    const imported = (await import('gpu.js')) as unknown as GpujsModule & { default?: GpujsModule };
    return imported.GPU === undefined && imported.default !== undefined
      ? imported.default
      : imported;
  } catch (error) {
    throw new SkvqError(
      'BACKEND_INIT_FAILED',
      `backend "${name}": gpu.js is not installed (npm install gpu.js): ${describeError(error)}`,
      { cause: error },
    );
  }
}

/**
 * A gpu.js backend: WebGL2/WebGL in browsers, headless-gl in Node (under a display, e.g.
 * Xvfb), WebAssembly or plain JavaScript otherwise. Its `kernels` take and return host
 * typed arrays (core/src/kernels.ts): each call uploads its inputs and reads the results
 * back. Its `storage` keeps KV pages on the device as textures, and its store kernels
 * quantize into them and attend over them in place (store/).
 */
export function createGpujsBackend(options: GpujsBackendOptions = {}): GpujsBackend {
  const name = options.name ?? GPUJS_BACKEND_NAME;
  const required =
    options.require === undefined
      ? undefined
      : typeof options.require === 'string'
        ? [options.require]
        : [...options.require];
  checkModeOptions(options.mode, required, `backend "${name}"`);
  const maxSliceTokens = options.maxSliceTokens ?? MAX_SLICE_TOKENS;
  if (
    !Number.isInteger(Math.log2(maxSliceTokens)) ||
    maxSliceTokens < ATTENTION_CHUNK ||
    maxSliceTokens > 1 << 20
  ) {
    throw new SkvqError(
      'UNSUPPORTED_OPTION',
      `backend "${name}": maxSliceTokens ${String(maxSliceTokens)} must be a power of two in ${ATTENTION_CHUNK}..${1 << 20}`,
    );
  }
  let ctx: GpujsContext | undefined;
  const context = (): GpujsContext => {
    if (ctx === undefined) {
      throw new SkvqError(
        'BACKEND_INIT_FAILED',
        `backend "${name}": call init() before running kernels`,
      );
    }
    return ctx;
  };
  // The one attention job; decode and prefill keep their own slice plans inside.
  const attend: AttendKernel = (job, attrs) =>
    runJob(job, `backend "${name}" attend`, {
      decode: (inputs) => attendDecodeGpujs(context(), inputs, attrs),
      prefill: (inputs) => attendPrefillGpujs(context(), inputs, attrs),
    });
  const storage =
    options.storage === false ? undefined : createGpujsStorage(context, name, gpujsStoreKernels);
  const kernels: Kernels = {
    quantizeTokens: (inputs) => quantizeTokensGpujs(context(), inputs),
    quantizeBlock: (inputs) => quantizeBlockGpujs(context(), inputs),
    dequantize: (inputs) => dequantizeGpujs(context(), inputs),
    attend,
    ...decodeAndPrefill(attend),
  };
  return {
    kind: 'backend',
    name,
    description:
      'gpu.js kernels (WebGL2, WebGL, headless-gl, or CPU): fused attention over packed pages',
    priority: options.priority ?? GPUJS_PRIORITY,
    kernels,
    ...(storage === undefined ? {} : { storage }),
    // Every upload and readback of every kernel, store or not (transfers.ts).
    transferStats: () =>
      ctx === undefined ? { bytesToDevice: 0, bytesFromDevice: 0 } : ctx.transfers.snapshot(),
    context,
    mode: () => context().mode,
    // What gpu.js really runs on ("gpujs (webgl2)"); before init() only the name is known.
    label: () => (ctx === undefined ? name : `${name} (${ctx.mode})`),
    async init() {
      if (ctx !== undefined) return;
      const module = await loadModule(options, name);
      let gpu: ReturnType<typeof instantiate>;
      try {
        gpu = instantiate(module, options);
      } catch (error) {
        throw new SkvqError(
          'BACKEND_INIT_FAILED',
          `backend "${name}": gpu.js mode ${options.mode ?? 'gpu'} is not available here: ${describeError(error)}`,
          { cause: error },
        );
      }
      const probe = gpu.createKernel(PROBE_SOURCE, {
        output: [4],
        precision: 'single',
        tactic: 'precision',
      });
      let mode: GpujsMode | 'unknown';
      try {
        const got = flatten(probe(new Float32Array([1, 2, 3, 4])), 4);
        const want = [2, 4, 7, 9];
        if (want.some((w, i) => got[i] !== w)) {
          throw new Error(
            `probe kernel returned ${Array.from(got).join(',')}; expected ${want.join(',')}`,
          );
        }
        mode = modeOfKernel(module, probe);
      } catch (error) {
        void gpu.destroy();
        throw new SkvqError(
          'BACKEND_INIT_FAILED',
          `backend "${name}": gpu.js does not compute here: ${describeError(error)}`,
          {
            cause: error,
          },
        );
      }
      if (mode === 'unknown' || (required !== undefined && !required.includes(mode))) {
        void gpu.destroy();
        throw new SkvqError(
          'BACKEND_INIT_FAILED',
          `backend "${name}": gpu.js runs in mode ${mode} here; required ${required?.join(' or ') ?? 'a known mode'} (gpu.js falls back silently when a GPU context is missing, e.g. headless-gl without a display)`,
          { details: { mode, required } },
        );
      }
      ctx = new GpujsContext(module, gpu, mode, name, maxSliceTokens, options.quantBoundaryMargin);
    },
    dispose() {
      ctx?.dispose();
      ctx = undefined;
    },
  };
}

function instantiate(module: GpujsModule, options: GpujsBackendOptions) {
  const settings: Record<string, unknown> = { ...options.gpuSettings };
  if (options.mode !== undefined) settings.mode = options.mode;
  return new module.GPU(settings);
}
