import {
  type AttendKernel,
  type AttentionAttrs,
  attendKernel,
  type BackendPlugin,
  KERNEL_NAMES,
  type KernelName,
  KernelNotImplementedError,
  type Kernels,
  type KvSegment,
  type MaybePromise,
  type QuantizeBlockInputs,
  type QuantizeTokensInputs,
  SkvqError,
  type StoreKernels,
  type StoreQuantizeBlockInputs,
  type StoreQuantizeTokensInputs,
  type StoreSegment,
} from '@skvq/core';
import type { CacheStore } from './store.js';

/**
 * Every call the caches make into a backend goes through this module: decode and prefill
 * reads are both handed to the backend's one `attend` job (core's decodeJob / prefillJob).
 * A cache on host storage calls the backend's `kernels` with typed arrays; a cache on
 * device storage calls the storage's `kernels` with store views (core storage.ts).
 */

/** A segment as a cache hands it to its kernels: host arrays, or views of device stores. */
export type CacheSegment = KvSegment | StoreSegment;

/** Decode attention over the cache's segments (core AttendDecodeInputs, either residence). */
export interface CacheDecodeInputs {
  q: Float32Array;
  position: number;
  keys: readonly CacheSegment[];
  values: readonly CacheSegment[];
  length: number;
  attentionSums?: Float32Array;
}

/** Prefill attention over the cache's segments (core AttendPrefillInputs, either residence). */
export interface CachePrefillInputs {
  q: Float32Array;
  start: number;
  count: number;
  keys: readonly CacheSegment[];
  values: readonly CacheSegment[];
  length: number;
  attentionSums?: Float32Array;
}

function checkKernelsObject(backend: BackendPlugin): void {
  if (backend === null || typeof backend !== 'object' || typeof backend.kernels !== 'object') {
    throw new SkvqError('INVALID_PLUGIN', `cache: backend must be a BackendPlugin with kernels`);
  }
}

function missing(backend: BackendPlugin, name: KernelName): never {
  const available = KERNEL_NAMES.filter((k) => typeof backend.kernels[k] === 'function');
  throw new KernelNotImplementedError(name, backend.name, available);
}

/** The kernel `name` of `backend`, or a typed error naming kernel and backend. */
function requireKernel<N extends KernelName>(
  backend: BackendPlugin,
  name: N,
): NonNullable<Kernels[N]> {
  checkKernelsObject(backend);
  const kernel = backend.kernels[name];
  if (typeof kernel !== 'function') missing(backend, name);
  return kernel.bind(backend.kernels) as NonNullable<Kernels[N]>;
}

/**
 * The backend's one attention job (its `attend`, or attendDecode and attendPrefill of a
 * backend written before `attend`), or a typed error naming the kernel.
 */
function requireAttend(backend: BackendPlugin): AttendKernel {
  checkKernelsObject(backend);
  return attendKernel(backend.kernels) ?? missing(backend, 'attend');
}

/** Which quantize kernels a cache needs (by the layout kinds of its streams). */
export interface KernelNeeds {
  tokens: boolean;
  block: boolean;
}

/** The store kernel `name` of a device storage, or a typed error naming it and the backend. */
function requireStoreKernel<N extends keyof StoreKernels>(
  backend: BackendPlugin,
  kernels: StoreKernels,
  name: N,
): NonNullable<StoreKernels[N]> {
  const kernel = kernels[name];
  if (typeof kernel !== 'function') {
    const available = (['quantizeTokens', 'quantizeBlock', 'attend'] as const).filter(
      (k) => typeof kernels[k] === 'function',
    );
    throw new KernelNotImplementedError(`storage.kernels.${name}`, backend.name, available);
  }
  return kernel.bind(kernels) as NonNullable<StoreKernels[N]>;
}

/**
 * The kernels one cache uses, resolved once at construction (a missing kernel is a typed
 * error then, not at the first append): the backend's own kernels (host storage) or its
 * storage's kernels (device storage).
 */
export class CacheKernels {
  private readonly tokens: Kernels['quantizeTokens'] | null = null;
  private readonly block: Kernels['quantizeBlock'] | null = null;
  private readonly attend: AttendKernel | null = null;
  private readonly storeTokens: StoreKernels['quantizeTokens'] | null = null;
  private readonly storeBlock: StoreKernels['quantizeBlock'] | null = null;
  private readonly storeAttend: StoreKernels['attend'] | null = null;

  constructor(
    backend: BackendPlugin,
    needs: KernelNeeds,
    private readonly attrs: AttentionAttrs,
    readonly store: CacheStore,
  ) {
    checkKernelsObject(backend);
    const device = store.storage.kernels;
    if (store.device && device !== undefined) {
      if (needs.tokens) this.storeTokens = requireStoreKernel(backend, device, 'quantizeTokens');
      if (needs.block) this.storeBlock = requireStoreKernel(backend, device, 'quantizeBlock');
      this.storeAttend = requireStoreKernel(backend, device, 'attend');
      return;
    }
    this.tokens = needs.tokens ? requireKernel(backend, 'quantizeTokens') : null;
    this.block = needs.block ? requireKernel(backend, 'quantizeBlock') : null;
    this.attend = requireAttend(backend);
  }

  quantizeTokens(inputs: QuantizeTokensInputs): MaybePromise<void> {
    return this.tokens!(inputs);
  }

  quantizeBlock(inputs: QuantizeBlockInputs): MaybePromise<void> {
    return this.block!(inputs);
  }

  /** Device storage: quantize tokens (host rows or rows in the store) into a page's views. */
  quantizeTokensInStore(inputs: StoreQuantizeTokensInputs): MaybePromise<void> {
    return this.storeTokens!(inputs);
  }

  quantizeBlockInStore(inputs: StoreQuantizeBlockInputs): MaybePromise<void> {
    return this.storeBlock!(inputs);
  }

  attendDecode(inputs: CacheDecodeInputs): MaybePromise<Float32Array> {
    const { q, position, keys, values, length, attentionSums } = inputs;
    return this.run({
      q,
      start: position,
      rows: 1,
      causal: false,
      keys,
      values,
      length,
      attentionSums,
    });
  }

  attendPrefill(inputs: CachePrefillInputs): MaybePromise<Float32Array> {
    const { q, start, count, keys, values, length, attentionSums } = inputs;
    return this.run({ q, start, rows: count, causal: true, keys, values, length, attentionSums });
  }

  /** One attention job; every segment of a cache lives where its storage puts it. */
  private run(job: {
    q: Float32Array;
    start: number;
    rows: number;
    causal: boolean;
    keys: readonly CacheSegment[];
    values: readonly CacheSegment[];
    length: number;
    attentionSums?: Float32Array;
  }): MaybePromise<Float32Array> {
    if (this.storeAttend !== null) {
      const keys = job.keys as readonly StoreSegment[];
      const values = job.values as readonly StoreSegment[];
      return this.storeAttend({ ...job, keys, values }, this.attrs);
    }
    const keys = job.keys as readonly KvSegment[];
    const values = job.values as readonly KvSegment[];
    return this.attend!({ ...job, keys, values }, this.attrs);
  }
}
