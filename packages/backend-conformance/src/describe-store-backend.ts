import type { BackendPlugin } from '@skvq/core';
import { describe, it } from 'vitest';
import { ATTENTION_RELATIVE_TOLERANCE } from './compare.js';
import { backendForSuite, type ConformanceSkip } from './describe-backend.js';
import {
  STORE_CONFORMANCE_AREAS,
  type StoreConformanceArea,
  storeConformanceChecks,
} from './store-checks.js';

export interface DescribeStoreBackendOptions {
  /** As in describeBackend: a reason to skip (and whether CI must run it anyway). */
  skip?: ConformanceSkip | false;
  /** Relative tolerance of attention outputs; default ATTENTION_RELATIVE_TOLERANCE. */
  tolerance?: number;
  /** Run only these areas; default all of STORE_CONFORMANCE_AREAS. */
  only?: readonly StoreConformanceArea[];
  /** Per-test timeout in ms (the cache and transfer checks fill 32k-token caches); default 120 s. */
  timeout?: number;
  /**
   * Cached-token counts of the transfer check; default 4,096 and 32,768 (their difference
   * must be a multiple of 224, the check's policy and page period).
   */
  transferContexts?: readonly [number, number];
}

/**
 * The store conformance suite, as vitest tests, for a backend with device storage
 * (`storage.residence === 'device'`): storage round trips (allocate zeroed, write, read,
 * copy at unaligned offsets, transfer counters), store quantize kernels bit exact against
 * the reference quantizers (from host rows and from fp32/fp16 rows in the store), store
 * attend within `tolerance` of the CPU reference (every attendDecode / attendPrefill case
 * of describeBackend, segments at non-zero byte offsets), a QuantizedCache on the backend
 * equal to the one on the CPU reference backend (attention within tolerance, bytes()
 * equal, saveCacheAsync bit for bit, load and continue), and one decode step moving the
 * same number of bytes at 4,096 and 32,768 cached tokens.
 */
export function describeStoreBackend(
  name: string,
  factory: () => BackendPlugin | Promise<BackendPlugin>,
  options: DescribeStoreBackendOptions = {},
): void {
  const tolerance = options.tolerance ?? ATTENTION_RELATIVE_TOLERANCE;
  const areas = new Set(options.only ?? STORE_CONFORMANCE_AREAS);
  const skip = options.skip || undefined;
  const timeout = options.timeout ?? 120_000;
  describe(`store conformance: ${name}`, () => {
    const get = backendForSuite(name, factory, options.skip);
    if (get === undefined) return;
    const checks = storeConformanceChecks(
      tolerance,
      options.transferContexts === undefined ? {} : { transferContexts: options.transferContexts },
    );
    for (const area of STORE_CONFORMANCE_AREAS) {
      if (!areas.has(area)) continue;
      describe(area, () => {
        for (const check of checks.filter((c) => c.area === area)) {
          const run = async () => {
            await check.run(get());
          };
          if (skip !== undefined) it.skip(`${check.name} [skipped: ${skip.reason}]`, run);
          else it(check.name, run, timeout);
        }
      });
    }
  });
}
