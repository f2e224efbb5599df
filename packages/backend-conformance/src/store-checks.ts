// The store conformance checks, free of any test runner (describeStoreBackend registers each
// as a vitest test; a browser page can run them with runChecks). Every backend with device
// storage (BackendPlugin.storage, residence 'device') runs them: the storage's byte moves,
// its kernels over store views against the reference, and the quantized cache on it
// against the same cache on the CPU reference backend.
import { cpuReferenceBackend } from '@skvq/backend-cpu';
import {
  type AttentionAttrs,
  attendKernel,
  type BackendPlugin,
  type BackendStorage,
  type BitWidth,
  type KvSegment,
  type MetaFormat,
  metaBytesPerUnit,
  mulberry32,
  rowCodeBytes,
  SkvqError,
  type StoreBuffer,
  type StoreKernels,
  type StoreRows,
  type StoreSegment,
  type StoreView,
  SUPPORTED_BITS,
  SUPPORTED_META_FORMATS,
} from '@skvq/core';
import { decodeF16Array, quantizeBlockReference, quantizeTokensReference } from '@skvq/formats';
import {
  type AttentionCase,
  attentionCaseSpecs,
  buildAttentionCase,
  prefillCaseSpecs,
} from './cases.js';
import type { Check } from './checks.js';
import { ATTENTION_RELATIVE_TOLERANCE, firstDifference, relativeError } from './compare.js';
import {
  channelBlockLayout,
  randomBytes,
  randomTokenGroupLayout,
  randomTokens,
  toFp16,
} from './generators.js';
import { storeCacheChecks } from './store-cache-checks.js';

/** Areas of the store suite. */
export type StoreConformanceArea =
  | 'storage'
  | 'storeQuantize'
  | 'storeAttend'
  | 'cache'
  | 'transfers';

export const STORE_CONFORMANCE_AREAS: readonly StoreConformanceArea[] = [
  'storage',
  'storeQuantize',
  'storeAttend',
  'cache',
  'transfers',
];

/** A store check: like Check, with a store area. */
export interface StoreCheck extends Omit<Check, 'area'> {
  area: StoreConformanceArea;
}

/** Even, so fp16 rows are whole 4-byte words; groups of ~6 leave odd metadata offsets. */
const STORE_CHANNELS = 40;
const TOKENS = 5;
const BLOCK_TOKENS = 4;
/** Segments and rows start this far into their buffers (non-zero byte offsets). */
const LEAD = 16;

export class StoreCheckFailure extends Error {
  constructor(
    message: string,
    readonly maxError: number,
  ) {
    super(message);
  }
}

/** The backend's device storage and its kernels, or a typed error saying what is missing. */
export function deviceStorage(backend: BackendPlugin): BackendStorage & { kernels: StoreKernels } {
  const storage = backend.storage;
  if (storage === undefined || storage.residence !== 'device' || storage.kernels === undefined) {
    throw new SkvqError(
      'INVALID_PLUGIN',
      `backend "${backend.name}" has no device storage with kernels (storage.residence 'device')`,
    );
  }
  return storage as BackendStorage & { kernels: StoreKernels };
}

function storeKernel<N extends keyof StoreKernels>(
  backend: BackendPlugin,
  name: N,
): NonNullable<StoreKernels[N]> {
  const kernels = deviceStorage(backend).kernels;
  const fn = kernels[name];
  if (typeof fn !== 'function') {
    throw new SkvqError(
      'KERNEL_NOT_IMPLEMENTED',
      `backend "${backend.name}" storage does not implement kernel "${name}"`,
    );
  }
  return fn.bind(kernels) as NonNullable<StoreKernels[N]>;
}

function same(got: Uint8Array, want: Uint8Array, what: string): number {
  const at = firstDifference(got, want);
  if (at !== -1) {
    const near = (a: Uint8Array) => Array.from(a.subarray(Math.max(0, at - 2), at + 3)).join(',');
    throw new StoreCheckFailure(
      `${what}: first difference at byte ${at} (got ${near(got)}, want ${near(want)})`,
      at,
    );
  }
  return -1;
}

const align4 = (n: number) => Math.ceil(n / 4) * 4;
const view = (buffer: StoreBuffer, byteOffset: number, byteLength: number): StoreView => ({
  buffer,
  byteOffset,
  byteLength,
});
const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** A buffer holding `bytes` from byte `lead` on (the rest zero). */
function upload(storage: BackendStorage, bytes: Uint8Array, lead: number): StoreView {
  const buffer = storage.allocate(align4(lead + bytes.byteLength + 4), 'fp');
  storage.write(buffer, lead, bytes);
  return view(buffer, lead, bytes.byteLength);
}

function storageChecks(): StoreCheck[] {
  return [
    {
      area: 'storage',
      name: 'allocate gives zeroed buffers; write then read round trips at unaligned offsets',
      run: async (backend) => {
        const storage = deviceStorage(backend);
        const rng = mulberry32(11);
        const buffer = storage.allocate(64, 'codes');
        if (buffer.byteLength !== 64) {
          throw new StoreCheckFailure(`byteLength ${buffer.byteLength}, expected 64`, 1);
        }
        same(await storage.read(view(buffer, 0, 64)), new Uint8Array(64), 'fresh buffer');
        const want = new Uint8Array(64);
        for (const [offset, n] of [
          [3, 13],
          [16, 8],
          [30, 1],
          [61, 3],
        ] as const) {
          const data = randomBytes(rng, n);
          storage.write(buffer, offset, data);
          want.set(data, offset);
        }
        same(await storage.read(view(buffer, 0, 64)), want, 'after writes');
        same(await storage.read(view(buffer, 5, 7)), want.subarray(5, 12), 'sub-view [5, 12)');
        storage.release(buffer);
        return -1;
      },
    },
    {
      area: 'storage',
      name: 'copy between buffers and inside one buffer, at unaligned offsets',
      run: async (backend) => {
        const storage = deviceStorage(backend);
        const rng = mulberry32(12);
        const a = storage.allocate(48, 'fp');
        const b = storage.allocate(40, 'meta');
        const aBytes = randomBytes(rng, 48);
        storage.write(a, 0, aBytes);
        const want = new Uint8Array(40);
        storage.copy(view(a, 5, 17), b, 2);
        want.set(aBytes.subarray(5, 22), 2);
        storage.copy(view(a, 40, 8), b, 32);
        want.set(aBytes.subarray(40, 48), 32);
        same(await storage.read(view(b, 0, 40)), want, 'copied into another buffer');
        // inside one buffer, non-overlapping ranges
        storage.copy(view(a, 0, 10), a, 30);
        const wantA = aBytes.slice();
        wantA.set(aBytes.subarray(0, 10), 30);
        same(await storage.read(view(a, 0, 48)), wantA, 'copied inside one buffer');
        storage.release(a);
        storage.release(b);
        return -1;
      },
    },
    {
      area: 'storage',
      name: 'transferStats count writes and reads',
      run: async (backend) => {
        const storage = deviceStorage(backend);
        const buffer = storage.allocate(256, 'fp');
        const before = storage.transferStats();
        storage.write(buffer, 0, new Uint8Array(200).fill(7));
        await storage.read(view(buffer, 0, 120));
        const after = storage.transferStats();
        const up = after.bytesToDevice - before.bytesToDevice;
        const down = after.bytesFromDevice - before.bytesFromDevice;
        storage.release(buffer);
        if (!(up >= 200 && down >= 120)) {
          throw new StoreCheckFailure(
            `a 200-byte write and a 120-byte read counted ${up} bytes up and ${down} down`,
            1,
          );
        }
        return -1;
      },
    },
  ];
}

type Source = 'host rows' | 'fp32 store rows' | 'fp16 store rows';
const SOURCES: readonly Source[] = ['host rows', 'fp32 store rows', 'fp16 store rows'];

/** The rows a kernel gets (host or uploaded to the store) and the float32 values they hold. */
function source(
  storage: BackendStorage,
  x: Float32Array,
  kind: Source,
): { x: Float32Array | StoreRows; values: Float32Array; buffers: StoreBuffer[] } {
  if (kind === 'host rows') return { x, values: x, buffers: [] };
  if (kind === 'fp32 store rows') {
    const rows = upload(storage, bytesOf(x), LEAD);
    return { x: { view: rows, precision: 'fp32' }, values: x, buffers: [rows.buffer] };
  }
  const bits = toFp16(x);
  const values = new Float32Array(x.length);
  decodeF16Array(bits, 0, values, 0, x.length);
  const rows = upload(storage, bytesOf(bits), LEAD);
  return { x: { view: rows, precision: 'fp16' }, values, buffers: [rows.buffer] };
}

/** A buffer of `n` random bytes (kernels must write only their span). */
function garbage(storage: BackendStorage, rng: () => number, n: number, purpose: 'codes' | 'meta') {
  const bytes = randomBytes(rng, align4(n));
  const buffer = storage.allocate(bytes.length, purpose);
  storage.write(buffer, 0, bytes);
  return { buffer, bytes };
}

function storeQuantizeChecks(): StoreCheck[] {
  const bitsList: readonly BitWidth[] = SUPPORTED_BITS;
  const metas: readonly MetaFormat[] = SUPPORTED_META_FORMATS;
  const out: StoreCheck[] = [];
  for (const bits of bitsList) {
    for (const meta of metas) {
      out.push({
        area: 'storeQuantize',
        name: `quantizeTokens over store views bit exact: ${bits} bits, ${meta} meta, from ${SOURCES.join(' / ')}`,
        run: async (backend) => {
          const storage = deviceStorage(backend);
          const kernel = storeKernel(backend, 'quantizeTokens');
          for (const kind of SOURCES) {
            const rng = mulberry32(400 + bits * 10 + metas.indexOf(meta));
            const layout = randomTokenGroupLayout(rng, {
              channels: STORE_CHANNELS,
              bits,
              meta,
              groupSize: 6,
            });
            const x = randomTokens(rng, TOKENS, STORE_CHANNELS);
            const src = source(storage, x, kind);
            const rowBytes = rowCodeBytes(layout);
            const unit = metaBytesPerUnit(layout);
            const codesAt = 3;
            const metaAt = 5;
            const codes = garbage(storage, rng, codesAt + (TOKENS + 1) * rowBytes, 'codes');
            const metaBuf = garbage(storage, rng, metaAt + (TOKENS + 1) * unit, 'meta');
            const wantCodes = codes.bytes.slice();
            const wantMeta = metaBuf.bytes.slice();
            quantizeTokensReference(
              layout,
              src.values,
              TOKENS,
              wantCodes,
              codesAt,
              wantMeta,
              metaAt,
            );
            await kernel({
              layout,
              x: src.x,
              count: TOKENS,
              codes: view(codes.buffer, codesAt, TOKENS * rowBytes),
              meta: view(metaBuf.buffer, metaAt, TOKENS * unit),
            });
            same(
              await storage.read(view(codes.buffer, 0, wantCodes.length)),
              wantCodes,
              `${kind} codes`,
            );
            same(
              await storage.read(view(metaBuf.buffer, 0, wantMeta.length)),
              wantMeta,
              `${kind} meta`,
            );
            for (const b of [...src.buffers, codes.buffer, metaBuf.buffer]) storage.release(b);
          }
          return -1;
        },
      });
      out.push({
        area: 'storeQuantize',
        name: `quantizeBlock over store views bit exact: ${bits} bits, ${meta} meta (KIVI keys), from ${SOURCES.join(' / ')}`,
        run: async (backend) => {
          const storage = deviceStorage(backend);
          const kernel = storeKernel(backend, 'quantizeBlock');
          for (const kind of SOURCES) {
            const rng = mulberry32(500 + bits * 10 + metas.indexOf(meta));
            const layout = channelBlockLayout(
              STORE_CHANNELS,
              bits,
              meta,
              BLOCK_TOKENS,
              bits === 8 ? 1 : 0.9,
            );
            const x = randomTokens(rng, BLOCK_TOKENS, STORE_CHANNELS);
            const src = source(storage, x, kind);
            const rowBytes = rowCodeBytes(layout);
            const unit = metaBytesPerUnit(layout);
            const codesAt = 2;
            const metaAt = 7;
            const codes = garbage(storage, rng, codesAt + (BLOCK_TOKENS + 1) * rowBytes, 'codes');
            const metaBuf = garbage(storage, rng, metaAt + 2 * unit, 'meta');
            const wantCodes = codes.bytes.slice();
            const wantMeta = metaBuf.bytes.slice();
            quantizeBlockReference(layout, src.values, 0, wantCodes, codesAt, wantMeta, metaAt);
            await kernel({
              layout,
              x: src.x,
              codes: view(codes.buffer, codesAt, BLOCK_TOKENS * rowBytes),
              meta: view(metaBuf.buffer, metaAt, unit),
            });
            same(
              await storage.read(view(codes.buffer, 0, wantCodes.length)),
              wantCodes,
              `${kind} codes`,
            );
            same(
              await storage.read(view(metaBuf.buffer, 0, wantMeta.length)),
              wantMeta,
              `${kind} meta`,
            );
            for (const b of [...src.buffers, codes.buffer, metaBuf.buffer]) storage.release(b);
          }
          return -1;
        },
      });
    }
  }
  return out;
}

/** The host segments of a case in the store, each LEAD bytes into its own buffer. */
function uploadSegments(storage: BackendStorage, segments: readonly KvSegment[]) {
  const buffers: StoreBuffer[] = [];
  const put = (bytes: Uint8Array) => {
    const v = upload(storage, bytes, LEAD);
    buffers.push(v.buffer);
    return v;
  };
  const stored = segments.map((s): StoreSegment => {
    if (s.kind === 'fp') {
      return {
        kind: 'fp',
        count: s.count,
        precision: s.precision,
        data: put(bytesOf(s.data)),
        positions: s.positions,
      };
    }
    return {
      kind: 'packed',
      count: s.count,
      layout: s.layout,
      codes: put(s.codes),
      meta: put(s.meta),
      positions: s.positions,
    };
  });
  return { stored, buffers };
}

function attrsOf(c: AttentionCase): AttentionAttrs {
  return {
    geometry: c.geometry,
    keysPreRope: c.spec.keysPreRope,
    ...(c.spec.scale === undefined ? {} : { scale: c.spec.scale }),
  };
}

function storeAttendChecks(tolerance: number): StoreCheck[] {
  const specs = [...attentionCaseSpecs(), ...prefillCaseSpecs()];
  return specs.map((spec) => ({
    area: 'storeAttend' as const,
    name: `attend over store segments within ${tolerance} of the reference: ${spec.name}`,
    run: async (backend: BackendPlugin) => {
      const storage = deviceStorage(backend);
      const c = buildAttentionCase(spec);
      const { start, count } =
        spec.prefill ?? ({ start: c.length - 1, count: 1 } as { start: number; count: number });
      const causal = spec.prefill !== undefined;
      const job = { q: c.q, start, rows: count, causal, length: c.length };
      const wantSums = new Float32Array(c.length);
      const gotSums = new Float32Array(c.length);
      const reference = attendKernel(cpuReferenceBackend.kernels)!;
      const want = await reference(
        { ...job, keys: c.keys, values: c.values, attentionSums: wantSums },
        attrsOf(c),
      );
      const keys = uploadSegments(storage, c.keys);
      const values = uploadSegments(storage, c.values);
      const got = await storeKernel(backend, 'attend')(
        { ...job, keys: keys.stored, values: values.stored, attentionSums: gotSums },
        attrsOf(c),
      );
      for (const b of [...keys.buffers, ...values.buffers]) storage.release(b);
      if (got.length !== want.length) {
        throw new StoreCheckFailure(
          `output length ${got.length}, expected ${want.length}`,
          Infinity,
        );
      }
      const outError = relativeError(got, want);
      const sumsError = relativeError(gotSums, wantSums);
      if (!(outError <= tolerance)) {
        throw new StoreCheckFailure(`output relative error ${outError} > ${tolerance}`, outError);
      }
      if (!(sumsError <= tolerance)) {
        throw new StoreCheckFailure(
          `attentionSums relative error ${sumsError} > ${tolerance}`,
          sumsError,
        );
      }
      return Math.max(outError, sumsError);
    },
  }));
}

export interface StoreConformanceOptions {
  /**
   * The two cached-token counts the transfer check compares a decode step at (default
   * 4,096 and 32,768; both multiples of the check's 32-token pages). An emulated device
   * too slow to fill 32k tokens in a test may use smaller ones.
   */
  transferContexts?: readonly [number, number];
}

/** Every store check (areas in STORE_CONFORMANCE_AREAS order). */
export function storeConformanceChecks(
  tolerance = ATTENTION_RELATIVE_TOLERANCE,
  options: StoreConformanceOptions = {},
): StoreCheck[] {
  return [
    ...storageChecks(),
    ...storeQuantizeChecks(),
    ...storeAttendChecks(tolerance),
    ...storeCacheChecks(tolerance, options.transferContexts),
  ];
}
