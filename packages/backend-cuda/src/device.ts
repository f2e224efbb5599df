import { SkvqError } from '@skvq/core';
import { cudaAvailability } from './availability.js';
import { cudaError, guard } from './errors.js';
import {
  type AddonKind,
  type CudaAddon,
  type CudaDeviceInfo,
  KERNEL_MODULES,
  type KernelModule,
  loadAddon,
  readKernelImage,
} from './native.js';
import type { KernelArgs } from './params.js';
import { KERNEL_SIGNATURES } from './signatures.js';

/** Throws unless `args` has exactly the types of kernel `name` (signatures.ts). */
export function assertSignature(name: string, args: KernelArgs): void {
  const expected = KERNEL_SIGNATURES[name];
  const actual = args.types();
  if (!expected || expected.length !== actual.length || expected.some((t, i) => t !== actual[i])) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `kernel ${name}: arguments (${actual.join(', ')}) do not match its signature (${expected?.join(', ') ?? 'unknown kernel'})`,
    );
  }
}

/** A device allocation. Owned explicitly: call dispose() (or CudaDevice.dispose()). */
export class DeviceBuffer {
  private freed = false;

  constructor(
    private readonly device: CudaDevice,
    readonly ptr: bigint,
    readonly bytes: number,
  ) {}

  get disposed(): boolean {
    return this.freed;
  }

  /** @internal */
  check(where: string, byteOffset: number, length: number) {
    if (this.freed) {
      throw new SkvqError('INVALID_ARGUMENT', `DeviceBuffer.${where}: the buffer was disposed`);
    }
    if (!Number.isInteger(byteOffset) || byteOffset < 0 || byteOffset + length > this.bytes) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `DeviceBuffer.${where}: ${length} bytes at offset ${byteOffset} do not fit in ${this.bytes} bytes`,
        { details: { byteOffset, length, bytes: this.bytes } },
      );
    }
  }

  upload(data: ArrayBufferView, byteOffset = 0): this {
    this.check('upload', byteOffset, data.byteLength);
    guard('upload', () => this.device.addon.upload(this.ptr, byteOffset, data));
    this.device.transfers.bytesToDevice += data.byteLength;
    return this;
  }

  download<T extends ArrayBufferView>(out: T, byteOffset = 0): T {
    this.check('download', byteOffset, out.byteLength);
    guard('download', () => this.device.addon.download(this.ptr, byteOffset, out));
    this.device.transfers.bytesFromDevice += out.byteLength;
    return out;
  }

  /** Copies `length` bytes of `src` at `srcOffset` here at `byteOffset`, on the device. */
  copyFrom(src: DeviceBuffer, srcOffset: number, byteOffset: number, length: number): this {
    src.check('copyFrom (source)', srcOffset, length);
    this.check('copyFrom', byteOffset, length);
    guard('copy', () =>
      this.device.addon.copy(this.ptr + BigInt(byteOffset), src.ptr + BigInt(srcOffset), length),
    );
    return this;
  }

  fill(value: number, byteOffset = 0, length = this.bytes - byteOffset): this {
    this.check('fill', byteOffset, length);
    guard('memset', () => this.device.addon.memset(this.ptr + BigInt(byteOffset), value, length));
    return this;
  }

  dispose(): void {
    if (this.freed) return;
    this.freed = true;
    this.device.release(this);
  }
}

export interface LaunchConfig {
  grid: readonly [number, number?, number?];
  block: readonly [number, number?, number?];
  sharedBytes?: number;
}

/** Cumulative host<->device bytes (core's TransferStats); uploads and downloads add to it. */
export interface TransferCounter {
  bytesToDevice: number;
  bytesFromDevice: number;
}

/**
 * One CUDA device with the package's kernel modules loaded: allocation, copies, launches.
 * A resource: create with CudaDevice.open(), release with dispose().
 */
export class CudaDevice {
  private readonly functions = new Map<string, number>();
  private readonly sharedOptIn = new Map<number, number>();
  private readonly buffers = new Set<DeviceBuffer>();
  private readonly modules = new Map<KernelModule, number>();
  private open = true;
  readonly info: CudaDeviceInfo;

  private constructor(
    readonly addon: CudaAddon,
    /** Every upload and download of this device's buffers counts here. */
    readonly transfers: TransferCounter,
  ) {
    this.info = guard('deviceInfo', () => addon.deviceInfo());
    for (const module of KERNEL_MODULES) {
      const image = readKernelImage(module);
      this.modules.set(
        module,
        guard(`loading kernel module ${module}`, () => addon.loadModule(image)),
      );
    }
  }

  /**
   * Opens device `ordinal`; throws BACKEND_INIT_FAILED with the reason when unusable.
   * `addon: 'emulator'` runs the same kernels on CPU threads (tests without a GPU).
   * The addon holds one context per process: open one CudaDevice per addon at a time.
   */
  static open(
    ordinal = 0,
    options: { addon?: AddonKind; transfers?: TransferCounter } = {},
  ): CudaDevice {
    const kind = options.addon ?? 'cuda';
    const availability = cudaAvailability(kind);
    if (!availability.available) {
      throw new SkvqError(
        'BACKEND_INIT_FAILED',
        `cuda backend unavailable: ${availability.reason}`,
        {
          details: { reason: availability.reason },
        },
      );
    }
    const load = loadAddon(kind);
    if ('reason' in load) throw new SkvqError('BACKEND_INIT_FAILED', load.reason);
    try {
      load.addon.init(ordinal);
      return new CudaDevice(
        load.addon,
        options.transfers ?? { bytesToDevice: 0, bytesFromDevice: 0 },
      );
    } catch (error) {
      throw cudaError(error, `opening device ${ordinal}`, 'BACKEND_INIT_FAILED');
    }
  }

  private assertOpen(where: string) {
    if (!this.open) throw new SkvqError('INVALID_ARGUMENT', `CudaDevice.${where}: device disposed`);
  }

  alloc(bytes: number): DeviceBuffer {
    this.assertOpen('alloc');
    if (!Number.isInteger(bytes) || bytes < 0) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `CudaDevice.alloc: bytes ${bytes} must be a non-negative integer`,
      );
    }
    // cuMemAlloc rejects 0 bytes: keep one byte so every buffer has an address.
    const ptr = guard(`alloc(${bytes})`, () => this.addon.alloc(Math.max(bytes, 1)));
    const buffer = new DeviceBuffer(this, ptr, bytes);
    this.buffers.add(buffer);
    return buffer;
  }

  /** Allocates and uploads a typed array. */
  upload(data: ArrayBufferView): DeviceBuffer {
    return this.alloc(data.byteLength).upload(data);
  }

  /** @internal Called by DeviceBuffer.dispose(). */
  release(buffer: DeviceBuffer): void {
    if (!this.buffers.delete(buffer)) return;
    guard('free', () => this.addon.free(buffer.ptr));
  }

  private fn(module: KernelModule, name: string): number {
    const key = `${module}:${name}`;
    let id = this.functions.get(key);
    if (id === undefined) {
      const moduleId = this.modules.get(module)!;
      id = guard(`kernel ${name}`, () => this.addon.getFunction(moduleId, name));
      this.functions.set(key, id);
    }
    return id;
  }

  launch(module: KernelModule, name: string, config: LaunchConfig, args: KernelArgs): void {
    this.assertOpen('launch');
    assertSignature(name, args);
    const id = this.fn(module, name);
    const shared = config.sharedBytes ?? 0;
    // Above 48 KiB of dynamic shared memory a kernel must opt in once.
    if (shared > 48 * 1024 && (this.sharedOptIn.get(id) ?? 0) < shared) {
      if (shared > this.info.maxSharedBytesPerBlock) {
        throw new SkvqError(
          'UNSUPPORTED_OPTION',
          `${name} needs ${shared} bytes of shared memory; ${this.info.name} allows ${this.info.maxSharedBytesPerBlock}`,
        );
      }
      guard(`${name} shared memory`, () => this.addon.setMaxDynamicShared(id, shared));
      this.sharedOptIn.set(id, shared);
    }
    const [gx, gy = 1, gz = 1] = config.grid;
    const [bx, by = 1, bz = 1] = config.block;
    guard(`launch ${name}`, () =>
      this.addon.launch(id, gx, gy, gz, bx, by, bz, shared, args.data(), args.offsets()),
    );
  }

  synchronize(): void {
    guard('synchronize', () => this.addon.synchronize());
  }

  /** Frees every buffer still allocated, unloads the modules and releases the context. */
  dispose(): void {
    if (!this.open) return;
    for (const buffer of [...this.buffers]) buffer.dispose();
    this.open = false;
    guard('dispose', () => this.addon.dispose());
  }
}
