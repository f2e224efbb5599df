import { cpuBackend } from '@skvq/backend-cpu';
import { createRegistry, isSkvqError, SkvqError } from '@skvq/core';
import { describe, expect, test } from 'vitest';
import {
  createGpujsBackend,
  GPUJS_BACKEND_NAME,
  GPUJS_PRIORITY,
  type GpujsModule,
} from '../src/index.js';

/** A gpu.js stand-in whose kernels return `values` and whose classes say `cls`. */
function fakeModule(values: number[], kernelClass: 'cpu' | 'other'): GpujsModule {
  class CPUKernel {}
  class Other {}
  const made = kernelClass === 'cpu' ? new CPUKernel() : new Other();
  class GPU {
    createKernel() {
      const fn = () => new Float32Array(values);
      return Object.assign(fn, { kernel: made });
    }
    destroy() {}
  }
  return { GPU, CPUKernel } as unknown as GpujsModule;
}

describe('createGpujsBackend', () => {
  test('name, priority and kernels before init()', () => {
    const backend = createGpujsBackend();
    expect(backend.name).toBe(GPUJS_BACKEND_NAME);
    expect(backend.priority).toBe(GPUJS_PRIORITY);
    expect(() => backend.mode()).toThrow(SkvqError);
  });

  test('bad options are UNSUPPORTED_OPTION naming what is allowed', () => {
    const bad = [
      () => createGpujsBackend({ mode: 'cuda' as never }),
      () => createGpujsBackend({ require: ['gpu' as never] }),
      () => createGpujsBackend({ maxSliceTokens: 100 }),
      () => createGpujsBackend({ maxSliceTokens: 32 }),
    ];
    for (const make of bad) {
      let error: unknown;
      try {
        make();
      } catch (e) {
        error = e;
      }
      expect(isSkvqError(error, 'UNSUPPORTED_OPTION')).toBe(true);
    }
  });

  test('a mode Node lacks fails init with the reason', async () => {
    const backend = createGpujsBackend({ mode: 'webgl2' });
    const error = await backend.init().catch((e: unknown) => e);
    expect(isSkvqError(error, 'BACKEND_INIT_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/webgl2/);
  });

  test('require: a silent fallback fails init, naming the mode that would have run', async () => {
    const backend = createGpujsBackend({
      gpujs: fakeModule([2, 4, 7, 9], 'cpu'),
      require: 'webgl2',
    });
    const error = await backend.init().catch((e: unknown) => e);
    expect(isSkvqError(error, 'BACKEND_INIT_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/runs in mode cpu here; required webgl2/);
    const ok = createGpujsBackend({ gpujs: fakeModule([2, 4, 7, 9], 'cpu'), require: 'cpu' });
    await ok.init();
    expect(ok.mode()).toBe('cpu');
  });

  test('a gpu.js that computes wrong answers is refused at init', async () => {
    const backend = createGpujsBackend({ gpujs: fakeModule([0, 0, 0, 0], 'cpu') });
    const error = await backend.init().catch((e: unknown) => e);
    expect(isSkvqError(error, 'BACKEND_INIT_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/does not compute here/);
  });

  test('the registry falls through to the CPU backend and keeps the reason', async () => {
    const registry = createRegistry()
      .use(createGpujsBackend({ gpujs: fakeModule([2, 4, 7, 9], 'cpu'), require: 'headlessgl' }))
      .use(cpuBackend);
    const chosen = await registry.resolveBackend();
    expect(chosen.name).toBe(cpuBackend.name);
  });

  test('the real gpu.js in cpu mode initialises and reports its mode', async () => {
    const backend = createGpujsBackend({ mode: 'cpu', require: 'cpu' });
    await backend.init();
    expect(backend.mode()).toBe('cpu');
    backend.dispose();
    expect(() => backend.mode()).toThrow(SkvqError);
  });
});
