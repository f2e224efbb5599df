import { describe, expect, it } from 'vitest';
import {
  type BackendPlugin,
  contiguousGroupOffsets,
  createRegistry,
  getKernel,
  isSkvqError,
  KernelNotImplementedError,
  NoUsableBackendError,
  type QuantizerPlugin,
} from '../src/index.js';

function backend(
  name: string,
  priority: number,
  init?: () => void | Promise<void>,
): BackendPlugin & { inits: number } {
  const b = {
    kind: 'backend' as const,
    name,
    priority,
    inits: 0,
    kernels: { dequantize: () => new Float32Array(0) },
    init: async () => {
      b.inits++;
      await init?.();
    },
  };
  return b;
}

const quantizer: QuantizerPlugin = {
  kind: 'quantizer',
  name: 'rtn',
  supportedBits: [2, 4],
  requiresCalibration: false,
  keyRope: 'any',
  layout: () => ({
    kind: 'token-group',
    channels: 8,
    bits: 2,
    meta: 'fp16',
    perm: null,
    groupOffsets: contiguousGroupOffsets(8, 4),
    alpha: 1,
  }),
};

describe('registry', () => {
  it('registers and looks plugins up by kind and name', () => {
    const r = createRegistry().use(quantizer).use(backend('cpu', 0));
    expect(r.get('quantizer', 'rtn')).toBe(quantizer);
    expect(r.has('backend', 'cpu')).toBe(true);
    expect(r.has('quantizer', 'cpu')).toBe(false);
    expect(r.list('backend').map((b) => b.name)).toEqual(['cpu']);
  });

  it('is an instance: two registries share nothing', () => {
    const a = createRegistry().use(quantizer);
    const b = createRegistry();
    expect(a.has('quantizer', 'rtn')).toBe(true);
    expect(b.has('quantizer', 'rtn')).toBe(false);
  });

  it('throws DUPLICATE_PLUGIN for a second plugin of the same kind and name', () => {
    const r = createRegistry().use(quantizer);
    expect(() => r.use({ ...quantizer })).toThrowError(/already registered/);
    try {
      r.use({ ...quantizer });
    } catch (error) {
      expect(isSkvqError(error, 'DUPLICATE_PLUGIN')).toBe(true);
    }
    // the same name under another kind is fine
    expect(() => r.use(backend('rtn', 1))).not.toThrow();
  });

  it('names the registered plugins when a lookup fails', () => {
    const r = createRegistry().use(quantizer);
    expect(() => r.get('quantizer', 'kivi')).toThrowError(
      /no quantizer plugin named "kivi"; registered: rtn/,
    );
  });

  it('rejects malformed plugins', () => {
    const r = createRegistry();
    expect(() => r.use({ kind: 'nonsense', name: 'x' } as never)).toThrowError(
      /expected quantizer, policy/,
    );
    expect(() => r.use({ ...backend('b', Number.NaN) })).toThrowError(/priority/);
  });

  it('resolves backends by priority and awaits init()', async () => {
    const low = backend('low', 1);
    const high = backend('high', 10);
    const r = createRegistry().use(low).use(high);
    expect((await r.resolveBackend()).name).toBe('high');
    expect(high.inits).toBe(1);
    expect(low.inits).toBe(0);
    // init is not repeated for a backend that is ready
    await r.resolveBackend();
    expect(high.inits).toBe(1);
  });

  it('falls through to the next backend when init() fails, and remembers the failure', async () => {
    const broken = backend('gpu', 10, () => {
      throw new Error('no adapter');
    });
    const cpu = backend('cpu', 0);
    const r = createRegistry().use(cpu).use(broken);
    expect((await r.resolveBackend()).name).toBe('cpu');
    expect(r.backendFailures()).toEqual([
      expect.objectContaining({ backend: 'gpu', reason: 'init() failed: no adapter' }),
    ]);
    await r.resolveBackend();
    expect(broken.inits).toBe(1);
  });

  it('throws one error listing every backend and why when none is usable', async () => {
    const r = createRegistry()
      .use(backend('webgpu', 10, () => Promise.reject(new Error('navigator.gpu is undefined'))))
      .use(
        backend('cuda', 20, () => {
          throw new Error('no CUDA driver');
        }),
      );
    const error = await r.resolveBackend().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoUsableBackendError);
    const e = error as NoUsableBackendError;
    expect(e.code).toBe('NO_USABLE_BACKEND');
    expect(e.failures.map((f) => f.backend)).toEqual(['cuda', 'webgpu']);
    expect(e.message).toContain('cuda: init() failed: no CUDA driver');
    expect(e.message).toContain('webgpu: init() failed: navigator.gpu is undefined');
  });

  it('reports an empty registry clearly', async () => {
    await expect(createRegistry().resolveBackend()).rejects.toThrowError(
      /no backend is registered/,
    );
  });

  it('skips backends that lack a required kernel, with that reason', async () => {
    const r = createRegistry().use(backend('partial', 5));
    await expect(r.resolveBackend({ requireKernels: ['attendDecode'] })).rejects.toThrowError(
      /partial: lacks kernel\(s\) attendDecode/,
    );
  });

  it('honours an explicit backend order', async () => {
    const r = createRegistry().use(backend('a', 10)).use(backend('b', 1));
    expect((await r.resolveBackend({ only: ['b'] })).name).toBe('b');
    await expect(r.resolveBackend({ only: ['c'] })).rejects.toThrowError(
      /no backend plugin named "c"/,
    );
  });

  it('getKernel throws a typed error naming kernel and backend', () => {
    const b = backend('cpu', 0);
    expect(typeof getKernel(b, 'dequantize')).toBe('function');
    try {
      getKernel(b, 'attendDecode');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(KernelNotImplementedError);
      expect((error as KernelNotImplementedError).message).toBe(
        'backend "cpu" does not implement kernel "attendDecode"; it implements: dequantize',
      );
    }
  });

  it('disposes initialised backends', async () => {
    let disposed = 0;
    const b = { ...backend('cpu', 0), dispose: () => void disposed++ };
    const r = createRegistry().use(b);
    await r.resolveBackend();
    await r.dispose();
    expect(disposed).toBe(1);
  });
});
