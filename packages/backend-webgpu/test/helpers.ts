import { describeError } from '@skvq/core';
import { describe, test } from 'vitest';
import { createWebgpuBackend, type WebgpuBackend } from '../src/index.js';

/**
 * One shared backend per test file, or the reason none is available. Without an adapter
 * the suites skip with that reason visible; CI sets SKVQ_REQUIRE_CI_FEATURES=1 (it provides
 * WebGPU through Mesa), and there a missing adapter is a failing test instead.
 */
export async function probeWebgpu(): Promise<{ backend?: WebgpuBackend; reason: string }> {
  const backend = createWebgpuBackend();
  try {
    await backend.init?.();
    return { backend, reason: 'WebGPU adapter available' };
  } catch (error) {
    return { reason: `no WebGPU adapter here: ${describeError(error)}` };
  }
}

const required = process.env.SKVQ_REQUIRE_CI_FEATURES === '1';

/** describe() that runs with a backend, skips visibly without one, fails in CI without one. */
export function describeWebgpu(
  name: string,
  probe: { backend?: WebgpuBackend; reason: string },
  body: (backend: WebgpuBackend) => void,
): void {
  if (probe.backend === undefined) {
    if (required) {
      test(`${name}: WebGPU is required (SKVQ_REQUIRE_CI_FEATURES=1)`, () => {
        throw new Error(probe.reason);
      });
    } else {
      describe.skip(`${name} — skipped: ${probe.reason}`, () => {
        test('needs a WebGPU adapter', () => {});
      });
    }
    return;
  }
  const backend = probe.backend;
  describe(name, () => body(backend));
}

// Data generators live apart from vitest so the browser page can bundle them.
export { activations, permutation, rng } from './random-data.js';
