import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type BitWidth,
  type MetaFormat,
  metaBytesPerUnit,
  rowCodeBytes,
  type TokenGroupLayout,
} from '@skvq/core';
import { quantizeTokensReference } from '@skvq/formats';
import { describe, expect, it } from 'vitest';
import { assembleWat } from '../scripts/assemble-wat.mjs';
import {
  QUANTIZE_BATCH_TOKENS,
  quantizeTokensFast,
  quantizeTokensJs,
} from '../src/fast-quantize.js';
import { quantizeWasm } from '../src/quantize-wasm.js';
import { QUANTIZE_WASM_BASE64 } from '../src/quantize-wasm-bytes.js';
import { rng } from './helpers.js';

type Kernel = typeof quantizeTokensFast;

/** Runs a kernel on fresh (garbage-filled) outputs; returns its bytes or its error. */
function run(
  kernel: Kernel | 'reference',
  layout: TokenGroupLayout,
  x: Float32Array,
  count: number,
) {
  const codes = new Uint8Array(count * rowCodeBytes(layout) + 7).fill(0xa5);
  const meta = new Uint8Array(count * metaBytesPerUnit(layout) + 5).fill(0x5a);
  let error: unknown = null;
  try {
    if (kernel === 'reference') quantizeTokensReference(layout, x, count, codes, 3, meta, 2);
    else kernel({ layout, x, count, codes, codesOffset: 3, meta, metaOffset: 2 });
  } catch (e) {
    error = e;
  }
  const e = error as { code?: string; message?: string } | null;
  return {
    codes,
    meta,
    error: e === null ? null : `${e.code}: ${e.message?.replace(/^[^:]*:/, '')}`,
  };
}

function randomLayout(r: () => number, bits: BitWidth, meta: MetaFormat): TokenGroupLayout {
  const channels = 1 + Math.floor(r() * 300);
  const permuted = r() < 0.7;
  const perm = permuted ? Uint32Array.from({ length: channels }, (_, i) => i) : null;
  if (perm !== null) {
    for (let i = channels - 1; i > 0; i--) {
      const j = Math.floor(r() * (i + 1));
      [perm[i], perm[j]] = [perm[j] as number, perm[i] as number];
    }
  }
  const groups = 1 + Math.floor(r() * Math.min(channels, 12));
  const cuts = new Set<number>();
  while (cuts.size < groups - 1) cuts.add(1 + Math.floor(r() * (channels - 1)));
  const groupOffsets = Uint32Array.from([0, ...[...cuts].sort((a, b) => a - b), channels]);
  const alpha = [1, 0.95, 0.92, 0.5 + 0.5 * r()][Math.floor(r() * 4)] as number;
  return { kind: 'token-group', channels, bits, meta, perm, groupOffsets, alpha };
}

/** Values of one kind per token: the edges the float32 steps and the metadata formats meet. */
function values(r: () => number, n: number, kind: number, meta: MetaFormat): Float32Array {
  const x = new Float32Array(n);
  const big = meta === 'fp8e4m3' ? 300 : meta === 'fp16' ? 40000 : 1e30;
  for (let i = 0; i < n; i++) {
    const u = r();
    switch (kind) {
      case 0: // ordinary activations
        x[i] = (r() + r() + r() - 1.5) * 3;
        break;
      case 1: // signed zeros, mixed with a few small values
        x[i] = u < 0.4 ? 0 : u < 0.8 ? -0 : (r() - 0.5) * 1e-3;
        break;
      case 2: // constant
        x[i] = 1.25;
        break;
      case 3: // tiny (fp8/fp16 subnormal scales and zeros)
        x[i] = (r() - 0.3) * 1e-6;
        break;
      case 4: // near the top of the format's range
        x[i] = (r() - 0.5) * 2 * big;
        break;
      case 5: // multiples of a coarse step: values at exact half-steps of the grid
        x[i] = Math.floor(r() * 16) * 0.125 - 1;
        break;
      default: // all non-negative, with zeros first or last
        x[i] = u < 0.3 ? 0 : r() * 5;
    }
  }
  return x;
}

const BITS: BitWidth[] = [8, 4, 3, 2, 1.5];
const METAS: MetaFormat[] = ['fp32', 'fp16', 'fp8e4m3'];

describe('WebAssembly quantize module', () => {
  it('the committed bytes are the assembled wasm/quantize.wat (run pnpm build:wasm)', async () => {
    const wat = await readFile(join(import.meta.dirname, '../wasm/quantize.wat'), 'utf8');
    expect(await assembleWat(wat)).toBe(QUANTIZE_WASM_BASE64);
  });

  it('instantiates under Node 20 (SIMD available)', () => {
    expect(quantizeWasm()).not.toBeNull();
  });
});

describe('quantizeTokens (cpu): the reference bytes on random layouts and edge values', () => {
  let seed = 9000;
  for (const bits of BITS) {
    for (const meta of METAS) {
      const caseSeed = seed++;
      it(`${bits} bits, ${meta} metadata: 25 random layouts x 7 kinds of values`, () => {
        const r = rng(caseSeed);
        for (let l = 0; l < 25; l++) {
          const layout = randomLayout(r, bits, meta);
          const kind = l % 7;
          // Batches that are not multiples of the module's batch, and single tokens.
          const count = l % 3 === 0 ? 1 : 1 + Math.floor(r() * (QUANTIZE_BATCH_TOKENS + 20));
          const x = values(r, count * layout.channels, kind, meta);
          const want = run('reference', layout, x, count);
          for (const kernel of [quantizeTokensFast, quantizeTokensJs]) {
            const got = run(kernel, layout, x, count);
            expect(got.error, `layout ${l} kind ${kind}`).toBe(want.error);
            expect(got.codes, `codes, layout ${l} kind ${kind}`).toEqual(want.codes);
            expect(got.meta, `meta, layout ${l} kind ${kind}`).toEqual(want.meta);
          }
        }
      });
    }
  }

  it('a zero minimum keeps the sign the reference meets first (+0 before -0 and after)', () => {
    for (const meta of METAS) {
      for (const order of [
        [0, -0, 1, 2, 3],
        [-0, 0, 1, 2, 3],
        [1, 2, 3, 0, -0, 4, 5, 6, 7],
        [1, 2, 3, -0, 0, 4, 5, 6, 7],
      ]) {
        const channels = order.length;
        const layout: TokenGroupLayout = {
          kind: 'token-group',
          channels,
          bits: 2,
          meta,
          perm: null,
          groupOffsets: Uint32Array.from([0, channels]),
          alpha: 1,
        };
        const x = Float32Array.from(order);
        const want = run('reference', layout, x, 1);
        expect(run(quantizeTokensFast, layout, x, 1)).toEqual(want);
      }
    }
  });

  it('out-of-range metadata: the same error, the earlier tokens written as the reference leaves them', () => {
    const r = rng(77);
    for (const meta of ['fp8e4m3', 'fp16'] as const) {
      const layout = randomLayout(r, 2, meta);
      const count = QUANTIZE_BATCH_TOKENS + 9;
      const x = values(r, count * layout.channels, 0, meta);
      // A token past the first batch with a value beyond the format's range.
      x[(QUANTIZE_BATCH_TOKENS + 3) * layout.channels] = meta === 'fp8e4m3' ? -1000 : -1e6;
      const want = run('reference', layout, x, count);
      expect(want.error).toMatch(/INVALID_ARGUMENT/);
      expect(run(quantizeTokensFast, layout, x, count)).toEqual(want);
    }
  });

  it('a non-finite value anywhere in the batch: the same error, nothing written', () => {
    const r = rng(78);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const layout = randomLayout(r, 1.5, 'fp16');
      const count = 2 * QUANTIZE_BATCH_TOKENS + 1;
      const x = values(r, count * layout.channels, 0, 'fp16');
      x[x.length - 1] = bad;
      const want = run('reference', layout, x, count);
      expect(want.error).toMatch(/NON_FINITE/);
      expect(run(quantizeTokensFast, layout, x, count)).toEqual(want);
    }
  });
});
