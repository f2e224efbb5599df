import {
  type AttendDecodeInputs,
  type AttendKernel,
  type AttendPrefillInputs,
  type AttentionAttrs,
  attendKernel,
  type BackendPlugin,
  decodeJob,
  KERNEL_NAMES,
  type KernelName,
  KernelNotImplementedError,
  type Kernels,
  type MaybePromise,
  prefillJob,
  type QuantizeBlockInputs,
  type QuantizeTokensInputs,
  SkvqError,
} from '@skvq/core';

/**
 * Every call the caches make into a backend goes through this module: decode and prefill
 * reads are both handed to the backend's one `attend` job (core's decodeJob / prefillJob).
 */

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

/**
 * The kernels one cache uses, resolved once at construction (a missing kernel is a typed
 * error then, not at the first append).
 */
export class CacheKernels {
  private readonly tokens: Kernels['quantizeTokens'] | null;
  private readonly block: Kernels['quantizeBlock'] | null;
  private readonly attend: AttendKernel;

  constructor(
    backend: BackendPlugin,
    needs: KernelNeeds,
    private readonly attrs: AttentionAttrs,
  ) {
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

  attendDecode(inputs: AttendDecodeInputs): MaybePromise<Float32Array> {
    return this.attend(decodeJob(inputs), this.attrs);
  }

  attendPrefill(inputs: AttendPrefillInputs): MaybePromise<Float32Array> {
    return this.attend(prefillJob(inputs), this.attrs);
  }
}
