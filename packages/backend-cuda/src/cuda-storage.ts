import {
  type BackendStorage,
  SkvqError,
  type StoreBuffer,
  type StorePurpose,
  type StoreView,
  type TransferStats,
} from '@skvq/core';
import type { CudaDevice, TransferCounter } from './device.js';
import { createStoreKernels } from './store-kernels.js';
import { CudaStoreState } from './store-state.js';
import { CudaStoreBuffer, liveBuffer, resolveRange } from './store-views.js';

/** Per-device state of a storage; rebuilt when the backend opens a new device. */
export interface CudaStoreContext {
  /** The storage the buffers and views belong to. */
  readonly owner: object;
  state(): CudaStoreState;
}

function checkByteLength(byteLength: number, where: string): void {
  if (!Number.isSafeInteger(byteLength) || byteLength < 0 || byteLength % 4 !== 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: byteLength must be a non-negative multiple of 4, got ${String(byteLength)}`,
    );
  }
}

/**
 * Backend-owned KV storage in CUDA device memory (core's BackendStorage, residence
 * 'device'). Buffers are cuMemAlloc'd and zeroed; write is a synchronous host-to-device
 * copy, copy a device-to-device copy, read a device-to-host copy, all on the default
 * stream so they are ordered with the kernels. `transfers` counts every host<->device byte
 * of the device (these calls, the kernels' inputs and outputs, the host-array kernels).
 */
export function createCudaStorage(
  device: () => CudaDevice,
  transfers: TransferCounter,
): BackendStorage {
  const owner = {};
  let nextId = 1;
  let current: CudaStoreState | null = null;
  const context: CudaStoreContext = {
    owner,
    state() {
      const open = device();
      if (current?.device !== open) current = new CudaStoreState(open);
      return current;
    },
  };

  const storage: BackendStorage = {
    residence: 'device',
    allocate(byteLength: number, purpose: StorePurpose): StoreBuffer {
      const where = 'cuda storage allocate';
      checkByteLength(byteLength, where);
      if (purpose !== 'codes' && purpose !== 'meta' && purpose !== 'fp') {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `${where}: purpose must be 'codes', 'meta' or 'fp', got ${String(purpose)}`,
        );
      }
      const allocation = context.state().device.alloc(byteLength).fill(0);
      return new CudaStoreBuffer(owner, nextId++, byteLength, purpose, allocation);
    },
    write(buffer: StoreBuffer, byteOffset: number, data: Uint8Array): void {
      const where = 'cuda storage write';
      if (!(data instanceof Uint8Array)) {
        throw new SkvqError('INVALID_ARGUMENT', `${where}: data must be a Uint8Array`);
      }
      const target = resolveRange(owner, buffer, byteOffset, data.byteLength, where);
      if (data.byteLength === 0) return;
      target.buffer.allocation.upload(data, byteOffset);
    },
    copy(src: StoreView, dst: StoreBuffer, dstOffset: number): void {
      const where = 'cuda storage copy';
      const from = resolveRange(owner, src.buffer, src.byteOffset, src.byteLength, where);
      const to = resolveRange(owner, dst, dstOffset, src.byteLength, where);
      if (src.byteLength === 0) return;
      to.buffer.allocation.copyFrom(
        from.buffer.allocation,
        src.byteOffset,
        dstOffset,
        src.byteLength,
      );
    },
    read(src: StoreView): Uint8Array {
      const where = 'cuda storage read';
      const from = resolveRange(owner, src.buffer, src.byteOffset, src.byteLength, where);
      const out = new Uint8Array(src.byteLength);
      if (out.byteLength > 0) from.buffer.allocation.download(out, src.byteOffset);
      return out;
    },
    release(buffer: StoreBuffer): void {
      const live = liveBuffer(owner, buffer, 'cuda storage release');
      live.released = true;
      // Tables that started at this buffer describe memory that is gone.
      current?.dropTables(`b${live.id}@`);
      live.allocation.dispose();
    },
    transferStats(): TransferStats {
      return { bytesToDevice: transfers.bytesToDevice, bytesFromDevice: transfers.bytesFromDevice };
    },
    kernels: createStoreKernels(context),
  };
  return storage;
}
