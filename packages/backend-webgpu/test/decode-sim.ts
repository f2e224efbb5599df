import { cpuReferenceBackend } from '@skvq/backend-cpu';
import {
  type AttentionAttrs,
  contiguousGroupOffsets,
  type KvGeometry,
  type KvSegment,
  metaBytesPerUnit,
  queryHidden,
  rowCodeBytes,
  type StoreSegment,
  type StoreView,
  type TokenGroupLayout,
  type TransferStats,
} from '@skvq/core';
import { decodeFp16, encodeFp16, quantizeTokensReference } from '@skvq/formats';
import type { WebgpuBackend } from '../src/index.js';
import { activations, permutation, rng } from './random-data.js';
import { bytesOf, toStore } from './store-fixture.js';

/**
 * A decode loop the way a cache runs it, for the store checks and the store benchmark:
 * fp32 sinks, 2-bit keys / ternary values (fp8 metadata, permuted groups) in pages of
 * `pageTokens`, an fp16 window ring of `window` tokens. One step: the token leaving the
 * window is quantized into the current page (keys and values), the new token takes its
 * ring slot, and one query attends over everything.
 *
 * path 'store': pages and ring live in the backend's device storage; the leaving token is
 * quantized from its ring slot (StoreRows), the new token written into the slot, attention
 * runs in place (StoreKernels). A host mirror quantized with the reference follows along
 * (reference outputs, save-style read back).
 * path 'host': the pages and ring are host arrays and the backend's host kernels run
 * (quantizeTokens and attendDecode: every call uploads what it reads), as before issue 19.
 */
export interface DecodeSimOptions {
  length: number;
  path: 'store' | 'host';
  geometry?: KvGeometry;
  pageTokens?: number;
  window?: number;
  groupSize?: number;
  seed?: number;
}

export interface StepResult {
  out: Float32Array;
  moved: TransferStats;
  ms: number;
}

const SINKS = 4;
const DEFAULT_GEOMETRY: KvGeometry = {
  layers: 1,
  queryHeads: 4,
  kvHeads: 2,
  headDim: 16,
  rope: { style: 'pairwise', theta: 10000 },
};

interface Page {
  first: number;
  host: { codes: Uint8Array; meta: Uint8Array };
  codes?: StoreView;
  meta?: StoreView;
}

interface Stream {
  layout: TokenGroupLayout;
  rowBytes: number;
  metaBytes: number;
  sinks: { host: KvSegment; store?: StoreSegment };
  pages: Page[];
  ring: { host: Uint16Array; view?: StoreView };
  seed: number;
}

const fp16Bits = (x: Float32Array) => Uint16Array.from(x, (v) => encodeFp16(v));

function delta(after: TransferStats, before: TransferStats): TransferStats {
  return {
    bytesToDevice: after.bytesToDevice - before.bytesToDevice,
    bytesFromDevice: after.bytesFromDevice - before.bytesFromDevice,
  };
}

function padded(bytes: Uint8Array, n: number): Uint8Array {
  const out = new Uint8Array(Math.ceil(n / 4) * 4);
  out.set(bytes.subarray(0, n));
  return out;
}

export class DecodeSim {
  readonly geometry: KvGeometry;
  readonly attrs: AttentionAttrs;
  readonly channels: number;
  /** Position of the next token. */
  position: number;
  private readonly page: number;
  private readonly window: number;
  private readonly streams: Stream[];
  private readonly ringPositions: Int32Array;
  private readonly random: () => number;

  constructor(
    private readonly backend: WebgpuBackend,
    private readonly options: DecodeSimOptions,
  ) {
    this.geometry = options.geometry ?? DEFAULT_GEOMETRY;
    this.attrs = { geometry: this.geometry, keysPreRope: true };
    this.page = options.pageTokens ?? 256;
    this.window = options.window ?? 32;
    const C = this.geometry.kvHeads * this.geometry.headDim;
    this.channels = C;
    this.random = rng(options.seed ?? 600);
    this.ringPositions = new Int32Array(this.window);
    const group = options.groupSize ?? 8;
    const layout = (bits: 2 | 1.5): TokenGroupLayout => ({
      kind: 'token-group',
      channels: C,
      bits,
      meta: 'fp8e4m3',
      perm: permutation(this.random, C),
      groupOffsets: contiguousGroupOffsets(C, group),
      alpha: 0.9,
    });
    this.streams = [layout(2), layout(1.5)].map((l, i) => this.makeStream(l, 1000 * (i + 1)));
    this.position = options.length;
    this.fill();
  }

  /** Token rows of a stream, generated per token (no [length, C] array is ever held). */
  private rows(stream: Stream, from: number, to: number): Float32Array {
    return activations(rng(stream.seed + from), to - from, this.channels);
  }

  private makeStream(layout: TokenGroupLayout, seed: number): Stream {
    const C = this.channels;
    const s = this.store();
    const stream: Stream = {
      layout,
      rowBytes: rowCodeBytes(layout),
      metaBytes: metaBytesPerUnit(layout),
      sinks: {
        host: {
          kind: 'fp',
          count: SINKS,
          precision: 'fp32',
          data: new Float32Array(0),
          positions: Int32Array.from({ length: SINKS }, (_, i) => i),
        },
      },
      pages: [],
      ring: { host: new Uint16Array(this.window * C) },
      seed,
    };
    const sinks = { ...stream.sinks.host, data: this.rows(stream, 0, SINKS) } as KvSegment;
    stream.sinks.host = sinks;
    if (s !== undefined) {
      stream.sinks.store = toStore(s, sinks);
      const bytes = this.window * C * 2;
      stream.ring.view = { buffer: s.allocate(bytes, 'fp'), byteOffset: 0, byteLength: bytes };
    }
    return stream;
  }

  private store() {
    return this.options.path === 'store' ? this.backend.storage : undefined;
  }

  private newPage(stream: Stream, first: number): Page {
    const s = this.store();
    const codeBytes = this.page * stream.rowBytes;
    const metaBytes = this.page * stream.metaBytes;
    const pg: Page = {
      first,
      host: { codes: new Uint8Array(codeBytes), meta: new Uint8Array(metaBytes) },
    };
    if (s !== undefined) {
      const codes = s.allocate(Math.ceil(codeBytes / 4) * 4, 'codes');
      const meta = s.allocate(Math.ceil(metaBytes / 4) * 4, 'meta');
      pg.codes = { buffer: codes, byteOffset: 0, byteLength: codes.byteLength };
      pg.meta = { buffer: meta, byteOffset: 0, byteLength: meta.byteLength };
    }
    stream.pages.push(pg);
    return pg;
  }

  /** Setup (not a decode step): pages quantized by the reference, the window ring filled. */
  private fill(): void {
    const { length } = this.options;
    const C = this.channels;
    const packedEnd = length - this.window;
    const s = this.store();
    for (const st of this.streams) {
      for (let first = SINKS; first < packedEnd; first += this.page) {
        const pg = this.newPage(st, first);
        const n = Math.min(this.page, packedEnd - first);
        const x = this.rows(st, first, first + n);
        quantizeTokensReference(st.layout, x, n, pg.host.codes, 0, pg.host.meta, 0);
        if (s !== undefined) {
          s.write((pg.codes as StoreView).buffer, 0, padded(pg.host.codes, n * st.rowBytes));
          s.write((pg.meta as StoreView).buffer, 0, padded(pg.host.meta, n * st.metaBytes));
        }
      }
      const win = fp16Bits(this.rows(st, packedEnd, length));
      for (let p = packedEnd; p < length; p++) {
        const slot = p % this.window;
        st.ring.host.set(win.subarray((p - packedEnd) * C, (p - packedEnd + 1) * C), slot * C);
        this.ringPositions[slot] = p;
      }
      if (s !== undefined) s.write((st.ring.view as StoreView).buffer, 0, bytesOf(st.ring.host));
    }
  }

  /** The segments of a stream with tokens [0, position) held: host arrays or store views. */
  segments(st: Stream, host: boolean): (KvSegment | StoreSegment)[] {
    const packedTo = this.position - this.window;
    const out: (KvSegment | StoreSegment)[] = [
      host ? st.sinks.host : (st.sinks.store as StoreSegment),
    ];
    for (const pg of st.pages) {
      const n = Math.min(this.page, packedTo - pg.first);
      if (n <= 0) continue;
      const positions = Int32Array.from({ length: n }, (_, i) => pg.first + i);
      out.push(
        host
          ? { kind: 'packed', count: n, layout: st.layout, ...pg.host, positions }
          : {
              kind: 'packed',
              count: n,
              layout: st.layout,
              codes: pg.codes as StoreView,
              meta: pg.meta as StoreView,
              positions,
            },
      );
    }
    const positions = this.ringPositions.slice();
    out.push(
      host
        ? { kind: 'fp', count: this.window, precision: 'fp16', data: st.ring.host, positions }
        : {
            kind: 'fp',
            count: this.window,
            precision: 'fp16',
            data: st.ring.view as StoreView,
            positions,
          },
    );
    return out;
  }

  /** A query for the next step (deterministic). */
  query(): Float32Array {
    return new Float32Array(queryHidden(this.geometry)).map(() => this.random() * 2 - 1);
  }

  /** One decode step with query `q` for the token at `position`. */
  async step(q: Float32Array): Promise<StepResult> {
    const C = this.channels;
    const p = this.position;
    const leaving = p - this.window;
    const slot = p % this.window;
    const s = this.store();
    const kernels = this.backend.kernels;
    const before = this.backend.transferStats();
    const t0 = performance.now();
    for (const st of this.streams) {
      if ((leaving - SINKS) % this.page === 0) this.newPage(st, leaving);
      const pg = st.pages[st.pages.length - 1] as Page;
      const row = leaving - pg.first;
      const fresh = fp16Bits(this.rows(st, p, p + 1));
      const token = Float32Array.from(st.ring.host.subarray(slot * C, (slot + 1) * C), decodeFp16);
      if (s !== undefined) {
        await s.kernels.quantizeTokens?.({
          layout: st.layout,
          x: {
            view: {
              buffer: (st.ring.view as StoreView).buffer,
              byteOffset: slot * C * 2,
              byteLength: C * 2,
            },
            precision: 'fp16',
          },
          count: 1,
          codes: {
            buffer: (pg.codes as StoreView).buffer,
            byteOffset: row * st.rowBytes,
            byteLength: st.rowBytes,
          },
          meta: {
            buffer: (pg.meta as StoreView).buffer,
            byteOffset: row * st.metaBytes,
            byteLength: st.metaBytes,
          },
        });
        s.write((st.ring.view as StoreView).buffer, slot * C * 2, bytesOf(fresh));
        // The host mirror follows with the reference quantizer.
        quantizeTokensReference(
          st.layout,
          token,
          1,
          pg.host.codes,
          row * st.rowBytes,
          pg.host.meta,
          row * st.metaBytes,
        );
      } else {
        await kernels.quantizeTokens?.({
          layout: st.layout,
          x: token,
          count: 1,
          codes: pg.host.codes,
          codesOffset: row * st.rowBytes,
          meta: pg.host.meta,
          metaOffset: row * st.metaBytes,
        });
      }
      st.ring.host.set(fresh, slot * C);
    }
    this.ringPositions[slot] = p;
    this.position = p + 1;
    const [ks, vs] = this.streams as [Stream, Stream];
    const out =
      s !== undefined
        ? await s.kernels.attend(
            {
              q,
              start: p,
              rows: 1,
              causal: false,
              keys: this.segments(ks, false) as StoreSegment[],
              values: this.segments(vs, false) as StoreSegment[],
              length: p + 1,
            },
            this.attrs,
          )
        : ((await kernels.attendDecode?.(
            {
              q,
              position: p,
              keys: this.segments(ks, true) as KvSegment[],
              values: this.segments(vs, true) as KvSegment[],
              length: p + 1,
            },
            this.attrs,
          )) as Float32Array);
    const ms = performance.now() - t0;
    return { out, moved: delta(this.backend.transferStats(), before), ms };
  }

  /** The reference output of the last step's query over the host mirror. */
  reference(q: Float32Array): Float32Array {
    const [ks, vs] = this.streams as [Stream, Stream];
    const attend = cpuReferenceBackend.kernels.attendDecode as unknown as (
      i: object,
      a: AttentionAttrs,
    ) => Float32Array;
    return attend(
      {
        q,
        position: this.position - 1,
        keys: this.segments(ks, true),
        values: this.segments(vs, true),
        length: this.position,
      },
      this.attrs,
    );
  }

  /** Save-style read back of the last two pages of each stream: [got, want] pairs. */
  async readBack(): Promise<[Uint8Array, Uint8Array][]> {
    const s = this.store();
    if (s === undefined) return [];
    const pairs: [Uint8Array, Uint8Array][] = [];
    for (const st of this.streams) {
      for (const pg of st.pages.slice(-2)) {
        pairs.push([
          (await s.read(pg.codes as StoreView)).subarray(0, pg.host.codes.length),
          pg.host.codes,
        ]);
        pairs.push([
          (await s.read(pg.meta as StoreView)).subarray(0, pg.host.meta.length),
          pg.host.meta,
        ]);
      }
    }
    return pairs;
  }

  /** Frees the store buffers of this loop. */
  release(): void {
    const s = this.store();
    if (s === undefined) return;
    for (const st of this.streams) {
      for (const pg of st.pages) {
        s.release((pg.codes as StoreView).buffer);
        s.release((pg.meta as StoreView).buffer);
      }
      s.release((st.ring.view as StoreView).buffer);
      const sinks = st.sinks.store;
      if (sinks?.kind === 'fp') s.release(sinks.data.buffer);
    }
  }
}
