import {
  type AttendDecodeInputs,
  type AttendPrefillInputs,
  type AttentionAttrs,
  type BackendPlugin,
  KERNEL_NAMES,
  type KernelName,
  KernelNotImplementedError,
  type Kernels,
  type MaybePromise,
  type QuantizeBlockInputs,
  type QuantizeTokensInputs,
  SkvqError,
} from '@skvq/core';

/**
 * Every call the caches make into a backend goes through this module, so that a change of
 * the backend contract (one `attend` job per backend) is adapted here and nowhere else.
 */

/** The kernel `name` of `backend`, or a typed error naming kernel and backend. */
function requireKernel<N extends KernelName>(
  backend: BackendPlugin,
  name: N,
): NonNullable<Kernels[N]> {
  if (backend === null || typeof backend !== 'object' || typeof backend.kernels !== 'object') {
    throw new SkvqError('INVALID_PLUGIN', `cache: backend must be a BackendPlugin with kernels`);
  }
  const kernel = backend.kernels[name];
  if (typeof kernel !== 'function') {
    const available = KERNEL_NAMES.filter((k) => typeof backend.kernels[k] === 'function');
    throw new KernelNotImplementedError(name, backend.name, available);
  }
  return kernel.bind(backend.kernels) as NonNullable<Kernels[N]>;
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
  private readonly decode: NonNullable<Kernels['attendDecode']>;
  private readonly prefill: NonNullable<Kernels['attendPrefill']>;

  constructor(
    backend: BackendPlugin,
    needs: KernelNeeds,
    private readonly attrs: AttentionAttrs,
  ) {
    this.tokens = needs.tokens ? requireKernel(backend, 'quantizeTokens') : null;
    this.block = needs.block ? requireKernel(backend, 'quantizeBlock') : null;
    this.decode = requireKernel(backend, 'attendDecode');
    this.prefill = requireKernel(backend, 'attendPrefill');
  }

  quantizeTokens(inputs: QuantizeTokensInputs): MaybePromise<void> {
    return this.tokens!(inputs);
  }

  quantizeBlock(inputs: QuantizeBlockInputs): MaybePromise<void> {
    return this.block!(inputs);
  }

  attendDecode(inputs: AttendDecodeInputs): MaybePromise<Float32Array> {
    return this.decode(inputs, this.attrs);
  }

  attendPrefill(inputs: AttendPrefillInputs): MaybePromise<Float32Array> {
    return this.prefill(inputs, this.attrs);
  }
}
