import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBackend } from '@skvq/backend-cpu';
import { applyRope, type KvGeometry, kvHidden, LLAMA2_7B_LAYER } from '@skvq/core';
import { f16BitsToF32, f32ToF16Bits } from '@skvq/formats';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTokens } from '../src/commands/needle.js';
import { bufferIo } from '../src/io.js';
import { main } from '../src/main.js';
import { parseMethods } from '../src/methods.js';
import { needleCalibrations } from '../src/needle/calibrate.js';
import { layoutCells, QUANTIZED_SPACING } from '../src/needle/cells.js';
import { gridNumerics } from '../src/needle/grid-numerics.js';
import {
  CHUNK_TOKENS,
  chunkCount,
  chunkSize,
  haystackKeys,
  haystackValues,
} from '../src/needle/haystack.js';
import { needleHeatmapSvg } from '../src/needle/heatmap.js';
import { headWeights, measureNeedle, relativeError } from '../src/needle/metrics.js';
import { type NeedlePlan, planNeedles, plantedChunk } from '../src/needle/plan.js';
import { OnlineSoftmax, roundFp16Array, StreamingReference } from '../src/needle/reference.js';
import { runContext } from '../src/needle/run.js';
import { createCliRegistry } from '../src/registry.js';

/** Two heads of the Llama-2-7B layer: small enough for the test suite, same head geometry. */
const SMALL: KvGeometry = { ...LLAMA2_7B_LAYER, kvHeads: 2, queryHeads: 2 };

function smallPlan(tokens: number, margins = [0.25, 1, 16]): NeedlePlan {
  return planNeedles({
    geometry: SMALL,
    tokens,
    depths: [0, 0.5, 1],
    margins,
    window: 128,
    sinks: 5,
    seed: 3,
    structureSeed: 1,
  });
}

/** Every token of a planned context, materialised (only for small N). */
function materialise(plan: NeedlePlan, planted = true) {
  const ch = kvHidden(plan.geometry);
  const k = new Float32Array(plan.tokens * ch);
  const v = new Float32Array(plan.tokens * ch);
  const ck = new Float32Array(CHUNK_TOKENS * ch);
  const cv = new Float32Array(CHUNK_TOKENS * ch);
  for (let i = 0; i < chunkCount(plan.tokens); i++) {
    const n = planted ? plantedChunk(plan, i, ck, cv) : chunkSize(plan.tokens, i);
    if (!planted) {
      haystackKeys(plan.structure, plan.seed, i, n, ck);
      haystackValues(plan.structure, plan.seed, i, n, cv);
    }
    k.set(ck.subarray(0, n * ch), i * CHUNK_TOKENS * ch);
    v.set(cv.subarray(0, n * ch), i * CHUNK_TOKENS * ch);
  }
  return { k, v, ch };
}

/** Direct float64 attention of one cell (two-pass softmax, applyRope per key). */
function directCell(plan: NeedlePlan, k: Float32Array, v: Float32Array, index: number) {
  const { headDim } = plan.geometry;
  const cell = plan.cells[index]!;
  const ch = kvHidden(plan.geometry);
  const q = Float64Array.from(plan.queries.subarray(index * headDim, (index + 1) * headDim));
  applyRope(q, 0, 1, headDim, plan.geometry.rope, plan.queryPosition);
  const logits = new Float64Array(plan.tokens);
  for (let p = 0; p < plan.tokens; p++) {
    const key = Float64Array.from(
      k.subarray(p * ch + cell.head * headDim, p * ch + (cell.head + 1) * headDim),
    );
    applyRope(key, 0, 1, headDim, plan.geometry.rope, p);
    let s = 0;
    for (let j = 0; j < headDim; j++) s += q[j]! * key[j]!;
    logits[p] = s / Math.sqrt(headDim);
  }
  const max = Math.max(...logits);
  const w = logits.map((x) => Math.exp(x - max));
  const sum = w.reduce((a, b) => a + b, 0);
  const out = new Float64Array(headDim);
  for (let p = 0; p < plan.tokens; p++) {
    for (let j = 0; j < headDim; j++)
      out[j]! += (w[p]! / sum) * v[p * ch + cell.head * headDim + j]!;
  }
  return { logits, out, share: w[cell.position]! / sum };
}

describe('needle metrics (hand-made cases)', () => {
  it('recovers one head from head-averaged sums of a single-head query', () => {
    const own = [0.1, 0.6, 0.3];
    // 4 heads: the other three are uniform (1/3 each)
    const sums = Float32Array.from(own.map((p) => (p + 3 / 3) / 4));
    const w = headWeights(sums, 3, 4);
    for (const [i, p] of own.entries()) expect(w[i]).toBeCloseTo(p, 6);
  });

  it('top is strict, share and runner-up are read at the right places', () => {
    expect(measureNeedle([0.1, 0.5, 0.4], 1)).toEqual({
      top: true,
      share: 0.5,
      runnerUp: 0.4,
      runnerUpPosition: 2,
    });
    expect(measureNeedle([0.45, 0.1, 0.45], 0).top).toBe(false); // a tie is a miss
    expect(measureNeedle([0.2, 0.7, 0.1], 2).top).toBe(false);
    expect(relativeError([1, 1], [1, 0])).toBeCloseTo(1, 12);
    expect(relativeError([3, 4], [3, 4])).toBe(0);
  });

  it('the online softmax equals a two-pass softmax', () => {
    const logits = [3, -1, 7.5, 7.5, 0.2, -40, 12];
    const vals = Float32Array.from(logits.flatMap((_, i) => [i, 1 - i]));
    const acc = new OnlineSoftmax(2);
    for (const [i, l] of logits.entries()) acc.add(l, vals, 2 * i);
    const m = Math.max(...logits);
    const w = logits.map((l) => Math.exp(l - m));
    const z = w.reduce((a, b) => a + b, 0);
    const want = [0, 1].map((j) => w.reduce((s, x, i) => s + (x / z) * vals[2 * i + j]!, 0));
    const got = acc.output();
    for (const [j, x] of want.entries()) expect(got[j]).toBeCloseTo(x, 12);
    expect(acc.probability(12)).toBeCloseTo(w[6]! / z, 12);
  });

  it('bulk fp16 rounding matches the cache codec bit for bit', () => {
    const xs = new Float32Array(20_000);
    let s = 12345;
    for (let i = 0; i < xs.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const mag = 10 ** ((s % 1400) / 100 - 8); // 1e-8 .. 1e6: subnormal, normal, overflow
      xs[i] = (s & 1 ? -1 : 1) * mag * (1 + (s % 977) / 977);
    }
    xs.set([0, -0, 65504, 65520, 6.1e-5, 2 ** -14, 2 ** -24, 1 + 2 ** -11, 1 + 3 * 2 ** -11]);
    const got = new Float32Array(xs.length);
    roundFp16Array(xs, got, xs.length);
    for (let i = 0; i < xs.length; i++) {
      expect(Object.is(got[i], f16BitsToF32(f32ToF16Bits(xs[i]!)))).toBe(true);
    }
  });

  it('the heat map has one square per (method, context, depth)', () => {
    const svg = needleHeatmapSvg(
      [
        { method: 'a', tokens: 4096, depth: 0, kept: 3, total: 3 },
        { method: 'a', tokens: 4096, depth: 0.5, kept: 0, total: 3 },
        { method: 'b', tokens: 4096, depth: 0, kept: 1, total: 3 },
        { method: 'b', tokens: 4096, depth: 0.5, kept: 2, total: 3 },
      ],
      't',
    );
    expect(svg.match(/<rect x=/g)?.length).toBe(4);
    expect(svg).toContain('2/3');
    expect(parseTokens('32k')).toBe(32768);
    expect(parseTokens('1M')).toBe(1 << 20);
  });
});

describe('needle plan and streaming reference', () => {
  it('lays needles out apart (no shared group or KIVI block) and rejects tiny contexts', () => {
    const cells = layoutCells([0, 0.3, 0.7, 1], [0.25, 1, 4], 8192, 32, 128, 5);
    const pos = cells.map((c) => c.position).sort((a, b) => a - b);
    expect(new Set(pos).size).toBe(cells.length);
    for (const c of cells) {
      if (c.position >= 5 && c.position < 8192 - 128) {
        for (const o of cells) {
          if (o !== c)
            expect(Math.abs(o.position - c.position)).toBeGreaterThanOrEqual(QUANTIZED_SPACING);
        }
      }
    }
    expect(() => layoutCells([0.5, 0.51], [1, 2, 3], 300, 2, 16, 5)).toThrow(/too few/);
  });

  it('matches a direct float64 computation; margins are exact; needles do not touch each other', () => {
    const plan = smallPlan(4400); // two chunks, the second partial
    const { k, v } = materialise(plan);
    const bare = materialise(plan, false);
    const ref = new StreamingReference(plan, true);
    const ck = new Float32Array(CHUNK_TOKENS * kvHidden(SMALL));
    const cv = new Float32Array(ck.length);
    for (let i = 0; i < chunkCount(plan.tokens); i++)
      ref.add(i, ck, cv, plantedChunk(plan, i, ck, cv));
    const results = ref.results();
    for (const cell of plan.cells) {
      const d = directCell(plan, k, v, cell.index);
      const r = results[cell.index]!;
      expect(relativeError(r.output, d.out)).toBeLessThan(1e-12);
      expect(Math.abs(r.share - d.share) / d.share).toBeLessThan(1e-12);
      const others = d.logits.filter((_, p) => p !== cell.position);
      // the needle is `margin` above every other position (fp32 keys: ~1e-5 slack)
      expect(d.logits[cell.position]! - Math.max(...others)).toBeCloseTo(cell.margin, 4);
      // another needle of the same head scores as its haystack key did (no help, no harm)
      const haystackOnly = directCell(plan, bare.k, bare.v, cell.index);
      for (const o of plan.cells) {
        if (o.head !== cell.head || o === cell) continue;
        expect(d.logits[o.position]).toBeCloseTo(haystackOnly.logits[o.position]!, 4);
      }
      expect(d.logits[cell.position]).not.toBeCloseTo(haystackOnly.logits[cell.position]!, 1);
    }
    // cells sharing a head have orthogonal queries
    const h = SMALL.headDim;
    const same = plan.cells.filter((c) => c.head === 0);
    expect(same.length).toBeGreaterThan(1);
    let dotq = 0;
    for (let j = 0; j < h; j++)
      dotq += plan.queries[same[0]!.index * h + j]! * plan.queries[same[1]!.index * h + j]!;
    expect(Math.abs(dotq)).toBeLessThan(1e-12);
  });
});

describe('needle sweep, small version (real cache append + fused decode kernel)', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'skvq-needle-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('fp16 finds every needle; quantized weights are a distribution; kernels match float64', async () => {
    const registry = createCliRegistry();
    const plan = smallPlan(2048);
    const methods = parseMethods('fp16,rtn-k2v2,kivi-k2v2,skvq-k2v1.5', 'needle');
    const calibrate = needleCalibrations({
      registry,
      structureSeed: 1,
      seed: 99,
      tokens: 256,
      groupSize: 128,
      meta: 'fp16',
    });
    const result = await runContext(plan, {
      registry,
      backend: cpuBackend,
      methods,
      window: 128,
      sinks: 5,
      groupSize: 128,
      meta: 'fp16',
      kernelCells: plan.cells.length,
      calibration: (spec) => calibrate(SMALL, spec),
    });
    const fp16 = result.methods.find((m) => m.method === 'fp16')!;
    expect(fp16.cells.every((c) => c.top)).toBe(true);
    expect(fp16.kernelError!.cells).toBe(plan.cells.length);
    expect(fp16.kernelError!.l2).toBeLessThan(1e-5);
    for (const m of result.methods) {
      expect(m.cells).toHaveLength(plan.cells.length);
      for (const c of m.cells) {
        expect(c.share).toBeGreaterThan(0);
        expect(c.share).toBeLessThanOrEqual(1 + 1e-6);
        expect(Number.isFinite(c.error)).toBe(true);
      }
      // the easy margin (16 logits) keeps a needle on top for every 2-bit method here
      m.cells.forEach((c, i) => {
        if (plan.cells[i]!.margin === 16) expect(c.top).toBe(true);
      });
    }
    const skvq = result.methods.find((m) => m.method === 'skvq-k2v1.5')!;
    const kivi = result.methods.find((m) => m.method === 'kivi-k2v2')!;
    expect(skvq.codeMetaBits).toBeLessThan(kivi.codeMetaBits);
  }, 60_000);

  it('grid tokens make the packed kernel exact to compare: it matches float64 and dense fp32', async () => {
    const r = await gridNumerics(createCliRegistry(), cpuBackend, SMALL, 3000, 5);
    // were the grid not exact after quantization, the error would be ~0.1, not ~1e-7
    expect(r.packedVsFloat64.l2).toBeLessThan(1e-5);
    expect(r.denseVsFloat64.l2).toBeLessThan(1e-5);
    expect(r.packedVsDense.max).toBeLessThan(1e-5);
  }, 60_000);

  it('skvq needle writes JSON, CSV, summary and the heat map', async () => {
    const io = bufferIo({ cwd: tmp });
    const code = await main(
      [
        'needle',
        '--contexts',
        '1024',
        '--heads',
        '2',
        '--depths',
        '0,50,100',
        '--margins',
        '1,16',
        '--methods',
        'fp16,rtn-k2v2',
        '-o',
        'out',
        '--quiet',
      ],
      { io },
    );
    expect(code).toBe(0);
    expect(io.out()).toContain('top @1k');
    for (const f of ['needle.json', 'needle.csv', 'summary.txt', 'heatmap.svg', 'heatmap.png']) {
      expect(existsSync(join(tmp, 'out', f))).toBe(true);
    }
    const csv = readFileSync(join(tmp, 'out', 'needle.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(csv).toHaveLength(1 + 2 * 6);
    expect(await main(['needle', '--render', 'out', '--quiet'], { io })).toBe(0);
    const bad = await main(['needle', '--heads', '1,2', '--contexts', '4k'], { io: bufferIo() });
    expect(bad).toBe(2);
  }, 60_000);
});
