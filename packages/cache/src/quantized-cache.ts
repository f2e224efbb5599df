import {
  type AttendDecodeInputs,
  type AttentionAttrs,
  type CacheBytes,
  decodeJob,
  type FpSegment,
  type KvGeometry,
  type KvSegment,
  type KvStream,
  kvHidden,
  type MaybePromise,
  prefillJob,
  type QuantLayout,
  ropeInverseFrequencies,
  SkvqError,
  type TokenPolicy,
  validateGeometry,
} from '@skvq/core';
import { requireAttend, requireKernel } from './backend.js';
import { finishBytes, zeroParts } from './bytes.js';
import { rotateKeys } from './dense-cache.js';
import { FP_PRECISIONS, FpPagedRows, type FpPrecision } from './fp-rows.js';
import { afterValue, settleAll } from './maybe-promise.js';
import { PackedPages } from './packed-pages.js';
import { PendingBlock } from './pending.js';
import {
  DEFAULT_PAGE_TOKENS,
  DEFAULT_SINKS,
  DEFAULT_WINDOW,
  KEPT_PAGE_TOKENS,
  PREFILL_ATTENTION_MODES,
  type PrefillAttention,
  type QuantizedCacheOptions,
  type StreamSpec,
} from './quantized-options.js';
import type { CacheDescription, KvCache, LayerDescription, StreamDescription } from './types.js';
import {
  checkAppend,
  checkAttend,
  checkAttendPrefill,
  checkOption,
  checkPositiveIntOption,
} from './validate.js';
import { WindowBuffer } from './window.js';

/** One stream (K or V) of one layer. */
export interface StreamState {
  readonly layout: QuantLayout;
  readonly pages: PackedPages;
  /** Sinks and tokens other rules keep, full precision for good. */
  readonly kept: FpPagedRows;
  /** Channel-block streams: tokens waiting for a whole block. */
  readonly pending: PendingBlock | null;
}

/** Full-precision copy of the last appended chunk ('original' prefill attention). */
interface LastChunk {
  start: number;
  count: number;
  k: Float32Array;
  v: Float32Array;
  /** Per stream: tokens before `start` quantized in a block that also holds chunk tokens. */
  straddle: Record<KvStream, { x: Float32Array; positions: Int32Array } | null>;
}

export interface LayerState {
  readonly policy: TokenPolicy;
  readonly window: WindowBuffer;
  readonly k: StreamState;
  readonly v: StreamState;
  length: number;
  lastChunk: LastChunk | null;
}

/** A run of consecutive leaving positions with one fate and one source. */
interface Run {
  first: number;
  count: number;
  keep: boolean;
}

const STREAMS: readonly KvStream[] = ['k', 'v'];

export class QuantizedCache implements KvCache {
  readonly kind = 'quantized' as const;
  readonly geometry: KvGeometry;
  readonly keysPreRope: boolean;
  readonly fpPrecision: FpPrecision;
  readonly pageTokens: number;
  readonly prefillAttention: PrefillAttention;
  readonly layers: LayerState[];
  private readonly channels: number;
  private readonly attrs: AttentionAttrs;
  private readonly invFreq: Float64Array;
  private readonly kernels;

  constructor(readonly options: QuantizedCacheOptions) {
    const where = 'createQuantizedCache';
    this.geometry = validateGeometry(options.geometry, `${where} geometry`);
    this.channels = kvHidden(this.geometry);
    this.fpPrecision = options.fpPrecision ?? 'fp32';
    checkOption(this.fpPrecision, FP_PRECISIONS, 'fpPrecision', where);
    this.prefillAttention = options.prefillAttention ?? 'quantized';
    checkOption(this.prefillAttention, PREFILL_ATTENTION_MODES, 'prefillAttention', where);
    this.pageTokens = options.pageTokens ?? DEFAULT_PAGE_TOKENS;
    checkPositiveIntOption(this.pageTokens, 'pageTokens', where);
    checkStreamSpec(options.keys, 'keys', where);
    checkStreamSpec(options.values, 'values', where);
    this.keysPreRope = options.keysPreRope ?? options.keys.quantizer.keyRope !== 'post';
    this.attrs = { geometry: this.geometry, keysPreRope: this.keysPreRope };
    this.invFreq =
      this.geometry.rope.style === 'none'
        ? new Float64Array(0)
        : ropeInverseFrequencies(this.geometry.headDim, this.geometry.rope.theta);
    const layers: LayerState[] = [];
    let needTokens = false;
    let needBlock = false;
    for (let layer = 0; layer < this.geometry.layers; layer++) {
      const policy = this.createPolicy(layer);
      const stream = (name: KvStream): StreamState => {
        const spec = name === 'k' ? options.keys : options.values;
        const layout = spec.quantizer.layout({
          geometry: this.geometry,
          layer,
          stream: name,
          bits: spec.bits,
          meta: spec.meta,
          groupSize: spec.groupSize,
          ...(options.calibration === undefined ? {} : { calibration: options.calibration }),
          ...(spec.alpha === undefined ? {} : { alpha: spec.alpha }),
        });
        this.checkLayout(layout, name, where);
        if (layout.kind === 'token-group') needTokens = true;
        else needBlock = true;
        return {
          layout,
          pages: new PackedPages(layout, this.pageTokens),
          kept: new FpPagedRows(this.channels, this.fpPrecision, KEPT_PAGE_TOKENS),
          pending:
            layout.kind === 'channel-block'
              ? new PendingBlock(layout.blockTokens, this.channels, this.fpPrecision)
              : null,
        };
      };
      layers.push({
        policy,
        window: new WindowBuffer(policy.window, this.channels, this.fpPrecision),
        k: stream('k'),
        v: stream('v'),
        length: 0,
        lastChunk: null,
      });
    }
    this.layers = layers;
    const b = options.backend;
    this.kernels = {
      quantizeTokens: needTokens ? requireKernel(b, 'quantizeTokens') : null,
      quantizeBlock: needBlock ? requireKernel(b, 'quantizeBlock') : null,
      attend: requireAttend(b),
    };
  }

  private createPolicy(layer: number): TokenPolicy {
    const { policy } = this.options;
    let created: TokenPolicy;
    if (typeof policy === 'function') {
      created = policy(layer);
    } else if (policy !== null && typeof policy === 'object' && policy.kind === 'policy') {
      const rules = this.options.rules;
      created = policy.create({
        window: this.options.window ?? DEFAULT_WINDOW,
        sinks: this.options.sinks ?? DEFAULT_SINKS,
        ...(rules === undefined
          ? {}
          : { rules: typeof rules === 'function' ? rules(layer) : rules }),
      });
    } else {
      throw new SkvqError(
        'INVALID_PLUGIN',
        'createQuantizedCache: policy must be a PolicyPlugin or a function (layer) => TokenPolicy',
      );
    }
    if (
      created === null ||
      typeof created !== 'object' ||
      typeof created.admit !== 'function' ||
      !Number.isInteger(created.window) ||
      created.window < 0 ||
      !Number.isInteger(created.sinks) ||
      created.sinks < 0
    ) {
      throw new SkvqError(
        'INVALID_PLUGIN',
        `createQuantizedCache: the policy of layer ${layer} must have integer window >= 0, sinks >= 0 and admit()`,
      );
    }
    return created;
  }

  private checkLayout(layout: QuantLayout, stream: KvStream, where: string): void {
    if (layout.channels !== this.channels) {
      throw new SkvqError(
        'SHAPE_MISMATCH',
        `${where}: the ${stream} layout has ${layout.channels} channels; the geometry has kvHidden = ${this.channels}`,
      );
    }
    if (layout.kind === 'channel-block' && this.pageTokens % layout.blockTokens !== 0) {
      throw new SkvqError(
        'UNSUPPORTED_OPTION',
        `${where}: pageTokens ${this.pageTokens} must be a multiple of the ${stream} stream's block of ${layout.blockTokens} tokens`,
        { details: { pageTokens: this.pageTokens, blockTokens: layout.blockTokens } },
      );
    }
  }

  length(layer: number): number {
    return this.layers[layer]?.length ?? 0;
  }

  append(layer: number, k: Float32Array, v: Float32Array, count: number): MaybePromise<void> {
    checkAppend(this.geometry, layer, k, v, count, 'quantized cache append');
    const state = this.layers[layer]!;
    const start = state.length;
    const end = start + count;
    const kIn = this.keysPreRope ? k : rotateKeys(this.geometry, k, count, start, this.invFreq);
    const { window } = state;
    const windowStart = start - window.count;
    const leaveEnd = end - Math.min(state.policy.window, end);
    const runs = planRuns(state.policy.admit(start, count), windowStart, leaveEnd, start, layer);

    // Everything below only moves data that was validated above.
    const original = this.prefillAttention === 'original';
    const chunk: LastChunk | null = original
      ? { start, count, k: kIn.slice(), v: v.slice(), straddle: { k: null, v: null } }
      : null;
    const results: MaybePromise<void>[] = [];
    for (const run of runs) {
      const fromWindow = run.first < start;
      const positions = Int32Array.from({ length: run.count }, (_, i) => run.first + i);
      for (const name of STREAMS) {
        const input = name === 'k' ? kIn : v;
        const x = fromWindow
          ? name === 'k'
            ? window.readK(run.first - windowStart, run.count)
            : window.readV(run.first - windowStart, run.count)
          : input.subarray(
              (run.first - start) * this.channels,
              (run.first - start + run.count) * this.channels,
            );
        const stream = state[name];
        if (run.keep) stream.kept.appendFloat(x, 0, run.count, positions, 0);
        else this.quantizeRun(stream, name, x, run.count, positions, start, chunk, results);
      }
    }
    window.dropFront(Math.min(window.count, leaveEnd - windowStart));
    const enter = Math.max(start, leaveEnd);
    window.append(kIn, v, enter - start, end - enter, enter);
    state.length = end;
    state.lastChunk = chunk;
    return settleAll(results);
  }

  /** Quantizes rows that left the window into pages (via pending blocks for channel-block). */
  private quantizeRun(
    stream: StreamState,
    name: KvStream,
    x: Float32Array,
    count: number,
    positions: Int32Array,
    chunkStart: number,
    chunk: LastChunk | null,
    results: MaybePromise<void>[],
  ): void {
    const { layout, pages } = stream;
    if (layout.kind === 'token-group') {
      let row = 0;
      for (const slice of pages.reserve(count, positions, 0)) {
        results.push(
          this.kernels.quantizeTokens!({
            layout,
            x: x.subarray(row * this.channels, (row + slice.tokens) * this.channels),
            count: slice.tokens,
            codes: slice.page.codes,
            codesOffset: slice.first * pages.rowBytes,
            meta: slice.page.meta,
            metaOffset: slice.first * pages.unitBytes,
          }),
        );
        row += slice.tokens;
      }
      return;
    }
    const pending = stream.pending!;
    let row = 0;
    while (row < count) {
      row += pending.push(x, row, count - row, positions, row);
      if (!pending.full) break;
      const block = pending.take();
      const [slice] = pages.reserve(layout.blockTokens, block.positions, 0);
      results.push(
        this.kernels.quantizeBlock!({
          layout,
          x: block.x,
          codes: slice!.page.codes,
          codesOffset: slice!.first * pages.rowBytes,
          meta: slice!.page.meta,
          metaOffset: (slice!.first / layout.blockTokens) * pages.unitBytes,
        }),
      );
      const before = countBelow(block.positions, chunkStart);
      if (chunk !== null && before > 0 && before < block.positions.length) {
        chunk.straddle[name] = {
          x: block.x.slice(0, before * this.channels),
          positions: block.positions.slice(0, before),
        };
      }
    }
  }

  /** Keys and values segments: kept (sinks) + pages + pending + window. */
  segments(layer: number): { keys: KvSegment[]; values: KvSegment[] } {
    const state = this.layers[layer]!;
    const w = state.window.segments();
    const of = (s: StreamState, win: FpSegment[]): KvSegment[] => [
      ...s.kept.segments(),
      ...s.pages.segments(),
      ...(s.pending?.segments() ?? []),
      ...win,
    ];
    return { keys: of(state.k, w.k), values: of(state.v, w.v) };
  }

  /** 'original' prefill: the state before the chunk, plus the chunk at full precision. */
  private originalSegments(
    state: LayerState,
    chunk: LastChunk,
  ): { keys: KvSegment[]; values: KvSegment[] } {
    const limit = chunk.start;
    const w = state.window.segments(limit);
    const of = (name: KvStream, win: FpSegment[]): KvSegment[] => {
      const s = state[name];
      const packed = s.pages.segmentsBelow(limit);
      const out: KvSegment[] = [...s.kept.segmentsBelow(limit), ...packed.segments];
      if (packed.cut > 0) {
        const straddle = chunk.straddle[name]!;
        out.push({
          kind: 'fp',
          count: straddle.positions.length,
          precision: 'fp32',
          data: straddle.x,
          positions: straddle.positions,
        });
      }
      out.push(...(s.pending?.segments(limit) ?? []), ...win);
      out.push({
        kind: 'fp',
        count: chunk.count,
        precision: 'fp32',
        data: name === 'k' ? chunk.k : chunk.v,
        positions: Int32Array.from({ length: chunk.count }, (_, i) => chunk.start + i),
      });
      return out;
    };
    return { keys: of('k', w.k), values: of('v', w.v) };
  }

  attend(layer: number, q: Float32Array, position: number): MaybePromise<Float32Array> {
    const state = this.layers[layer];
    const length = this.length(layer);
    checkAttend(this.geometry, layer, q, position, length, 'quantized cache attend');
    const { keys, values } = this.segments(layer);
    const inputs: AttendDecodeInputs = { q, position, keys, values, length };
    return this.observe(state!, inputs, (i) => this.kernels.attend(decodeJob(i), this.attrs));
  }

  attendPrefill(
    layer: number,
    q: Float32Array,
    start: number,
    count: number,
  ): MaybePromise<Float32Array> {
    const state = this.layers[layer];
    const length = this.length(layer);
    checkAttendPrefill(
      this.geometry,
      layer,
      q,
      start,
      count,
      length,
      'quantized cache attendPrefill',
    );
    const chunk = state!.lastChunk;
    const inChunk =
      chunk !== null && start >= chunk.start && start + count <= chunk.start + chunk.count;
    const { keys, values } = inChunk ? this.originalSegments(state!, chunk!) : this.segments(layer);
    return this.observe(state!, { q, start, count, keys, values, length }, (i) =>
      this.kernels.attend(prefillJob(i), this.attrs),
    );
  }

  /** Feeds per-position attention mass back to the policy when it wants it (heavy hitters). */
  private observe<I extends { length: number; attentionSums?: Float32Array }>(
    state: LayerState,
    inputs: I,
    run: (inputs: I) => MaybePromise<Float32Array>,
  ): MaybePromise<Float32Array> {
    const observe = state.policy.observeAttention;
    if (typeof observe !== 'function') return run(inputs);
    const sums = new Float32Array(inputs.length);
    inputs.attentionSums = sums;
    return afterValue(run(inputs), () => observe.call(state.policy, sums, inputs.length));
  }

  bytes(): CacheBytes {
    const parts = zeroParts();
    for (const state of this.layers) {
      parts.window += 2 * state.window.heldBytesPerStream();
      parts.pageSlack += 2 * state.window.slackBytesPerStream();
      for (const name of STREAMS) {
        const s = state[name];
        parts.codes += s.pages.codeBytes();
        parts.metadata += s.pages.metaBytes();
        parts.pageSlack +=
          s.pages.slackBytes() + s.kept.slackBytes() + (s.pending?.slackBytes() ?? 0);
        const sinks = s.kept.heldBytesBelow(state.policy.sinks);
        parts.sinks += sinks;
        parts.keptFp += s.kept.heldBytes() - sinks + (s.pending?.heldBytes() ?? 0);
        parts.permutations += permutationBytes(s.layout);
      }
    }
    return finishBytes(
      parts,
      this.layers.map((s) => s.length),
      this.channels,
    );
  }

  reset(): void {
    for (const state of this.layers) {
      state.policy.reset();
      state.window.clear();
      for (const name of STREAMS) {
        state[name].pages.clear();
        state[name].kept.clear();
        state[name].pending?.clear();
      }
      state.length = 0;
      state.lastChunk = null;
    }
  }

  describeLayer(layer: number): LayerDescription {
    const state = this.layers[layer]!;
    const sinks = state.k.kept.countBelow(state.policy.sinks);
    return {
      layer,
      tokens: state.length,
      sinks,
      window: state.window.count,
      quantized: { k: state.k.pages.count, v: state.v.pages.count },
      kept: state.k.kept.count - sinks,
      pending: { k: state.k.pending?.count ?? 0, v: state.v.pending?.count ?? 0 },
      pages: { k: state.k.pages.pages.length, v: state.v.pages.pages.length },
    };
  }

  describe(): CacheDescription {
    const stream = (spec: StreamSpec, layout: QuantLayout): StreamDescription => ({
      quantizer: spec.quantizer.name,
      bits: spec.bits,
      meta: spec.meta,
      layout: layout.kind,
      groupSize: spec.groupSize,
    });
    return {
      kind: 'quantized',
      geometry: this.geometry,
      keysPreRope: this.keysPreRope,
      fpPrecision: this.fpPrecision,
      streams: {
        k: stream(this.options.keys, this.layers[0]!.k.layout),
        v: stream(this.options.values, this.layers[0]!.v.layout),
      },
      layers: this.layers.map((_, layer) => this.describeLayer(layer)),
      bytes: this.bytes(),
    };
  }
}

/** Per-layer channel permutation (Uint32 per channel) and group offsets (Uint32 each). */
export function permutationBytes(layout: QuantLayout): number {
  if (layout.kind !== 'token-group') return 0;
  return (layout.perm === null ? 0 : 4 * layout.perm.length) + 4 * layout.groupOffsets.length;
}

function countBelow(positions: Int32Array, limit: number): number {
  let n = 0;
  while (n < positions.length && positions[n]! < limit) n++;
  return n;
}

function checkStreamSpec(spec: StreamSpec, name: string, where: string): void {
  if (spec === null || typeof spec !== 'object' || spec.quantizer?.kind !== 'quantizer') {
    throw new SkvqError('INVALID_PLUGIN', `${where}: ${name}.quantizer must be a QuantizerPlugin`);
  }
  checkPositiveIntOption(spec.groupSize, `${name}.groupSize`, where);
}

/**
 * Checks the policy's decision against the FIFO window (positions windowStart..leaveEnd-1
 * leave, each exactly once, quantized or kept) and cuts it into runs of one fate and one
 * source (window rows before `start`, input rows after).
 */
function planRuns(
  decision: { quantize: Int32Array; keep: Int32Array },
  windowStart: number,
  leaveEnd: number,
  start: number,
  layer: number,
): Run[] {
  const { quantize, keep } = decision;
  const runs: Run[] = [];
  let qi = 0;
  let ki = 0;
  for (let p = windowStart; p < leaveEnd; p++) {
    let isKeep: boolean;
    if (quantize[qi] === p) {
      isKeep = false;
      qi++;
    } else if (keep[ki] === p) {
      isKeep = true;
      ki++;
    } else {
      throw badDecision(
        layer,
        windowStart,
        leaveEnd,
        `position ${p} is neither quantized nor kept`,
      );
    }
    const last = runs[runs.length - 1];
    if (last !== undefined && last.keep === isKeep && p !== start) last.count++;
    else runs.push({ first: p, count: 1, keep: isKeep });
  }
  if (qi !== quantize.length || ki !== keep.length) {
    throw badDecision(
      layer,
      windowStart,
      leaveEnd,
      'it names positions that do not leave the window now',
    );
  }
  return runs;
}

function badDecision(layer: number, from: number, to: number, why: string): SkvqError {
  return new SkvqError(
    'INVALID_PLUGIN',
    `quantized cache: the policy of layer ${layer} must return each of the positions ${from}..${to - 1} leaving its FIFO window exactly once, ascending; ${why}`,
    { details: { layer, from, to } },
  );
}

/**
 * The SKVQ compressed KV cache: per layer, full-precision sinks and kept tokens, packed
 * pages of quantized tokens (never copied as a whole, never re-quantized), pending blocks
 * for channel-block streams, and the full-precision window.
 */
export function createQuantizedCache(options: QuantizedCacheOptions): QuantizedCache {
  return new QuantizedCache(options);
}
