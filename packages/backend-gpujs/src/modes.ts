import { SkvqError } from '@skvq/core';

/** The gpu.js modes this backend runs on (gpu.js's async `webgpu` mode is not one). */
export type GpujsMode = 'headlessgl' | 'webgl2' | 'webgl' | 'webasm' | 'cpu';
export const GPUJS_MODES: readonly GpujsMode[] = ['headlessgl', 'webgl2', 'webgl', 'webasm', 'cpu'];

/** What may be asked for: a mode, or 'gpu' (gpu.js picks the best GL mode available). */
export type GpujsRequestedMode = GpujsMode | 'gpu';

/** A gpu.js kernel as returned by `gpu.createKernel` (the parts this backend uses). */
export interface GpujsKernelFunction {
  (...args: unknown[]): unknown;
  /** The backend kernel object that actually ran (its class tells the mode). */
  kernel?: object;
  destroy?(removeCanvasReferences?: boolean): void;
}

/** A gpu.js `GPU` instance (the parts this backend uses). */
export interface GpujsInstance {
  createKernel(source: string, settings: Record<string, unknown>): GpujsKernelFunction;
  destroy(): void | Promise<void>;
}

type KernelClass = abstract new (...args: never[]) => object;

/** The gpu.js module: `import * as gpujs from 'gpu.js'`, or the browser bundle's global. */
export interface GpujsModule {
  GPU: new (settings?: Record<string, unknown>) => GpujsInstance;
  HeadlessGLKernel?: KernelClass;
  WebGL2Kernel?: KernelClass;
  WebGLKernel?: KernelClass;
  WebAssemblyKernel?: KernelClass;
  CPUKernel?: KernelClass;
  /** gpu.js's helpers; the transfer counter sizes uploads the way gpu.js pads them. */
  utils?: {
    getMemoryOptimizedFloatTextureSize(dimensions: number[], bitRatio: number): ArrayLike<number>;
  };
}

/**
 * The mode a kernel actually ran in, from its class (gpu.js reports 'gpu' for every GL
 * kernel in `constructor.mode`, and falls back to CPU without saying so). HeadlessGLKernel
 * extends WebGLKernel, so it is tested first.
 */
export function modeOfKernel(module: GpujsModule, fn: GpujsKernelFunction): GpujsMode | 'unknown' {
  const k = fn.kernel;
  if (k === undefined) return 'unknown';
  const order: [GpujsMode, KernelClass | undefined][] = [
    ['headlessgl', module.HeadlessGLKernel],
    ['webgl2', module.WebGL2Kernel],
    ['webgl', module.WebGLKernel],
    ['webasm', module.WebAssemblyKernel],
    ['cpu', module.CPUKernel],
  ];
  for (const [mode, cls] of order) if (cls !== undefined && k instanceof cls) return mode;
  return 'unknown';
}

/** Checks a requested mode and a `require` list at the edge. */
export function checkModeOptions(
  mode: unknown,
  required: readonly unknown[] | undefined,
  where: string,
): void {
  const allowed = ['gpu', ...GPUJS_MODES];
  if (mode !== undefined && !allowed.includes(mode as string)) {
    throw new SkvqError(
      'UNSUPPORTED_OPTION',
      `${where}: mode ${String(mode)} is not supported; expected one of ${allowed.join(', ')}`,
    );
  }
  for (const r of required ?? []) {
    if (!GPUJS_MODES.includes(r as GpujsMode)) {
      throw new SkvqError(
        'UNSUPPORTED_OPTION',
        `${where}: require lists ${String(r)}; expected modes among ${GPUJS_MODES.join(', ')}`,
      );
    }
  }
}
