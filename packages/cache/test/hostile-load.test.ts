import { cpuBackend } from '@skvq/backend-cpu';
import { kvHidden, queryHidden, SkvqError } from '@skvq/core';
import { slidingWindowPolicy } from '@skvq/policy-sliding-window';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../src/crc32.js';
import {
  createDenseCache,
  createQuantizedCache,
  type DenseCacheOptions,
  loadCache,
  type QuantizedCacheOptions,
  saveCache,
} from '../src/index.js';
import { randomActivations } from './helpers/oracle.js';
import { geometry, methodOptions } from './helpers/setup.js';

/**
 * Issue 13 defect 3: loadCache trusted header counts (allocations of gigabytes from a 44 KB
 * file, untyped TypeError/RangeError, inconsistent caches that failed later). Each file
 * below has its header edited and its CRC recomputed (a CRC is no protection).
 */

const CH = kvHidden(geometry);
const QH = queryHidden(geometry);

const quantizedOptions = (): QuantizedCacheOptions => ({
  geometry,
  backend: cpuBackend,
  policy: slidingWindowPolicy,
  window: 16,
  sinks: 2,
  pageTokens: 32,
  ...methodOptions('skvq'),
});
const denseOptions = (): DenseCacheOptions => ({
  geometry,
  precision: 'fp32',
  backend: cpuBackend,
});

function saved(kind: 'quantized' | 'dense'): Uint8Array {
  const cache =
    kind === 'quantized'
      ? createQuantizedCache(quantizedOptions())
      : createDenseCache(denseOptions());
  for (const layer of [0, 1]) {
    cache.append(
      layer,
      randomActivations(40 * CH, layer + 1),
      randomActivations(40 * CH, layer + 9),
      40,
    );
  }
  return saveCache(cache);
}

function headerOf(file: Uint8Array): Record<string, unknown> {
  const length = new DataView(file.buffer, file.byteOffset).getUint32(12, true);
  return JSON.parse(new TextDecoder().decode(file.subarray(16, 16 + length)));
}

/** The file with another header text (framing and CRC recomputed). */
function withHeader(file: Uint8Array, header: unknown): Uint8Array {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const text = new TextEncoder().encode(JSON.stringify(header));
  const rest = file.subarray(16 + view.getUint32(12, true), file.length - 4);
  const out = new Uint8Array(16 + text.length + rest.length + 4);
  out.set(file.subarray(0, 16));
  new DataView(out.buffer).setUint32(12, text.length, true);
  out.set(text, 16);
  out.set(rest, 16 + text.length);
  return fixCrc(out);
}

function fixCrc(bytes: Uint8Array): Uint8Array {
  new DataView(bytes.buffer).setUint32(bytes.length - 4, crc32(bytes, 0, bytes.length - 4), true);
  return bytes;
}

function edited(file: Uint8Array, edit: (h: any) => unknown): Uint8Array {
  const header = headerOf(file);
  const replaced = edit(header);
  return withHeader(file, replaced === undefined ? header : replaced);
}

function loadCode(bytes: Uint8Array, options: QuantizedCacheOptions | DenseCacheOptions): string {
  try {
    loadCache(bytes, options as QuantizedCacheOptions);
  } catch (error) {
    return error instanceof SkvqError ? error.code : `untyped ${String(error)}`;
  }
  return 'loaded';
}

describe('loadCache refuses inconsistent files with a typed error', () => {
  const quantized = saved('quantized');
  const dense = saved('dense');

  it('the unedited files load and attend', () => {
    const cache = loadCache(quantized, quantizedOptions());
    expect(
      (cache.attend(0, randomActivations(QH, 3), 39) as Float32Array).every(Number.isFinite),
    ).toBe(true);
    expect(loadCode(dense, denseOptions())).toBe('loaded');
  });

  const cases: [string, (h: any) => unknown][] = [
    [
      'k.quantized = 1e9',
      (h) => {
        h.layers[0].k.quantized = 1e9;
      },
    ],
    [
      'length = 1e9',
      (h) => {
        h.layers[0].length = 1e9;
      },
    ],
    [
      'k.kept = 1e9',
      (h) => {
        h.layers[0].k.kept = 1e9;
      },
    ],
    [
      'windowCount = 1e9',
      (h) => {
        h.layers[0].windowCount = 1e9;
      },
    ],
    [
      'k.quantized = 1.5',
      (h) => {
        h.layers[0].k.quantized = 1.5;
      },
    ],
    [
      'windowCount = 30 (past the window of 16)',
      (h) => {
        h.layers[0].windowCount = 30;
      },
    ],
    ['header 5', () => 5],
    ['header {}', () => ({})],
    ['header null', () => null],
    ['one layer missing', (h) => void h.layers.pop()],
    ['an extra layer', (h) => void h.layers.push(h.layers[0])],
    [
      'a null layer',
      (h) => {
        h.layers[1] = null;
      },
    ],
    [
      'window count moved into quantized (counts add up, the policy disagrees)',
      (h) => {
        h.layers[0].windowCount -= 4;
        h.layers[0].k.kept += 4;
        h.layers[0].v.kept += 4;
      },
    ],
  ];
  it.each(cases)('%s', (_, edit) => {
    const started = performance.now();
    const code = loadCode(edited(quantized, edit), quantizedOptions());
    expect(code).toMatch(/^(FILE_CORRUPTED|FILE_TRUNCATED|CACHE_MISMATCH)$/);
    // bounded by the file size: no allocation storm (a generous bound, not a benchmark)
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('dense fp32 length = 1e9 is refused before anything is allocated', () => {
    expect(
      loadCode(
        edited(dense, (h) => {
          h.layers[0].length = 1e9;
        }),
        denseOptions(),
      ),
    ).toMatch(/^FILE_(CORRUPTED|TRUNCATED)$/);
  });

  it('a NaN row in the window section is FILE_CORRUPTED', () => {
    const bytes = quantized.slice();
    const headerLength = new DataView(bytes.buffer).getUint32(12, true);
    // payload: u32 section count, u32 length of section 0 (layer 0 window), its rows
    const firstRow = 16 + headerLength + 8;
    bytes[firstRow] = 0xff;
    bytes[firstRow + 1] = 0x7f; // fp16 NaN (the default window precision)
    expect(loadCode(fixCrc(bytes), quantizedOptions())).toBe('FILE_CORRUPTED');
  });
});
