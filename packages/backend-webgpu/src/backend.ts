import {
  type AttendKernel,
  type BackendPlugin,
  decodeAndPrefill,
  type Kernels,
  SkvqError,
  type TransferStats,
} from '@skvq/core';
import { attendWebgpu } from './attention.js';
import { WEBGPU_BACKEND_NAME, WEBGPU_PRIORITY } from './constants.js';
import { dequantizeWebgpu } from './dequantize.js';
import { acquireDevice } from './device.js';
import { GpuContext } from './gpu-context.js';
import { quantizeBlockWebgpu, quantizeTokensWebgpu } from './quantize.js';
import { attendStore, RopeBuffers } from './store/attend-store.js';
import { createWebgpuStorage, type WebgpuStorage } from './store/device-storage.js';
import { AuxBuffers, quantizeBlockStore, quantizeTokensStore } from './store/quantize-store.js';
import { TablesRegistry } from './store/tables-registry.js';

export interface WebgpuBackendOptions {
  /** A device to use; without it init() acquires one (navigator.gpu, or Node's `webgpu`). */
  device?: GPUDevice;
  /** Registry name (default 'webgpu'). */
  name?: string;
  /** Registry priority (default WEBGPU_PRIORITY, above the CPU backends). */
  priority?: number;
  /**
   * Caps the bytes of any one buffer binding below the device's limits; smaller values make
   * attention run query rows in more batches (tests use it to exercise batching).
   */
  maxBindingBytes?: number;
  /**
   * Largest arena of the device storage in bytes (default: the binding limit). Store
   * buffers are sub-allocated from arenas; smaller values make tests use several.
   */
  arenaBytes?: number;
}

/** The backend plugin plus access to its context (tests, benchmarks). */
export interface WebgpuBackend extends BackendPlugin {
  /** The context after init(); throws BACKEND_INIT_FAILED before. */
  context(): GpuContext;
  /** KV bytes live in GPU buffers: the cache writes, quantizes and attends in place. */
  readonly storage: WebgpuStorage;
  transferStats(): TransferStats;
}

/**
 * A WebGPU backend. Kernels take and return host typed arrays (core/src/kernels.ts); each
 * call uploads its inputs, runs WGSL kernels and reads the result back. Its `storage`
 * keeps a cache's KV bytes in GPU buffers instead (store/device-storage.ts), and its store
 * kernels quantize and attend there, so a decode step uploads the query and the new token,
 * not the context; `transferStats()` counts every byte either path moves. A device passed in
 * stays the caller's (dispose() leaves it alive); one acquired by init() is destroyed.
 */
export function createWebgpuBackend(options: WebgpuBackendOptions = {}): WebgpuBackend {
  const name = options.name ?? WEBGPU_BACKEND_NAME;
  let ctx: GpuContext | undefined;
  let pending: Promise<void> | undefined;
  const context = (): GpuContext => {
    if (ctx === undefined) {
      throw new SkvqError(
        'BACKEND_INIT_FAILED',
        `backend "${name}": call init() before running kernels`,
      );
    }
    return ctx;
  };
  // The one attention job (decode: one non-causal row; prefill: causal rows).
  const attend: AttendKernel = (job, attrs) => attendWebgpu(context(), job, attrs);
  const kernels: Kernels = {
    quantizeTokens: (inputs) => quantizeTokensWebgpu(context(), inputs),
    quantizeBlock: (inputs) => quantizeBlockWebgpu(context(), inputs),
    dequantize: (inputs) => dequantizeWebgpu(context(), inputs),
    attend,
    ...decodeAndPrefill(attend),
  };
  // Device-resident state of the store kernels; dropped with the context on dispose().
  const registry = new TablesRegistry(context);
  const ropes = new RopeBuffers();
  const auxBuffers = new AuxBuffers();
  const storage = createWebgpuStorage({
    context,
    ...(options.arenaBytes === undefined ? {} : { arenaBytes: options.arenaBytes }),
    kernels: (store) => ({
      quantizeTokens: (inputs) => quantizeTokensStore(context(), store, auxBuffers, inputs),
      quantizeBlock: (inputs) => quantizeBlockStore(context(), store, auxBuffers, inputs),
      attend: (inputs, attrs) => attendStore(context(), store, registry, ropes, inputs, attrs),
    }),
  });
  return {
    kind: 'backend',
    name,
    description: 'WGSL kernels: quantize-and-append and fused attention over packed pages',
    priority: options.priority ?? WEBGPU_PRIORITY,
    kernels,
    context,
    storage,
    transferStats: () => storage.transferStats(),
    label: () => (ctx === undefined ? name : `${name} (${adapterName(ctx.device)})`),
    init() {
      if (ctx !== undefined) return;
      pending ??= (async () => {
        const device = options.device ?? (await acquireDevice());
        ctx = new GpuContext(device, options.device === undefined, options.maxBindingBytes);
      })().finally(() => {
        pending = undefined;
      });
      return pending;
    },
    dispose() {
      storage.dispose();
      registry.dispose();
      ropes.dispose();
      auxBuffers.dispose();
      ctx?.dispose();
      ctx = undefined;
    },
  };
}

/** The adapter a device runs on, as far as the implementation says (GPUDevice.adapterInfo). */
function adapterName(device: GPUDevice): string {
  const info = (
    device as { adapterInfo?: { description?: string; vendor?: string; architecture?: string } }
  ).adapterInfo;
  const parts = [info?.description, info?.vendor, info?.architecture].filter(
    (part): part is string => typeof part === 'string' && part.length > 0,
  );
  return parts.length > 0 ? parts.join(', ') : 'GPU device';
}
