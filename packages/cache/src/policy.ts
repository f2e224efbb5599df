import { SkvqError, type TokenPolicy } from '@skvq/core';
import { checkSinksLimit } from './limits.js';
import { DEFAULT_SINKS, DEFAULT_WINDOW, type QuantizedCacheOptions } from './quantized-options.js';

/** The token policy of `layer`, from a policy plugin or a per-layer factory, checked. */
export function createLayerPolicy(options: QuantizedCacheOptions, layer: number): TokenPolicy {
  const { policy } = options;
  let created: TokenPolicy;
  if (typeof policy === 'function') {
    created = policy(layer);
  } else if (policy !== null && typeof policy === 'object' && policy.kind === 'policy') {
    const rules = options.rules;
    created = policy.create({
      window: options.window ?? DEFAULT_WINDOW,
      sinks: options.sinks ?? DEFAULT_SINKS,
      ...(rules === undefined ? {} : { rules: typeof rules === 'function' ? rules(layer) : rules }),
    });
  } else {
    throw new SkvqError(
      'INVALID_PLUGIN',
      'createQuantizedCache: policy must be a PolicyPlugin or a function (layer) => TokenPolicy',
    );
  }
  if (
    created === null ||
    typeof created !== 'object' ||
    typeof created.admit !== 'function' ||
    !Number.isInteger(created.window) ||
    created.window < 0 ||
    !Number.isInteger(created.sinks) ||
    created.sinks < 0
  ) {
    throw new SkvqError(
      'INVALID_PLUGIN',
      `createQuantizedCache: the policy of layer ${layer} must have integer window >= 0, sinks >= 0 and admit()`,
    );
  }
  checkSinksLimit(created.sinks, 'createQuantizedCache');
  return created;
}
