// The page's DOM-free logic: settings validation, the backend choice, fp16 baseline bytes,
// the memory chart and the storage class of each position.
import { createGpujsBackend } from '@skvq/backend-gpujs';
import { backendLabel, SkvqError } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import {
  DEMO_BACKEND_CHOICES,
  parseBackendChoice,
  resolveOptionsFor,
} from '../src/demo/backend-choice.js';
import { createDemoRegistry } from '../src/demo/engine.js';
import { FP16_BYTES, fp16CacheBytes, memoryChartSvg } from '../src/demo/memory.js';
import { parseSettings } from '../src/demo/settings.js';
import { classifyPositions } from '../src/demo/token-classes.js';

const fields = {
  method: 'skvq',
  keyBits: '2',
  valueBits: '1.5',
  window: '16',
  sinks: '5',
  groupSize: '8',
  maxTokens: '32',
  prompt: 'Once',
};

describe('parseSettings', () => {
  it('reads valid fields', () => {
    expect(parseSettings(fields)).toEqual({
      method: 'skvq',
      keyBits: 2,
      valueBits: 1.5,
      window: 16,
      sinks: 5,
      groupSize: 8,
      maxTokens: 32,
      prompt: 'Once',
    });
  });

  it('rejects an unknown method, bits KIVI lacks, and bad counts with SkvqErrors naming them', () => {
    const error = (f: Record<string, string>) => {
      try {
        parseSettings(f);
      } catch (e) {
        return e as SkvqError;
      }
      throw new Error('expected an error');
    };
    const unknown = error({ ...fields, method: 'gptq' });
    expect(unknown).toBeInstanceOf(SkvqError);
    expect(unknown.message).toContain('fp32, rtn, kivi, skvq');
    const kivi = error({ ...fields, method: 'kivi', keyBits: '3' });
    expect(kivi.code).toBe('UNSUPPORTED_BITS');
    expect(kivi.message).toContain('expected 2, 4');
    expect(error({ ...fields, window: '-1' }).code).toBe('INVALID_ARGUMENT');
    expect(error({ ...fields, groupSize: '2.5' }).message).toContain('group size');
  });
});

describe('backend choice', () => {
  it('offers auto and every registered backend, and rejects an unknown one', () => {
    const registry = createDemoRegistry();
    expect(DEMO_BACKEND_CHOICES).toEqual(['auto', ...registry.list('backend').map((b) => b.name)]);
    expect(parseBackendChoice('gpujs')).toBe('gpujs');
    expect(() => parseBackendChoice('webgl')).toThrow(/webgl is unknown; expected auto, webgpu/);
    expect(resolveOptionsFor('auto')).toEqual({});
    expect(resolveOptionsFor('cpu')).toEqual({ only: ['cpu'] });
  });

  it('resolves only the chosen backend; gpu.js without WebGL2 fails instead of falling back', async () => {
    const registry = createDemoRegistry();
    const cpu = await registry.resolveBackend(resolveOptionsFor('cpu'));
    // What it really runs on: Node 20 has WebAssembly SIMD, so decode runs in the module.
    // (then its thread count, or why it runs one thread)
    expect(backendLabel(cpu)).toMatch(/^cpu \(WebAssembly SIMD decode(, |\))/);
    // Node has no WebGL2: the page's gpu.js backend must refuse, naming the mode it lacks.
    await expect(registry.resolveBackend(resolveOptionsFor('gpujs'))).rejects.toThrow(/webgl2/);
  });

  it('labels a gpu.js backend with the mode it actually runs in', async () => {
    const gpujs = createGpujsBackend({ mode: 'cpu' });
    await gpujs.init();
    try {
      expect(backendLabel(gpujs)).toBe('gpujs (cpu)');
    } finally {
      gpujs.dispose();
    }
  });
});

describe('memory', () => {
  const geometry = {
    layers: 5,
    queryHeads: 8,
    kvHeads: 4,
    headDim: 8,
    ropeTheta: 10000,
    rope: 'interleaved',
  } as never;

  it('fp16 bytes count K and V of every layer at 2 bytes', () => {
    expect(fp16CacheBytes(geometry, 0)).toBe(0);
    expect(fp16CacheBytes(geometry, 3)).toBe(3 * 5 * 2 * 32 * FP16_BYTES);
  });

  it('the chart draws both series, scaled so the largest value reaches the top', () => {
    const svg = memoryChartSvg([
      { tokens: 10, bytes: 500, fp16Bytes: 1000 },
      { tokens: 20, bytes: 700, fp16Bytes: 2000 },
    ]);
    expect(svg).toMatch(/^<svg[^>]*>.*<\/svg>$/);
    const points = (series: string) =>
      new RegExp(`data-series="${series}"[^>]*points="([^"]*)"`).exec(svg)![1]!.split(' ');
    expect(points('cache')).toHaveLength(2);
    // The last fp16 point is the maximum: at the top padding (y = 32), the right end (x = 328).
    expect(points('fp16')[1]).toBe('328.0,32.0');
    expect(memoryChartSvg([])).toContain('<svg');
  });
});

describe('classifyPositions', () => {
  it('puts sinks first, the window last, a pending block before it, quantized between', () => {
    const c = classifyPositions({
      tokens: 12,
      sinks: 2,
      window: 3,
      quantized: 5,
      pending: 2,
      dense: false,
    });
    expect(c.join(' ')).toBe(
      'sink sink quantized quantized quantized quantized quantized pending pending window window window',
    );
  });

  it('marks everything fp in a dense cache, and handles a cache shorter than the window', () => {
    expect(
      classifyPositions({ tokens: 3, sinks: 0, window: 0, quantized: 0, pending: 0, dense: true }),
    ).toEqual(['fp', 'fp', 'fp']);
    expect(
      classifyPositions({ tokens: 2, sinks: 2, window: 0, quantized: 0, pending: 0, dense: false }),
    ).toEqual(['sink', 'sink']);
  });
});
