import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the addon (native/cuda_addon.cc) exports: a thin wrapper of the CUDA driver API. */
export interface CudaAddon {
  probe(): { available: boolean; reason?: string; driverVersion?: number; devices?: number };
  init(ordinal: number): void;
  deviceInfo(): CudaDeviceInfo;
  loadModule(image: Uint8Array): number;
  getFunction(moduleId: number, name: string): number;
  setMaxDynamicShared(functionId: number, bytes: number): void;
  launch(
    functionId: number,
    gx: number,
    gy: number,
    gz: number,
    bx: number,
    by: number,
    bz: number,
    sharedBytes: number,
    params: Uint8Array,
    offsets: Uint32Array,
  ): void;
  synchronize(): void;
  alloc(bytes: number): bigint;
  free(ptr: bigint): void;
  upload(ptr: bigint, byteOffset: number, data: ArrayBufferView): void;
  download(ptr: bigint, byteOffset: number, out: ArrayBufferView): void;
  /** Device-to-device copy of `bytes` (ordered with kernels on the default stream). */
  copy(dst: bigint, src: bigint, bytes: number): void;
  memset(ptr: bigint, value: number, bytes: number): void;
  dispose(): void;
}

export interface CudaDeviceInfo {
  name: string;
  computeCapability: string;
  multiprocessors: number;
  maxSharedBytesPerBlock: number;
  totalBytes: number;
  freeBytes: number;
}

/** The kernel images the build step produces, one per src/cuda/*.cu file. */
export const KERNEL_MODULES = ['quantize', 'dequantize', 'attention', 'bench'] as const;
export type KernelModule = (typeof KERNEL_MODULES)[number];

/** This package's root: one level above both src/ and dist/. */
function packageRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..');
}

/**
 * Where the kernel images live: build/ of this package, or SKVQ_CUDA_BUILD_DIR.
 * `pnpm --filter @skvq/backend-cuda build:native` fills it.
 */
export function nativeBuildDir(): string {
  const fromEnv = process.env.SKVQ_CUDA_BUILD_DIR;
  if (fromEnv) return resolve(fromEnv);
  return join(packageRoot(), 'build');
}

/** The addon node-gyp builds (native/build/Release), or SKVQ_CUDA_ADDON. */
export function addonPath(): string {
  const fromEnv = process.env.SKVQ_CUDA_ADDON;
  if (fromEnv) return resolve(fromEnv);
  return join(packageRoot(), 'native', 'build', 'Release', 'skvq_cuda.node');
}

/**
 * The host emulator addon built beside it (native/emu): the same interface, kernels run on
 * CPU threads. For tests of the kernels' logic on machines without a GPU; never fast.
 */
export function emulatorAddonPath(): string {
  return join(packageRoot(), 'native', 'build', 'Release', 'skvq_cuda_emu.node');
}

/** Which addon to use: the CUDA driver one, or the CPU emulator of the same kernels. */
export type AddonKind = 'cuda' | 'emulator';

export function addonPathOf(kind: AddonKind): string {
  return kind === 'emulator' ? emulatorAddonPath() : addonPath();
}

export function kernelImagePath(module: KernelModule): string {
  return join(nativeBuildDir(), 'kernels', `${module}.fatbin`);
}

export type AddonLoad = { addon: CudaAddon } | { reason: string };

const cache = new Map<AddonKind, AddonLoad>();

/** Loads an addon once; never throws: a missing or broken binary becomes a reason. */
export function loadAddon(kind: AddonKind = 'cuda'): AddonLoad {
  let cached = cache.get(kind);
  if (cached) return cached;
  cached = loadUncached(addonPathOf(kind));
  cache.set(kind, cached);
  return cached;
}

function loadUncached(path: string): AddonLoad {
  const build = 'run pnpm --filter @skvq/backend-cuda build:native';
  if (!existsSync(path)) {
    return { reason: `the CUDA addon is not built (${path} is missing; ${build})` };
  }
  for (const module of KERNEL_MODULES) {
    if (!existsSync(kernelImagePath(module))) {
      return {
        reason: `the CUDA kernels are not built (${kernelImagePath(module)} is missing; ${build})`,
      };
    }
  }
  try {
    const require = createRequire(import.meta.url);
    return { addon: require(path) as CudaAddon };
  } catch (error) {
    return {
      reason: `the CUDA addon ${path} failed to load: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

export function readKernelImage(module: KernelModule): Uint8Array {
  return new Uint8Array(readFileSync(kernelImagePath(module)));
}
