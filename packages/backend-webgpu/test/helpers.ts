import { describeError, mulberry32 } from '@skvq/core';
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

/** Deterministic pseudo-random numbers (core's mulberry32) so failures reproduce. */
export const rng = mulberry32;

/** Activations with per-channel spread and a few outlier channels, like real K/V. */
export function activations(random: () => number, tokens: number, channels: number): Float32Array {
  const x = new Float32Array(tokens * channels);
  for (let c = 0; c < channels; c++) {
    const spread = c % 7 === 0 ? 8 : 0.5 + random();
    const offset = (random() - 0.5) * 2;
    for (let t = 0; t < tokens; t++) x[t * channels + c] = offset + (random() * 2 - 1) * spread;
  }
  return x;
}

/** A random permutation of 0..n-1. */
export function permutation(random: () => number, n: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = p[i] as number;
    p[i] = p[j] as number;
    p[j] = t;
  }
  return p;
}
