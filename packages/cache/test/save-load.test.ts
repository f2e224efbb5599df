import { readFileSync } from 'node:fs';
import { kvHidden, queryHidden, type SkvqError } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../src/crc32.js';
import {
  CACHE_FORMAT_VERSION,
  createDenseCache,
  createQuantizedCache,
  loadCache,
  type QuantizedCacheOptions,
  readCacheHeader,
  saveCache,
} from '../src/index.js';
import { syntheticCalibration } from './helpers/calibration.js';
import { oracleBackend, randomActivations } from './helpers/oracle.js';
import { fifoPolicy } from './helpers/policy.js';
import { geometry, METHODS, methodOptions } from './helpers/setup.js';

const CH = kvHidden(geometry);
const QH = queryHidden(geometry);

function options(
  method: (typeof METHODS)[number],
  fpPrecision: 'fp32' | 'fp16' = 'fp32',
): QuantizedCacheOptions {
  return {
    geometry,
    backend: oracleBackend(),
    policy: () => fifoPolicy(8, 3),
    pageTokens: 32,
    fpPrecision,
    ...methodOptions(method),
  };
}

function codeOf(call: () => unknown): string {
  try {
    call();
  } catch (error) {
    return (error as SkvqError).code;
  }
  return 'no error';
}

describe('saveCache / loadCache', () => {
  it('crc32 matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it.each(
    METHODS.flatMap(
      (m) =>
        [
          [m, 'fp32'],
          [m, 'fp16'],
        ] as const,
    ),
  )(
    '%s (%s fp tokens): load then attend gives identical output, and the cache keeps working',
    (method, fp) => {
      const cache = createQuantizedCache(options(method, fp));
      const n = 110;
      const k = randomActivations(n * CH, 1, CH);
      const v = randomActivations(n * CH, 2);
      const q = randomActivations(QH, 3);
      cache.append(0, k.subarray(0, 100 * CH), v.subarray(0, 100 * CH), 100);
      cache.append(1, k.subarray(0, 77 * CH), v.subarray(0, 77 * CH), 77);
      const file = saveCache(cache);
      const loaded = loadCache(file, options(method, fp));
      expect(loaded.length(0)).toBe(100);
      expect(loaded.length(1)).toBe(77);
      expect(loaded.bytes()).toEqual(cache.bytes());
      expect(loaded.describe().layers).toEqual(cache.describe().layers);
      expect(loaded.attend(0, q, 99)).toEqual(cache.attend(0, q, 99));
      expect(loaded.attend(1, q, 76)).toEqual(cache.attend(1, q, 76));
      for (const c of [cache, loaded]) {
        c.append(0, k.subarray(100 * CH), v.subarray(100 * CH), 10);
      }
      expect(loaded.attend(0, q, 109)).toEqual(cache.attend(0, q, 109));
      expect(saveCache(loaded)).toEqual(saveCache(cache));
    },
  );

  it('round-trips a dense cache', () => {
    const dense = createDenseCache({ geometry, precision: 'fp16', backend: oracleBackend() });
    dense.append(1, randomActivations(9 * CH, 4), randomActivations(9 * CH, 5), 9);
    const loaded = loadCache(saveCache(dense), {
      geometry,
      precision: 'fp16',
      backend: oracleBackend(),
    });
    const q = randomActivations(QH, 6);
    expect(loaded.attend(1, q, 8)).toEqual(dense.attend(1, q, 8));
  });

  describe('damaged or foreign files give typed errors', () => {
    const cache = createQuantizedCache(options('skvq'));
    cache.append(0, randomActivations(60 * CH, 7, CH), randomActivations(60 * CH, 8), 60);
    const file = saveCache(cache);

    it('truncated', () => {
      for (const cut of [1, 100, file.length - 30, file.length - 1]) {
        expect(codeOf(() => loadCache(file.subarray(0, cut), options('skvq')))).toBe(
          'FILE_TRUNCATED',
        );
      }
    });
    it('a flipped byte', () => {
      for (const at of [file.length - 200, file.length - 2, 40]) {
        const bad = file.slice();
        bad[at]! ^= 0x10;
        expect(codeOf(() => loadCache(bad, options('skvq')))).toBe('FILE_CORRUPTED');
      }
    });
    it('wrong magic', () => {
      const bad = file.slice();
      bad[0] = 0x50;
      expect(codeOf(() => loadCache(bad, options('skvq')))).toBe('FILE_BAD_MAGIC');
    });
    it('unknown version', () => {
      const bad = file.slice();
      new DataView(bad.buffer).setUint32(8, CACHE_FORMAT_VERSION + 1, true);
      expect(codeOf(() => loadCache(bad, options('skvq')))).toBe('FILE_UNSUPPORTED_VERSION');
    });
    it('another geometry, calibration, stream spec or policy', () => {
      const otherGeometry = { ...geometry, rope: { style: 'pairwise' as const, theta: 500000 } };
      const cases: Partial<QuantizedCacheOptions>[] = [
        {
          geometry: otherGeometry,
          calibration: syntheticCalibration(otherGeometry, { k: 2, v: 1.5 }, 16, 0.95, 7),
        },
        { calibration: syntheticCalibration(geometry, { k: 2, v: 1.5 }, 16, 0.95, 99) },
        { values: { ...methodOptions('skvq').values, meta: 'fp16' } },
        { policy: () => fifoPolicy(16, 3) },
        { fpPrecision: 'fp16' },
      ];
      for (const change of cases) {
        expect(codeOf(() => loadCache(file, { ...options('skvq'), ...change }))).toBe(
          'CACHE_MISMATCH',
        );
      }
      expect(codeOf(() => loadCache(file, options('rtn')))).toBe('CACHE_MISMATCH');
    });
  });

  it('readCacheHeader reads the header without restoring, and checks the file', () => {
    const cache = createQuantizedCache(options('kivi'));
    cache.append(0, randomActivations(40 * CH, 9, CH), randomActivations(40 * CH, 10), 40);
    const file = saveCache(cache);
    const { version, header } = readCacheHeader(file);
    expect(version).toBe(CACHE_FORMAT_VERSION);
    expect(header.kind).toBe('quantized');
    expect(header.streams?.k.layout).toBe('channel-block');
    expect(header.layers.map((l) => l.length)).toEqual([40, 0]);
    const bad = file.slice();
    bad[bad.length - 100]! ^= 1;
    expect(codeOf(() => readCacheHeader(bad))).toBe('FILE_CORRUPTED');
  });

  describe('counts that do not match the bytes present give FILE_CORRUPTED', () => {
    const cache = createQuantizedCache(options('kivi-k+skvq-v'));
    cache.append(0, randomActivations(50 * CH, 21, CH), randomActivations(50 * CH, 22), 50);
    /** Re-encodes the file with a changed header and a valid checksum (a well-formed lie). */
    function withHeader(change: (h: any) => void): Uint8Array {
      const file = saveCache(cache);
      const view = new DataView(file.buffer);
      const length = view.getUint32(12, true);
      const header = JSON.parse(new TextDecoder().decode(file.subarray(16, 16 + length)));
      change(header);
      const json = new TextEncoder().encode(JSON.stringify(header));
      const out = new Uint8Array(file.length - length + json.length);
      out.set(file.subarray(0, 16));
      new DataView(out.buffer).setUint32(12, json.length, true);
      out.set(json, 16);
      out.set(file.subarray(16 + length, file.length - 4), 16 + json.length);
      new DataView(out.buffer).setUint32(out.length - 4, crc32(out, 0, out.length - 4), true);
      return out;
    }
    it('the unchanged re-encoding loads (the helper itself is sound)', () => {
      expect(
        loadCache(
          withHeader(() => {}),
          options('kivi-k+skvq-v'),
        ).length(0),
      ).toBe(50);
    });
    it.each([
      ['more quantized tokens than stored', (h: any) => (h.layers[0].v.quantized += 1)],
      [
        'a count moved from quantized to kept',
        (h: any) => {
          h.layers[0].v.quantized -= 1;
          h.layers[0].v.kept += 1;
        },
      ],
      ['a window larger than the policy window', (h: any) => (h.layers[0].windowCount = 9)],
      ['a layer length that the parts do not add up to', (h: any) => (h.layers[0].length = 49)],
      ['a pending block as large as a block', (h: any) => (h.layers[0].k.pending = 64)],
    ])('%s', (_, change) => {
      expect(codeOf(() => loadCache(withHeader(change), options('kivi-k+skvq-v')))).toBe(
        'FILE_CORRUPTED',
      );
    });
  });

  describe('format version 1 files (written by 0.1.0) still load', () => {
    const fixture = JSON.parse(
      readFileSync(new URL('./fixtures/format-v1.json', import.meta.url), 'utf8'),
    );
    it.each(['skvq-fp32', 'skvq-fp16', 'kivi-fp32', 'kivi-fp16'])('%s', (name) => {
      const [method, fp] = name.split('-') as ['skvq' | 'kivi', 'fp32' | 'fp16'];
      const entry = fixture[name];
      const file = new Uint8Array(Buffer.from(entry.file, 'base64'));
      expect(readCacheHeader(file).version).toBe(1);
      const loaded = loadCache(file, options(method, fp));
      // page counts differ (pages grow now); every token count is the same
      const counts = (layers: { pages: unknown }[]) => layers.map(({ pages: _, ...rest }) => rest);
      expect(counts(loaded.describe().layers)).toEqual(counts(entry.layers));
      const q = randomActivations(QH, fixture.seeds.q);
      expect(Array.from(loaded.attend(0, q, 69) as Float32Array)).toEqual(entry.attend0);
      expect(Array.from(loaded.attend(1, q, 44) as Float32Array)).toEqual(entry.attend1);
      // Saved again, it is a version-2 file that loads to the same cache.
      const again = loadCache(saveCache(loaded), options(method, fp));
      expect(again.attend(0, q, 69)).toEqual(loaded.attend(0, q, 69));
    });
    it('a version-1 file loaded with other options names the difference', () => {
      const file = new Uint8Array(Buffer.from(fixture['skvq-fp32'].file, 'base64'));
      expect(() => loadCache(file, options('skvq', 'fp16'))).toThrow(/pass fpPrecision: 'fp32'/);
    });
  });
});
