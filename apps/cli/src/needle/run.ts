import { createDenseCache, createQuantizedCache, type KvCache, type StreamSpec } from '@skvq/cache';
import type {
  BackendPlugin,
  CalibrationArtifact,
  FilterRule,
  KvGeometry,
  MetaFormat,
  Registry,
} from '@skvq/core';
import type { MethodSpec } from '../methods.js';
import { attendQuery } from './cells.js';
import { CHUNK_TOKENS, chunkCount } from './haystack.js';
import {
  headWeights,
  maxRelativeError,
  measureNeedle,
  type NeedleMeasure,
  relativeError,
} from './metrics.js';
import { type HaystackStats, type NeedlePlan, plantedChunk } from './plan.js';
import { type CellReference, StreamingReference } from './reference.js';

/**
 * One context of the needle sweep: every method's cache is filled once, in the same pass
 * over the generated haystack (the cache's real append path), and each cell is then read
 * with its own query through the cache's `attend` (the backend's fused decode kernel).
 */

export interface NeedleRunOptions {
  registry: Registry;
  backend: BackendPlugin;
  methods: readonly MethodSpec[];
  window: number;
  sinks: number;
  groupSize: number;
  meta: MetaFormat;
  /** Cells on which the dense (fp16/fp32) kernel runs for the numerics check. */
  kernelCells: number;
  /** SKVQ calibration for this geometry and method (haystack-like data, never the needles). */
  calibration: (spec: MethodSpec) => Promise<CalibrationArtifact | undefined>;
  progress?: (stage: string, done: number, total: number) => void;
}

export interface CellResult extends NeedleMeasure {
  /** (c) relative error of the cell head's output against the float64 fp32 reference. */
  error: number;
}

export interface MethodResult {
  method: string;
  /** Average bits per element of everything the cache holds (no page slack). */
  avgBits: number;
  /** Codes + scales/zeros bits per quantized element (what grows with context). */
  codeMetaBits: number;
  cells: CellResult[];
  /** fp16/fp32: kernel output vs float64 on the very tokens it holds (worst cell). */
  kernelError?: { l2: number; maxAbsOverMax: number; cells: number };
  seconds: { attend: number };
}

export interface ContextResult {
  tokens: number;
  geometry: KvGeometry;
  cells: Array<{
    index: number;
    depth: number;
    margin: number;
    head: number;
    slot: number;
    position: number;
    haystack: HaystackStats;
    beta: number;
    referenceShare: number;
  }>;
  methods: MethodResult[];
  seconds: { fill: number };
}

/** Pages of the dense (fp16/fp32) caches: few, large segments for the kernel. */
const DENSE_PAGE_TOKENS = 16_384;

/** A filter rule that keeps nothing and records the kernel's attention sums. */
function probeRule(): FilterRule & { last: Float32Array | null } {
  return {
    name: 'needle-probe',
    last: null,
    keeps: () => false,
    observeAttention(sums) {
      this.last = sums;
    },
  };
}

function createCache(
  options: NeedleRunOptions,
  geometry: KvGeometry,
  spec: MethodSpec,
  rule: FilterRule,
  calibration: CalibrationArtifact | undefined,
): KvCache {
  const stream = (method: string, bits: StreamSpec['bits']): StreamSpec => ({
    quantizer: options.registry.get('quantizer', method),
    bits,
    meta: options.meta,
    groupSize: options.groupSize,
    ...(spec.kind === 'quantized' && spec.noClip && method === 'skvq' ? { alpha: 1 } : {}),
  });
  if (spec.kind === 'dense') {
    return createDenseCache({
      geometry,
      precision: spec.precision,
      backend: options.backend,
      pageTokens: DENSE_PAGE_TOKENS,
    });
  }
  return createQuantizedCache({
    geometry,
    backend: options.backend,
    keys: stream(spec.keys.method, spec.keys.bits),
    values: stream(spec.values.method, spec.values.bits),
    policy: options.registry.get('policy', 'sliding-window'),
    window: options.window,
    sinks: options.sinks,
    rules: [rule],
    fpPrecision: 'fp16',
    ...(calibration ? { calibration } : {}),
  });
}

function bitsOf(cache: KvCache, spec: MethodSpec): { avgBits: number; codeMetaBits: number } {
  const b = cache.bytes();
  const d = cache.describe();
  const channels = d.geometry.kvHeads * d.geometry.headDim;
  const quantized = d.layers.reduce((s, l) => s + l.quantized.k + l.quantized.v, 0);
  return {
    avgBits: (8 * (b.total - b.pageSlack)) / b.elements,
    codeMetaBits:
      spec.kind === 'dense'
        ? spec.precision === 'fp16'
          ? 16
          : 32
        : (8 * (b.codes + b.metadata)) / (quantized * channels),
  };
}

/**
 * (a) and (b) of one cell. Quantized caches: from the kernel's own attention weights. The
 * dense caches report none (no policy), so their weights come from the float64 stream over
 * exactly the tokens they hold (fp16-rounded or fp32); their kernel output is checked
 * against the same stream (kernelError), which is what makes the two interchangeable.
 */
function measureCell(
  spec: MethodSpec,
  sums: Float32Array | null,
  ref: CellReference,
  position: number,
  tokens: number,
  geometry: KvGeometry,
): NeedleMeasure {
  if (spec.kind === 'dense') {
    const fp16 = spec.precision === 'fp16';
    const share = fp16 ? ref.shareFp16 : ref.share;
    const runnerUp = fp16 ? ref.runnerUpFp16 : ref.runnerUp;
    return { top: share > runnerUp, share, runnerUp, runnerUpPosition: -1 };
  }
  if (sums === null) throw new Error('needle: the cache reported no attention sums');
  return measureNeedle(headWeights(sums, tokens, geometry.queryHeads), position);
}

/** Runs every method on one planned context. */
export async function runContext(
  plan: NeedlePlan,
  options: NeedleRunOptions,
): Promise<ContextResult> {
  const { geometry, tokens, cells } = plan;
  const { headDim } = geometry;
  const entries = [];
  for (const spec of options.methods) {
    const rule = probeRule();
    const calibration = await options.calibration(spec);
    entries.push({ spec, rule, cache: createCache(options, geometry, spec, rule, calibration) });
  }
  const withFp16 = options.methods.some((m) => m.kind === 'dense' && m.precision === 'fp16');
  const reference = new StreamingReference(plan, withFp16);
  const k = new Float32Array(CHUNK_TOKENS * plan.structure.channels);
  const v = new Float32Array(CHUNK_TOKENS * plan.structure.channels);
  const chunks = chunkCount(tokens);
  const fillStart = performance.now();
  for (let i = 0; i < chunks; i++) {
    const count = plantedChunk(plan, i, k, v);
    const n = count * plan.structure.channels;
    for (const e of entries) await e.cache.append(0, k.subarray(0, n), v.subarray(0, n), count);
    reference.add(i, k, v, count);
    options.progress?.(`fill ${tokens} tokens`, i + 1, chunks);
  }
  const fill = (performance.now() - fillStart) / 1000;
  const refs: CellReference[] = reference.results();
  const methods: MethodResult[] = [];
  for (const e of entries) {
    const started = performance.now();
    const results: CellResult[] = [];
    let kernelL2 = 0;
    let kernelMax = 0;
    const dense = e.spec.kind === 'dense';
    const step = Math.max(1, Math.ceil(cells.length / options.kernelCells));
    let kernelRuns = 0;
    for (const cell of cells) {
      const ref = refs[cell.index]!;
      // Dense caches: every measure from the float64 stream over the tokens they hold; the
      // kernel itself runs on a subsample of cells and is checked against that stream.
      const read = !dense || cell.index % step === 0;
      const out = read
        ? await e.cache.attend(0, attendQuery(geometry, cell, plan.queries), tokens - 1)
        : null;
      const head = out?.subarray(cell.head * headDim, (cell.head + 1) * headDim);
      const measure = measureCell(e.spec, e.rule.last, ref, cell.position, tokens, geometry);
      if (dense) {
        const exact =
          e.spec.kind === 'dense' && e.spec.precision === 'fp16' ? ref.outputFp16 : ref.output;
        results.push({ ...measure, error: relativeError(exact, ref.output) });
        if (head) {
          kernelRuns++;
          kernelL2 = Math.max(kernelL2, relativeError(head, exact));
          kernelMax = Math.max(kernelMax, maxRelativeError(head, exact));
        }
      } else {
        results.push({ ...measure, error: relativeError(head!, ref.output) });
      }
      options.progress?.(`attend ${e.spec.name}`, results.length, cells.length);
    }
    methods.push({
      method: e.spec.name,
      ...bitsOf(e.cache, e.spec),
      cells: results,
      ...(e.spec.kind === 'dense'
        ? { kernelError: { l2: kernelL2, maxAbsOverMax: kernelMax, cells: kernelRuns } }
        : {}),
      seconds: { attend: (performance.now() - started) / 1000 },
    });
    e.cache.reset(); // frees its pages before the next method's reads
  }
  return {
    tokens,
    geometry,
    cells: cells.map((c) => ({
      ...c,
      haystack: plan.haystack[c.index]!,
      beta: plan.beta[c.index]!,
      referenceShare: refs[c.index]!.share,
    })),
    methods,
    seconds: { fill },
  };
}
