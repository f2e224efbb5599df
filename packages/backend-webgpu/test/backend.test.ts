import { createRegistry, isSkvqError, SkvqError } from '@skvq/core';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createWebgpuBackend, WEBGPU_BACKEND_NAME, WEBGPU_PRIORITY } from '../src/index.js';

// These run everywhere: they stub navigator.gpu, so no adapter is needed.
describe('createWebgpuBackend without a usable adapter', () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  test('init() throws BACKEND_INIT_FAILED naming the missing adapter and the Mesa packages', async () => {
    vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => null } });
    const backend = createWebgpuBackend();
    const error = await Promise.resolve(backend.init?.()).catch((e: unknown) => e);
    expect(isSkvqError(error, 'BACKEND_INIT_FAILED')).toBe(true);
    expect((error as SkvqError).message).toMatch(/no adapter/);
    expect((error as SkvqError).message).toMatch(/libegl-mesa0/);
  });

  test('the registry reports the reason and falls through to the next backend', async () => {
    vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => null } });
    const fallback = { kind: 'backend' as const, name: 'fallback', priority: 0, kernels: {} };
    const registry = createRegistry().use(createWebgpuBackend()).use(fallback);
    const chosen = await registry.resolveBackend();
    expect(chosen.name).toBe('fallback');
  });

  test('kernels before init() throw BACKEND_INIT_FAILED instead of touching a device', () => {
    const backend = createWebgpuBackend();
    expect(backend.name).toBe(WEBGPU_BACKEND_NAME);
    expect(backend.priority).toBe(WEBGPU_PRIORITY);
    expect(() => backend.context()).toThrow(SkvqError);
  });
});
