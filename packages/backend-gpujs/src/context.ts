import { describeError, SkvqError } from '@skvq/core';
import { MAX_SLICE_TOKENS, QUANT_BOUNDARY_MARGIN } from './constants.js';
import {
  type GpujsInstance,
  type GpujsKernelFunction,
  type GpujsMode,
  type GpujsModule,
  modeOfKernel,
} from './modes.js';
import { TransferCounter } from './transfers.js';

/** A kernel to compile: its JavaScript source (gpu.js's subset), output and constants. */
export interface KernelSpec {
  /** Cache key: the same key must always mean the same source, output and constants. */
  key: string;
  source: string;
  output: readonly number[];
  constants: Record<string, number>;
  /** Largest dynamic loop bound inside the kernel (gpu.js's loopMaxIterations). */
  loopMax?: number;
  /** gpu.js return type: 'Array(4)' for kernels that return four values per thread. */
  returnType?: 'Number' | 'Array(4)';
  /** Keep the result on the device (a texture the next kernel reads). */
  pipeline?: boolean;
  /**
   * Every call returns a new texture (gpu.js otherwise reuses one output texture per
   * kernel, so a result kept across calls, like a store buffer, would be overwritten).
   */
  immutable?: boolean;
  /** Four values per RGBA texel (gpu.js optimizeFloatMemory): store buffers and readbacks. */
  packed?: boolean;
}

/** Something gpu.js returned: an array (nested per output dimension) or a texture. */
export type KernelResult = unknown;

/**
 * One gpu.js `GPU` instance, the mode its kernels really run in, and the compiled kernels
 * (gpu.js compiles a shader per kernel; recompiling per call would cost milliseconds).
 * Every kernel's mode is checked after it first runs: gpu.js may fall back to its CPU
 * kernel when a shader fails to build, and a backend that claims a GPU must not hide that.
 */
export class GpujsContext {
  private readonly kernels = new Map<string, GpujsKernelFunction>();
  private checked = new Set<string>();
  /**
   * Results of pipeline kernels: textures on GL, but plain arrays in gpu.js's cpu and
   * webasm modes, where they must not be counted as uploads when a kernel reads them.
   */
  private readonly onDevice = new WeakSet<object>();
  /**
   * Quantized rows the host recomputed because a value lay within the boundary margin
   * (quantize.ts); tests check that path runs, benchmarks report how rare it is.
   */
  exactRowRecomputes = 0;
  /**
   * Store writes of whole texels go straight into the buffer's texture (texSubImage2D,
   * store/texture-write.ts) in GL modes; false sends every write through the write kernel
   * (tests compare both; benchmarks measure both).
   */
  directWrites = true;
  /** Store writes that went straight into a texture (tests check the path runs). */
  directTexelWrites = 0;
  /** Bytes every kernel call and texture read moved between host and device (transfers.ts). */
  readonly transfers: TransferCounter;

  constructor(
    readonly module: GpujsModule,
    readonly gpu: GpujsInstance,
    readonly mode: GpujsMode,
    readonly name: string,
    /** Most key positions per attention pass (a power of two, >= ATTENTION_CHUNK). */
    readonly maxSliceTokens: number = MAX_SLICE_TOKENS,
    /** Quantize values this close to a rounding boundary are recomputed on the host. */
    readonly quantBoundaryMargin: number = QUANT_BOUNDARY_MARGIN,
  ) {
    this.transfers = new TransferCounter(module, mode);
  }

  /** Runs a kernel (compiled on first use) and returns what gpu.js returned. */
  run(spec: KernelSpec, args: readonly unknown[]): KernelResult {
    let fn = this.kernels.get(spec.key);
    if (fn === undefined) {
      fn = this.compile(spec);
      this.kernels.set(spec.key, fn);
    }
    let result: unknown;
    for (const arg of args) {
      if (ArrayBuffer.isView(arg) && !this.onDevice.has(arg)) {
        this.transfers.upload((arg as Float32Array).length);
      }
    }
    try {
      result = fn(...args);
    } catch (error) {
      throw new SkvqError(
        'BACKEND_DEVICE_ERROR',
        `backend "${this.name}" (gpu.js ${this.mode}): kernel ${spec.key} failed: ${describeError(error)}`,
        { cause: error },
      );
    }
    if (!this.checked.has(spec.key)) {
      const ran = modeOfKernel(this.module, fn);
      if (ran !== this.mode) {
        throw new SkvqError(
          'BACKEND_DEVICE_ERROR',
          `backend "${this.name}": kernel ${spec.key} ran in gpu.js mode ${ran}, not ${this.mode} (gpu.js fell back)`,
        );
      }
      this.checked.add(spec.key);
    }
    if (spec.pipeline === true) {
      if (typeof result === 'object' && result !== null) this.onDevice.add(result);
    } else {
      const lanes = spec.returnType === 'Array(4)' ? 4 : 1;
      this.transfers.readback(
        fn.kernel as { texSize?: ArrayLike<number> } | undefined,
        lanes * spec.output.reduce((a, b) => a * b, 1),
      );
    }
    return result;
  }

  private compile(spec: KernelSpec): GpujsKernelFunction {
    try {
      return this.gpu.createKernel(spec.source, {
        output: [...spec.output],
        constants: spec.constants,
        // Inputs change size from call to call (the cache grows); outputs are fixed per key.
        dynamicArguments: true,
        // Full float32 everywhere: highp in GLSL, float32 textures in and out.
        precision: 'single',
        tactic: 'precision',
        pipeline: spec.pipeline === true,
        immutable: spec.immutable === true,
        optimizeFloatMemory: spec.packed === true,
        ...(spec.returnType === undefined ? {} : { returnType: spec.returnType }),
        loopMaxIterations: Math.max(1000, spec.loopMax ?? 0),
      });
    } catch (error) {
      throw new SkvqError(
        'BACKEND_DEVICE_ERROR',
        `backend "${this.name}" (gpu.js ${this.mode}): kernel ${spec.key} did not compile: ${describeError(error)}`,
        { cause: error },
      );
    }
  }

  /**
   * The values of a pipeline result (a texture on GL, an array elsewhere) on the host,
   * counted as a readback of the texture.
   */
  readTexture(result: KernelResult, size: number): Float32Array {
    const tex = result as { size?: ArrayLike<number> };
    this.transfers.readback(ArrayBuffer.isView(result) ? undefined : { texSize: tex.size }, size);
    return flatten(result, size);
  }

  /** The first `size` values of a kernel's host result (run() counted the readback). */
  readResult(result: KernelResult, size: number): Float32Array {
    return flatten(result, size);
  }

  /** Frees a pipeline result (GL textures; arrays are left to the garbage collector). */
  free(result: KernelResult): void {
    (result as { delete?: () => void } | undefined)?.delete?.();
  }

  /** Kernels compiled so far (tests and benchmarks). */
  get compiledKernels(): number {
    return this.kernels.size;
  }

  dispose(): void {
    for (const fn of this.kernels.values()) {
      try {
        fn.destroy?.();
      } catch {
        // A kernel whose context is already gone has nothing left to free.
      }
    }
    this.kernels.clear();
    this.checked.clear();
    void this.gpu.destroy();
  }
}

/**
 * Flattens what a kernel returned into one Float32Array in output order (x fastest).
 * gpu.js returns a Float32Array (1D), arrays of them (2D, 3D), or a texture (pipeline).
 */
export function flatten(result: KernelResult, size: number): Float32Array {
  let value = result as { toArray?: () => unknown };
  if (typeof value?.toArray === 'function') value = value.toArray() as typeof value;
  const out = new Float32Array(size);
  let at = 0;
  const walk = (v: unknown): void => {
    if (v instanceof Float32Array) {
      out.set(v.subarray(0, Math.min(v.length, size - at)), at);
      at += v.length;
    } else if (Array.isArray(v)) {
      for (const item of v) walk(item);
    } else {
      throw new SkvqError('BACKEND_DEVICE_ERROR', `gpu.js returned ${typeof v}; expected arrays`);
    }
  };
  walk(value);
  if (at < size) {
    throw new SkvqError(
      'BACKEND_DEVICE_ERROR',
      `gpu.js returned ${at} values; the kernel's output has ${size}`,
    );
  }
  return out;
}
