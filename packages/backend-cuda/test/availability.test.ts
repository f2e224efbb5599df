import { type BackendPlugin, createRegistry, isSkvqError, NoUsableBackendError } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import {
  CUDA_BACKEND_NAME,
  CUDA_BACKEND_PRIORITY,
  cudaAvailability,
  cudaBackend,
} from '../src/index.js';

const availability = cudaAvailability();

/** A stand-in for the CPU backend: lowest priority, always usable. */
function fakeCpu(): BackendPlugin {
  return { kind: 'backend', name: 'fake-cpu', priority: 0, kernels: {} };
}

describe('cudaAvailability', () => {
  it('answers without throwing, with a reason whenever CUDA is unusable', () => {
    expect(typeof availability.available).toBe('boolean');
    if (!availability.available) expect(availability.reason).toMatch(/\S/);
  });

  it.skipIf(availability.available)(
    `names the missing driver or build on a machine without CUDA${
      availability.available ? ' (skipped: a CUDA driver is present)' : ''
    }`,
    () => {
      expect(availability.reason).toMatch(/no CUDA driver|libcuda|not built|no device|cuInit/);
    },
  );
});

describe('cudaBackend', () => {
  it('is a backend plugin named cuda with priority 100 and the five kernels', () => {
    expect(cudaBackend.kind).toBe('backend');
    expect(cudaBackend.name).toBe(CUDA_BACKEND_NAME);
    expect(cudaBackend.priority).toBe(CUDA_BACKEND_PRIORITY);
    expect(CUDA_BACKEND_PRIORITY).toBe(100);
    for (const k of [
      'quantizeTokens',
      'quantizeBlock',
      'dequantize',
      'attendDecode',
      'attendPrefill',
    ]) {
      expect(typeof (cudaBackend.kernels as Record<string, unknown>)[k]).toBe('function');
    }
  });

  it.skipIf(availability.available)(
    `registry falls through to the CPU with the CUDA reason listed${
      availability.available ? ' (skipped: a CUDA driver is present)' : ''
    }`,
    async () => {
      const cpu = fakeCpu();
      const registry = createRegistry().use(cudaBackend).use(cpu);
      await expect(registry.resolveBackend()).resolves.toBe(cpu);
      const failures = registry.backendFailures();
      expect(failures.map((f) => f.backend)).toEqual(['cuda']);
      expect(failures[0]!.reason).toContain(availability.reason!);
      expect(isSkvqError(failures[0]!.error, 'BACKEND_INIT_FAILED')).toBe(true);
    },
  );

  it.skipIf(availability.available)(
    `lists the CUDA reason when nothing else is usable${
      availability.available ? ' (skipped: a CUDA driver is present)' : ''
    }`,
    async () => {
      const registry = createRegistry().use(cudaBackend);
      const error = await registry.resolveBackend().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NoUsableBackendError);
      expect((error as Error).message).toContain('cuda: init() failed');
    },
  );

  it.skipIf(availability.available)(
    `refuses kernel calls before init() with a typed error${
      availability.available ? ' (skipped: a CUDA driver is present)' : ''
    }`,
    () => {
      const geometry = {
        layers: 1,
        queryHeads: 1,
        kvHeads: 1,
        headDim: 2,
        rope: { style: 'none' as const, theta: 1 },
      };
      const call = () =>
        cudaBackend.kernels.attendDecode!(
          {
            q: new Float32Array(2),
            position: 0,
            keys: [
              {
                kind: 'fp',
                count: 1,
                precision: 'fp32',
                data: new Float32Array(2),
                positions: Int32Array.of(0),
              },
            ],
            values: [
              {
                kind: 'fp',
                count: 1,
                precision: 'fp32',
                data: new Float32Array(2),
                positions: Int32Array.of(0),
              },
            ],
            length: 1,
          },
          { geometry, keysPreRope: true },
        );
      expect(call).toThrow(expect.objectContaining({ code: 'BACKEND_INIT_FAILED' }));
    },
  );
});
