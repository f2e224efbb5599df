import {
  META_BYTES,
  metaBytesPerUnit,
  type QuantLayout,
  rowCodeBytes,
  SkvqError,
  type StoreSegment,
  type StoreView,
  type TokenGroupLayout,
} from '@skvq/core';
import { layoutPlan, validateLayout } from '@skvq/formats';
import { BUFFER_USAGE } from '../constants.js';
import type { GpuContext } from '../gpu-context.js';
import { bitsCode } from '../wgsl/codes.js';
import { META_FORMAT_CODE, SEGMENT_KIND, SEGMENT_STRIDE } from '../wgsl/segment-reader.js';
import type { ArenaView } from './device-storage.js';

/**
 * The device-resident tables one cache stream pair (keys + values of one layer) is
 * attended through, kept across decode steps so that a step uploads only what changed:
 *
 *   [ aux words of each token-group layout | segment descriptors (slots) | index ]
 *
 * A descriptor (SEGMENT_STRIDE words, segment-reader.ts) says where a segment's bytes are
 * in its arena; index entry n (4 words) is (key slot, key row, value slot, value row) of
 * position n. A host mirror of both lets each call compare: a step that appends a token
 * to the window and quantizes one leaving it rewrites a few entries (and the descriptors
 * of segments that moved), never the whole index. Growing a region copies the old table
 * on the device.
 */

const ENTRY_WORDS = 4;

type Locate = (view: StoreView, what: string) => ArenaView;
const UNSET = 0xffffffff;

function invalid(code: 'INVALID_ARGUMENT' | 'SHAPE_MISMATCH', message: string): never {
  throw new SkvqError(code, message);
}

interface Region {
  off: number;
  cap: number;
}

/** One segment of a call, checked and described. */
interface Described {
  seg: StoreSegment;
  words: Uint32Array;
  key: string;
}

export class AttendTables {
  gpu: GPUBuffer | undefined;
  private aux: Region = { off: 0, cap: 0 };
  private desc: Region = { off: 0, cap: 0 };
  private index: Region = { off: 0, cap: 0 };
  private auxUsed = 0;
  private readonly auxOf = new Map<TokenGroupLayout, number>();
  private readonly slotOf = new Map<string, number>();
  private keyOfSlot: (string | undefined)[] = [];
  private descMirror = new Uint32Array(0);
  private mirror = new Uint32Array(0);
  private stamps = new Uint32Array(0);
  private readonly scratch: (GPUBuffer | undefined)[] = [undefined, undefined];
  private generation = 0;
  lastUse = 0;

  constructor(private readonly ctx: GpuContext) {}

  dispose(): void {
    this.gpu?.destroy();
    this.gpu = undefined;
    for (const b of this.scratch) b?.destroy();
  }

  /**
   * Brings the device tables up to date for `keys` / `values` over positions [0, length)
   * and returns the arenas and word offsets the attention kernels bind and read.
   * Everything is checked before anything changes, so a rejected call leaves the tables as
   * they were.
   */
  prepare(
    keys: readonly StoreSegment[],
    values: readonly StoreSegment[],
    length: number,
    channels: number,
    locate: Locate,
    where: string,
  ): {
    kBuffer: GPUBuffer;
    vBuffer: GPUBuffer;
    kSeg: number;
    vSeg: number;
    kIdx: number;
    vIdx: number;
  } {
    const streams = [
      this.describe(keys, channels, locate, 'keys', where),
      this.describe(values, channels, locate, 'values', where),
    ] as const;
    this.checkPositions(streams, length, where);

    // Slots: keep the ones still described, free the rest, give new descriptors a slot.
    const live = new Set<string>();
    for (const s of streams) for (const d of s.described) live.add(d.key);
    for (const [key, slot] of this.slotOf) {
      if (!live.has(key)) {
        this.slotOf.delete(key);
        this.keyOfSlot[slot] = undefined;
      }
    }
    const dirtySlots: number[] = [];
    const slots = streams.map((s) =>
      s.described.map((d) => {
        let slot = this.slotOf.get(d.key);
        if (slot === undefined) {
          slot = this.keyOfSlot.indexOf(undefined);
          if (slot < 0) slot = this.keyOfSlot.length;
          this.keyOfSlot[slot] = d.key;
          this.slotOf.set(d.key, slot);
          dirtySlots.push(slot);
        }
        return slot;
      }),
    );
    this.reserve(this.auxUsed, this.keyOfSlot.length * SEGMENT_STRIDE, length * ENTRY_WORDS);
    const gpu = this.gpu as GPUBuffer;
    for (const s of dirtySlots) {
      const key = this.keyOfSlot[s] as string;
      const d = streams.flatMap((st) => st.described).find((x) => x.key === key) as Described;
      this.descMirror.set(d.words, s * SEGMENT_STRIDE);
    }
    this.upload(gpu, this.desc.off, this.descMirror, SEGMENT_STRIDE, dirtySlots);

    // Index entries that changed since the last call.
    const dirty: number[] = [];
    streams.forEach((s, st) => {
      s.described.forEach((d, i) => {
        const slot = slots[st]?.[i] as number;
        const { positions, count } = d.seg;
        for (let r = 0; r < count; r++) {
          const at = (positions[r] as number) * ENTRY_WORDS + 2 * st;
          if (this.mirror[at] !== slot || this.mirror[at + 1] !== r) {
            this.mirror[at] = slot;
            this.mirror[at + 1] = r;
            dirty.push(positions[r] as number);
          }
        }
      });
    });
    this.upload(gpu, this.index.off, this.mirror, ENTRY_WORDS, dirty);
    return {
      kBuffer: streams[0].buffer,
      vBuffer: streams[1].buffer,
      kSeg: this.desc.off,
      vSeg: this.desc.off,
      kIdx: this.index.off,
      vIdx: this.index.off + 2,
    };
  }

  /** Checks a stream's segments and builds their descriptors (in arena byte offsets). */
  private describe(
    segments: readonly StoreSegment[],
    channels: number,
    locate: Locate,
    what: 'keys' | 'values',
    where: string,
  ): { described: Described[]; buffer: GPUBuffer } {
    if (!Array.isArray(segments))
      invalid('INVALID_ARGUMENT', `${where}: ${what} must be an array of segments`);
    // Views are placed as they are checked; a stream whose views sit in several arenas is
    // gathered into one scratch buffer below.
    const views: { v: ArenaView; bytes: number; seg: number; word: number }[] = [];
    const place = (
      view: StoreView,
      label: string,
      bytes: number,
      seg: number,
      word: number,
      align: number,
    ): number => {
      const v = locate(view, label);
      if (v.byteLength < bytes) {
        invalid(
          'SHAPE_MISMATCH',
          `${where}: ${label} holds ${v.byteLength} bytes; ${bytes} needed`,
        );
      }
      // The readers load fp32 values as whole words and fp16 values as aligned halves.
      if (v.at % align !== 0) {
        invalid(
          'INVALID_ARGUMENT',
          `${where}: ${label} must start at a multiple of ${align} bytes`,
        );
      }
      views.push({ v, bytes, seg, word });
      return v.at;
    };
    const described = segments.map((seg, s): Described => {
      const label = `${what}[${s}]`;
      const n = seg?.count;
      if (!Number.isInteger(n) || n < 0 || n > 1 << 24) {
        invalid(
          'INVALID_ARGUMENT',
          `${where}: ${label} count ${n} must be an integer in 0..${1 << 24}`,
        );
      }
      if (!(seg.positions instanceof Int32Array) || seg.positions.length < n) {
        invalid(
          'SHAPE_MISMATCH',
          `${where}: ${label}.positions must be an Int32Array of at least ${n} entries`,
        );
      }
      const words = new Uint32Array(SEGMENT_STRIDE);
      if (seg.kind === 'fp') {
        if (seg.precision !== 'fp32' && seg.precision !== 'fp16') {
          invalid(
            'INVALID_ARGUMENT',
            `${where}: ${label} precision ${String(seg.precision)}; expected fp32, fp16`,
          );
        }
        const size = seg.precision === 'fp32' ? 4 : 2;
        words[0] = seg.precision === 'fp32' ? SEGMENT_KIND.fp32 : SEGMENT_KIND.fp16;
        words[1] = place(seg.data, `${label}.data`, n * channels * size, s, 1, size);
      } else if (seg.kind === 'packed') {
        const layout: QuantLayout = seg.layout;
        validateLayout(layout, `${where}: ${label}`);
        if (layout.channels !== channels) {
          invalid(
            'SHAPE_MISMATCH',
            `${where}: ${label} layout has ${layout.channels} channels; the geometry has ${channels}`,
          );
        }
        const units = layout.kind === 'token-group' ? n : n / layout.blockTokens;
        if (!Number.isInteger(units)) {
          invalid(
            'INVALID_ARGUMENT',
            `${where}: ${label} count ${n} is not a multiple of blockTokens`,
          );
        }
        words[0] =
          layout.kind === 'token-group' ? SEGMENT_KIND.tokenGroup : SEGMENT_KIND.channelBlock;
        words[1] = place(seg.codes, `${label}.codes`, n * rowCodeBytes(layout), s, 1, 1);
        words[2] = place(
          seg.meta,
          `${label}.meta`,
          units * metaBytesPerUnit(layout),
          s,
          2,
          META_BYTES[layout.meta],
        );
        words[3] = rowCodeBytes(layout);
        words[4] = metaBytesPerUnit(layout);
        words[5] = layout.kind === 'token-group' ? this.auxFor(layout) : 0;
        words[6] = bitsCode(layout.bits);
        words[7] = META_FORMAT_CODE[layout.meta];
        words[8] = layout.kind === 'channel-block' ? layout.blockTokens : 1;
      } else {
        invalid(
          'INVALID_ARGUMENT',
          `${where}: ${label} kind ${String((seg as { kind: unknown }).kind)}; expected fp, packed`,
        );
      }
      return { seg, words, key: '' };
    });
    const arenas = new Set(views.map((x) => x.v.arena));
    if (arenas.size === 0) invalid('INVALID_ARGUMENT', `${where}: ${what} hold no segments`);
    let buffer: GPUBuffer;
    if (arenas.size === 1) {
      buffer = (views[0] as { v: ArenaView }).v.arena.gpu;
    } else {
      const gathered = this.gather(views, what === 'keys' ? 0 : 1);
      buffer = gathered.buffer;
      views.forEach((x, i) => {
        (described[x.seg] as Described).words[x.word] = gathered.offsets[i] as number;
      });
    }
    for (const d of described) d.key = d.words.join(',');
    return { described, buffer };
  }

  /**
   * The fallback when a stream's buffers sit in several arenas (a storage past one
   * binding's worth of bytes): its views are copied, on the device, into one scratch
   * buffer per stream and described there. Nothing crosses to the host, but the step
   * copies the stream's bytes and rewrites the descriptors that moved.
   */
  private gather(
    views: { v: ArenaView; bytes: number; seg: number; word: number }[],
    stream: 0 | 1,
  ): { buffer: GPUBuffer; offsets: number[] } {
    const offsets: number[] = [];
    let total = 0;
    // Each view is copied from the word holding its first byte; it keeps its offset in
    // that word, so its alignment (and its descriptor's alignment) is unchanged.
    for (const x of views) {
      offsets.push(total + (x.v.at % 4));
      total += Math.ceil((x.bytes + 4) / 16) * 16;
    }
    const limit = this.ctx.maxBindingBytes - 16;
    if (total > limit) {
      invalid(
        'INVALID_ARGUMENT',
        `attend (webgpu store): one stream holds ${total} bytes over several arenas; one binding holds at most ${limit}`,
      );
    }
    let scratch = this.scratch[stream];
    if (scratch === undefined || scratch.size < total + 16) {
      scratch?.destroy();
      scratch = this.ctx.device.createBuffer({
        size: Math.min(growTo(total + 16), limit + 16),
        usage: BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_DST,
      });
      this.scratch[stream] = scratch;
    }
    const encoder = this.ctx.device.createCommandEncoder();
    views.forEach((x, i) => {
      const lead = x.v.at % 4;
      const to = (offsets[i] as number) - lead;
      if (x.bytes > 0) {
        const span = Math.ceil((x.bytes + lead) / 4) * 4;
        encoder.copyBufferToBuffer(x.v.arena.gpu, x.v.at - lead, scratch, to, span);
      }
    });
    this.ctx.device.queue.submit([encoder.finish()]);
    return { buffer: scratch, offsets };
  }

  /** Every position in [0, length) exactly once per stream (generation stamps, no clearing). */
  private checkPositions(
    streams: readonly { described: Described[] }[],
    length: number,
    where: string,
  ): void {
    if (this.stamps.length < length * 2) this.stamps = new Uint32Array(growTo(length * 2));
    this.generation += 1;
    const gen = this.generation;
    streams.forEach((s, st) => {
      const what = st === 0 ? 'keys' : 'values';
      let held = 0;
      s.described.forEach((d, i) => {
        for (let r = 0; r < d.seg.count; r++) {
          const p = d.seg.positions[r] as number;
          if (!(p >= 0 && p < length)) {
            invalid(
              'INVALID_ARGUMENT',
              `${where}: ${what}[${i}].positions[${r}] = ${p} is outside 0..${length - 1}`,
            );
          }
          if (this.stamps[2 * p + st] === gen)
            invalid('INVALID_ARGUMENT', `${where}: ${what} hold position ${p} twice`);
          this.stamps[2 * p + st] = gen;
          held++;
        }
      });
      if (held !== length) {
        let missing = 0;
        while (this.stamps[2 * missing + st] === gen) missing++;
        invalid('INVALID_ARGUMENT', `${where}: ${what} do not hold position ${missing}`);
      }
    });
  }

  /** Word offset of a token-group layout's invPerm | groupOf (uploaded once per layout). */
  private auxFor(layout: TokenGroupLayout): number {
    let at = this.auxOf.get(layout);
    if (at !== undefined) return at;
    const C = layout.channels;
    const { storageOf, pairOf } = layoutPlan(layout);
    const words = new Uint32Array(2 * C);
    words.set(storageOf, 0);
    words.set(pairOf, C);
    this.reserve(this.auxUsed + 2 * C, this.desc.cap, this.index.cap);
    at = this.aux.off + this.auxUsed;
    this.ctx.device.queue.writeBuffer(this.gpu as GPUBuffer, at * 4, words);
    this.ctx.transfers.bytesToDevice += words.byteLength;
    this.auxUsed += 2 * C;
    this.auxOf.set(layout, at);
    return at;
  }

  /** Grows the regions (doubling) so they hold the given words; copies on the device. */
  private reserve(auxWords: number, descWords: number, indexWords: number): void {
    const need = [auxWords, descWords, indexWords];
    const regions = [this.aux, this.desc, this.index];
    if (this.gpu !== undefined && regions.every((r, i) => r.cap >= (need[i] as number))) return;
    const caps = regions.map((r, i) => Math.max(r.cap, growTo(need[i] as number)));
    const offs = [0, caps[0] as number, (caps[0] as number) + (caps[1] as number)];
    const total = (offs[2] as number) + (caps[2] as number);
    const gpu = this.ctx.device.createBuffer({
      size: total * 4,
      usage: BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC | BUFFER_USAGE.COPY_DST,
    });
    if (this.gpu !== undefined) {
      const encoder = this.ctx.device.createCommandEncoder();
      regions.forEach((r, i) => {
        if (r.cap > 0)
          encoder.copyBufferToBuffer(
            this.gpu as GPUBuffer,
            r.off * 4,
            gpu,
            (offs[i] as number) * 4,
            r.cap * 4,
          );
      });
      this.ctx.device.queue.submit([encoder.finish()]);
      this.gpu.destroy();
    }
    // Aux offsets are absolute, and the aux region stays at 0, so descriptors stay valid.
    this.gpu = gpu;
    regions.forEach((r, i) => {
      r.off = offs[i] as number;
      r.cap = caps[i] as number;
    });
    if (this.descMirror.length < this.desc.cap) {
      const m = new Uint32Array(this.desc.cap);
      m.set(this.descMirror);
      this.descMirror = m;
    }
    if (this.mirror.length < this.index.cap) {
      const m = new Uint32Array(this.index.cap).fill(UNSET);
      m.set(this.mirror);
      this.mirror = m;
    }
  }

  /** Uploads the mirror entries `items` (entry size `stride` words), merging close runs. */
  private upload(
    gpu: GPUBuffer,
    off: number,
    mirror: Uint32Array,
    stride: number,
    items: number[],
  ): void {
    if (items.length === 0) return;
    items.sort((a, b) => a - b);
    let first = items[0] as number;
    let last = first;
    const flush = () => {
      const words = mirror.subarray(first * stride, (last + 1) * stride);
      this.ctx.device.queue.writeBuffer(
        gpu,
        (off + first * stride) * 4,
        words as Uint32Array<ArrayBuffer>,
      );
      this.ctx.transfers.bytesToDevice += words.byteLength;
    };
    for (let i = 1; i < items.length; i++) {
      const it = items[i] as number;
      // Gaps of a few entries cost fewer bytes than another write's overhead.
      if (it <= last + 4) last = Math.max(last, it);
      else {
        flush();
        first = it;
        last = it;
      }
    }
    flush();
  }
}

function growTo(n: number): number {
  return n <= 64 ? 64 : 2 ** Math.ceil(Math.log2(n));
}
