import { createQuantizedCache, loadCache, saveCache } from '@skvq/cache';
import { isSkvqError, parseCalibration, serializeCalibration } from '@skvq/core';
import fc from 'fast-check';
import { crc32 } from './crc32.mjs';
import {
  activations,
  CACHE_GEOMETRY,
  CACHE_KINDS,
  CACHE_CHANNELS as CH,
  cacheOptions,
  calibrationObject,
  makeCache,
  savedCache,
} from './fixtures.mjs';
import { applyByteMutations, byteMutations, hostileValue, realise } from './mutate.mjs';

/**
 * Fuzz kinds of the calibration parser, the cache API and saved caches. A case "passes"
 * with a typed SkvqError or with a result that stays usable: `run` returns a string naming
 * the inconsistency when an accepted input breaks a later call.
 */

const QH = CACHE_GEOMETRY.queryHeads * CACHE_GEOMETRY.headDim;

/** Every path (array of keys) of a JSON tree, parents before children. */
function paths(value, prefix = [], out = []) {
  out.push(prefix);
  if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) paths(value[key], [...prefix, key], out);
  }
  return out;
}
const CALIBRATION_PATHS = paths(calibrationObject()).slice(1);

const calibrationEdit = (objectMode) =>
  fc.record({
    path: fc.nat({ max: CALIBRATION_PATHS.length - 1 }),
    action: fc.constantFrom('set', 'set', 'set', 'delete', 'add'),
    value: hostileValue({ objectMode }),
  });

export const calibrationKind = {
  name: 'calibration',
  arbitrary: fc.oneof(
    fc.record({
      mode: fc.constant('object'),
      edits: fc.array(calibrationEdit(true), { minLength: 1, maxLength: 3 }),
      expect: fc.boolean(),
    }),
    fc.record({
      mode: fc.constant('text'),
      edits: fc.array(calibrationEdit(false), { minLength: 0, maxLength: 3 }),
      mutations: fc.option(byteMutations(4000, 400), { nil: undefined }),
      expect: fc.boolean(),
    }),
  ),
  prepare(input) {
    const artifact = calibrationObject();
    const deep = new Map();
    for (const edit of input.edits) {
      const path = CALIBRATION_PATHS[edit.path];
      let parent = artifact;
      for (const key of path.slice(0, -1)) parent = parent?.[key];
      if (parent === null || typeof parent !== 'object') continue;
      const key = edit.action === 'add' ? `extra${edit.path}` : path[path.length - 1];
      if (edit.action === 'delete') delete parent[key];
      else if (input.mode === 'text' && edit.value?.deep !== undefined) {
        // deep values as text are spliced in after stringify (stringify would overflow)
        const marker = `__deep${deep.size}__`;
        deep.set(marker, edit.value.deep);
        parent[key] = marker;
      } else parent[key] = realise(edit.value);
    }
    if (input.mode === 'object') return artifact;
    let text = JSON.stringify(artifact);
    for (const [marker, depth] of deep) {
      text = text.replace(`"${marker}"`, `${'['.repeat(depth)}0${']'.repeat(depth)}`);
    }
    if (input.mutations) {
      const bytes = applyByteMutations(new TextEncoder().encode(text), input.mutations);
      text = new TextDecoder().decode(bytes);
    }
    return text;
  },
  inputBytes: (input) => (typeof input === 'string' ? input.length : 4096),
  run(input, { expect }) {
    const parsed = parseCalibration(
      input,
      expect ? { geometry: CACHE_GEOMETRY, fingerprint: 'sha256:00' } : {},
    );
    // accepted: it must round-trip and drive a cache through save and load
    const again = parseCalibration(serializeCalibration(parsed));
    if (JSON.stringify(again) !== JSON.stringify(parsed))
      return 'accepted artifact does not round-trip';
    if (JSON.stringify(parsed.geometry) !== JSON.stringify(CACHE_GEOMETRY)) return undefined;
    const options = { ...cacheOptions('skvq-fp8'), calibration: parsed };
    let cache;
    try {
      cache = makeCacheWith(options);
    } catch (error) {
      if (isSkvqError(error)) return undefined; // refused at cache creation: typed, fine
      throw error;
    }
    try {
      cache.append(0, activations(20 * CH, 1), activations(20 * CH, 2), 20);
      loadCache(saveCache(cache), options);
    } catch (error) {
      return `accepted artifact fails later: ${String(error?.message).slice(0, 160)}`;
    }
    return undefined;
  },
};

function makeCacheWith(options) {
  return createQuantizedCache(options);
}

const layerArb = fc.oneof(
  { weight: 8, arbitrary: fc.nat({ max: 1 }) },
  { weight: 1, arbitrary: fc.constantFrom(-1, 2, 1.5, Number.NaN) },
);
const countArb = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 8 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, -1, 1.5, Number.NaN, 2 ** 31) },
);
const positionArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom('last', 'next', 'far') },
  {
    weight: 1,
    arbitrary: fc.constantFrom(-1, 0, 1.5, Number.NaN, 2 ** 31 - 1, 2 ** 31, 2 ** 53, 1e300),
  },
);

function apiOp(outliers) {
  const special = outliers
    ? fc.constantFrom('none', 'outlier', 'outlier', 'outlier')
    : fc.constantFrom('none', 'none', 'none', 'none', 'nan', 'inf', 'huge');
  return fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record({
        op: fc.constant('append'),
        layer: layerArb,
        count: countArb,
        shape: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'short', 'f64', 'array'),
        special,
        scale: fc.constantFrom(0.001, 1, 8),
        // one element of the row far outside the others (real activations have outliers)
        // (not 3.4e38: q.k of such a key overflows float32 in any attention, dense included)
        outlier: fc.constantFrom(1e3, 1e4, 7e4, 1e30),
        seed: fc.nat({ max: 1000 }),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('attend'),
        layer: layerArb,
        position: positionArb,
        bad: fc.boolean(),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('prefill'),
        layer: layerArb,
        start: fc.oneof(fc.constant('valid'), fc.constantFrom(-1, 0, 5, 1.5, 2 ** 31)),
        count: fc.integer({ min: 0, max: 4 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('reset') }) },
  );
}

function appendArgs(op, cacheKind) {
  const n = Number.isInteger(op.count) && op.count > 0 && op.count < 64 ? op.count : 1;
  const k = activations(n * CH, op.seed, op.scale);
  const v = activations(n * CH, op.seed + 1, op.scale);
  const quantized = !cacheKind.startsWith('dense');
  if (op.special === 'nan') k[op.seed % k.length] = Number.NaN;
  if (op.special === 'inf') v[op.seed % v.length] = Number.NEGATIVE_INFINITY;
  // huge finite values: dense caches must refuse (fp16) or keep them (fp32); quantized
  // caches with huge values are the kind cache-outliers
  // (fp16 must refuse them; fp32 keeps them: 1e30, below where q.k overflows float32)
  if (op.special === 'huge' && !quantized) {
    k[op.seed % k.length] = cacheKind === 'dense-fp16' ? (op.seed % 2 ? 3.4e38 : -7e4) : 1e30;
  }
  if (op.special === 'outlier') k[op.seed % k.length] = op.outlier * (op.seed % 2 ? 1 : -1);
  const shaped = (a) =>
    op.shape === 'short'
      ? a.subarray(1)
      : op.shape === 'f64'
        ? Float64Array.from(a)
        : op.shape === 'array'
          ? Array.from(a)
          : a;
  return [shaped(k), shaped(v)];
}

/** Runs a sequence of API calls; returns the first inconsistency, or undefined. */
async function runApi(input) {
  const cache = makeCache(input.cacheKind);
  const layers = CACHE_GEOMETRY.layers;
  const q = activations(QH, 99);
  const state = () => JSON.stringify(cache.describe());
  for (let i = 0; i < input.ops.length; i++) {
    const op = input.ops[i];
    const before = state();
    const lengths = Array.from({ length: layers }, (_, l) => cache.length(l));
    try {
      if (op.op === 'append') {
        const [k, v] = appendArgs(op, input.cacheKind);
        await cache.append(op.layer, k, v, op.count);
      } else if (op.op === 'attend') {
        const len = Number.isInteger(op.layer) ? cache.length(op.layer) : 0;
        const position =
          op.position === 'last'
            ? len - 1
            : op.position === 'next'
              ? len
              : op.position === 'far'
                ? len + 1000
                : op.position;
        const out = await cache.attend(
          op.layer,
          op.bad ? new Float32Array(QH).fill(Number.NaN) : q,
          position,
        );
        if (!out.every(Number.isFinite))
          return `op ${i} (attend at ${position}): non-finite output`;
      } else if (op.op === 'prefill') {
        const len = Number.isInteger(op.layer) ? cache.length(op.layer) : 0;
        const start = op.start === 'valid' ? Math.max(0, len - op.count) : op.start;
        const out = await cache.attendPrefill(
          op.layer,
          activations(Math.max(op.count, 0) * QH, 5),
          start,
          op.count,
        );
        if (!out.every(Number.isFinite)) return `op ${i} (attendPrefill): non-finite output`;
      } else cache.reset();
    } catch (error) {
      if (!isSkvqError(error)) throw error;
      if (state() !== before)
        return `op ${i} (${op.op}) failed with ${error.code} after changing the cache`;
    }
    // every layer that holds tokens must still attend (no later call fails because of this one)
    for (let l = 0; l < layers; l++) {
      const len = cache.length(l);
      if (
        op.op === 'append' &&
        l === op.layer &&
        len !== lengths[l] &&
        len !== lengths[l] + op.count
      ) {
        return `op ${i}: length ${lengths[l]} became ${len} after appending ${op.count}`;
      }
      if (len === 0) continue;
      try {
        const out = await cache.attend(l, q, len - 1);
        if (!out.every(Number.isFinite))
          return `after op ${i}: layer ${l} attends to non-finite values`;
      } catch (error) {
        return `after op ${i} (${op.op}): layer ${l} no longer attends (${String(error?.message).slice(0, 120)})`;
      }
    }
  }
  return undefined;
}

export const cacheApiKind = {
  name: 'cache-api',
  arbitrary: fc.record({
    cacheKind: fc.constantFrom(...CACHE_KINDS),
    ops: fc.array(apiOp(false), { minLength: 1, maxLength: 24 }),
  }),
  prepare: (input) => input,
  inputBytes: () => 4096,
  run: runApi,
};

export const cacheOutliersKind = {
  name: 'cache-outliers',
  arbitrary: fc.record({
    cacheKind: fc.constantFrom('skvq-fp8', 'skvq-fp16meta'),
    ops: fc.array(apiOp(true), { minLength: 4, maxLength: 60 }),
  }),
  prepare: (input) => input,
  inputBytes: () => 4096,
  run: runApi,
};

const SAVED = Object.fromEntries(CACHE_KINDS.map((k) => [k, savedCache(k)]));

/** Rebuilds a cache file around a new header (lengths and CRC recomputed). */
function withHeader(file, header) {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const oldLength = view.getUint32(12, true);
  const text = new TextEncoder().encode(
    typeof header === 'string' ? header : JSON.stringify(header),
  );
  const rest = file.subarray(16 + oldLength, file.length - 4);
  const out = new Uint8Array(16 + text.length + rest.length + 4);
  out.set(file.subarray(0, 16));
  new DataView(out.buffer).setUint32(12, text.length, true);
  out.set(text, 16);
  out.set(rest, 16 + text.length);
  return fixCrc(out);
}

function fixCrc(bytes) {
  if (bytes.length >= 4) {
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(
      bytes.length - 4,
      crc32(bytes, 0, bytes.length - 4),
      true,
    );
  }
  return bytes;
}

function headerOf(file) {
  const length = new DataView(file.buffer, file.byteOffset).getUint32(12, true);
  return JSON.parse(new TextDecoder().decode(file.subarray(16, 16 + length)));
}

const HEADER_PATHS = Object.fromEntries(
  CACHE_KINDS.map((k) => [k, paths(headerOf(SAVED[k])).slice(1)]),
);

export const savedCacheKind = {
  name: 'saved-cache',
  arbitrary: fc.record({
    cacheKind: fc.constantFrom(...CACHE_KINDS),
    input: fc.oneof(
      fc.record({
        mode: fc.constant('bytes'),
        mutations: byteMutations(SAVED['skvq-fp8'].length, 1200),
        crc: fc.boolean(),
      }),
      fc.record({
        mode: fc.constant('header'),
        edits: fc.array(
          fc.record({
            path: fc.nat({ max: 400 }),
            value: hostileValue({ objectMode: false }).filter(
              (v) => v?.deep === undefined || v.deep < 50,
            ),
          }),
          { minLength: 1, maxLength: 3 },
        ),
        whole: fc.option(fc.constantFrom('5', '{}', 'null', '[]', '{"kind":"dense"}'), {
          freq: 10,
          nil: undefined,
        }),
      }),
    ),
  }),
  prepare({ cacheKind, input }) {
    const file = SAVED[cacheKind];
    if (input.mode === 'bytes') {
      const bytes = applyByteMutations(file, input.mutations);
      return input.crc ? fixCrc(bytes) : bytes;
    }
    if (input.whole !== undefined) return withHeader(file, input.whole);
    const header = headerOf(file);
    const all = HEADER_PATHS[cacheKind];
    for (const edit of input.edits) {
      const path = all[edit.path % all.length];
      let parent = header;
      for (const key of path.slice(0, -1)) parent = parent?.[key];
      if (parent !== null && typeof parent === 'object')
        parent[path[path.length - 1]] = realise(edit.value);
    }
    return withHeader(file, header);
  },
  async run(bytes, { cacheKind }) {
    const cache = loadCache(bytes, cacheOptions(cacheKind));
    const q = activations(QH, 3);
    try {
      for (let l = 0; l < CACHE_GEOMETRY.layers; l++) {
        const len = cache.length(l);
        if (len > 0 && !(await cache.attend(l, q, len - 1)).every(Number.isFinite)) {
          return `loaded layer ${l} attends to non-finite values`;
        }
        await cache.append(l, activations(CH, 4), activations(CH, 5), 1);
        const out = await cache.attend(l, q, cache.length(l) - 1);
        if (!out.every(Number.isFinite)) return `loaded layer ${l} attends to non-finite values`;
      }
    } catch (error) {
      return `loaded cache fails later: ${String(error?.message).slice(0, 160)}`;
    }
    return undefined;
  },
};
