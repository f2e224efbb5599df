// Issue 15: single-thread CPU decode attention, every contestant in one run with the same
// thread count, on one Llama-2-7B layer; plus append throughput at 4,096 channels.
import { createDenseCache, type QuantizedCache } from '@skvq/cache';
import type { BackendPlugin, FpSegment, KvSegment, TokenGroupLayout } from '@skvq/core';
import { applyRope, kvHidden, LLAMA2_7B_LAYER, queryHidden } from '@skvq/core';
import * as ort from 'onnxruntime-node';
import { cpuMs } from './clock.js';
import { denseAttentionModel } from './onnx-attention.js';
import { type ProfileEntry, profileTop } from './profile.js';
import { CHUNK, fill, median, randomTokens, skvqCache, TokenPool } from './setup.js';

export const CPU_CONTESTANTS = [
  'fusedPost',
  'fusedPre',
  'denseFp32Post',
  'denseFp16Post',
  'dequantThenAttend',
  'onnxruntime',
] as const;
export type CpuContestant = (typeof CPU_CONTESTANTS)[number];

export interface CpuDecodeResult {
  tokens: number;
  reps: number;
  threads: number;
  /** Median CPU ms per step (NaN: not run). */
  ms: Record<CpuContestant, number>;
  /** Max |difference| of outputs that compute the same thing. */
  fusedVsDequant: number;
  denseVsOnnx: number;
  fusedPostVsDense: number;
  profile?: ProfileEntry[];
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Every packed segment dequantized to fp32 rows (the same positions), fp segments as is. */
function dequantizeSegments(backend: BackendPlugin, segments: readonly KvSegment[]): KvSegment[] {
  return segments.map((seg): KvSegment => {
    if (seg.kind === 'fp') return seg;
    const data = backend.kernels.dequantize!({
      layout: seg.layout,
      codes: seg.codes,
      meta: seg.meta,
      first: 0,
      count: seg.count,
    }) as Float32Array;
    return { kind: 'fp', precision: 'fp32', count: seg.count, data, positions: seg.positions };
  });
}

/**
 * onnxruntime's inputs from the rows `fill` appended (token t is row t % CHUNK of pool chunk
 * t / CHUNK): keys rotated at their positions (post-RoPE) as [H, D, n], values as [H, n, D].
 */
function onnxInputs(pool: TokenPool, tokens: number, H: number, D: number) {
  const geometry = LLAMA2_7B_LAYER;
  const ch = H * D;
  const kT = new Float32Array(tokens * ch);
  const vH = new Float32Array(tokens * ch);
  const row = new Float32Array(ch);
  for (let t = 0; t < tokens; t++) {
    const { k, v } = pool.chunk(Math.floor(t / CHUNK));
    const r = t % CHUNK;
    row.set(k.subarray(r * ch, (r + 1) * ch));
    applyRope(row, 0, geometry.kvHeads, D, geometry.rope, t);
    for (let c = 0; c < ch; c++) kT[c * tokens + t] = row[c]!;
    for (let h = 0; h < H; h++) {
      vH.set(v.subarray(r * ch + h * D, r * ch + (h + 1) * D), (h * tokens + t) * D);
    }
  }
  return { kT, vH };
}

export async function cpuDecodeBench(
  backend: BackendPlugin,
  tokens: number,
  reps: number,
  log: (s: string) => void,
  profileSteps = 0,
): Promise<CpuDecodeResult> {
  const geometry = LLAMA2_7B_LAYER;
  const ch = kvHidden(geometry);
  const { queryHeads: H, headDim: D } = geometry;
  const pool = TokenPool.get(ch);
  const threads = Number(process.env.SKVQ_BENCH_THREADS ?? '1');
  const post: QuantizedCache = skvqCache(backend, geometry, false);
  fill(post, pool, tokens);
  const pre: QuantizedCache = skvqCache(backend, geometry, true);
  fill(pre, pool, tokens);
  const dense32 = createDenseCache({ geometry, precision: 'fp32', backend, keysPreRope: false });
  fill(dense32 as unknown as QuantizedCache, pool, tokens);
  const dense16 = createDenseCache({ geometry, precision: 'fp16', backend, keysPreRope: false });
  fill(dense16 as unknown as QuantizedCache, pool, tokens);
  const q = randomTokens(1, queryHidden(geometry), 11);
  const position = tokens - 1;

  const dequantized = (segs: readonly KvSegment[]) => dequantizeSegments(backend, segs);
  const attend = backend.kernels.attendDecode!;

  // onnxruntime: the rows the caches hold, keys [H, D, n] post-RoPE, values [H, n, D].
  let session: ort.InferenceSession | null = null;
  let feeds: Record<string, ort.Tensor> = {};
  try {
    const { kT, vH } = onnxInputs(pool, tokens, H, D);
    session = await ort.InferenceSession.create(denseAttentionModel(H, D), {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
    const qScaled = q.slice();
    applyRope(qScaled, 0, H, D, geometry.rope, position);
    for (let i = 0; i < qScaled.length; i++) qScaled[i] = qScaled[i]! / Math.sqrt(D);
    feeds = {
      q: new ort.Tensor('float32', qScaled, [H, 1, D]),
      kT: new ort.Tensor('float32', kT, [H, D, tokens]),
      v: new ort.Tensor('float32', vH, [H, tokens, D]),
    };
  } catch (error) {
    log(`  onnxruntime unavailable: ${(error as Error).message}`);
  }

  const runs: Record<CpuContestant, () => Promise<Float32Array> | Float32Array> = {
    fusedPost: () => post.attend(0, q, position) as Float32Array,
    fusedPre: () => pre.attend(0, q, position) as Float32Array,
    denseFp32Post: () => dense32.attend(0, q, position) as Float32Array,
    denseFp16Post: () => dense16.attend(0, q, position) as Float32Array,
    // Hugging Face QuantizedCache style: every page dequantized to fp32 each step, then the
    // dense kernel over those and the full-precision sinks and window as they are.
    dequantThenAttend: () => {
      const s = post.segments(0);
      return attend(
        { q, position, keys: dequantized(s.keys), values: dequantized(s.values), length: tokens },
        { geometry, keysPreRope: false },
      ) as Float32Array;
    },
    onnxruntime: async () => {
      if (session === null) return new Float32Array(0);
      return (await session.run(feeds)).out!.data as Float32Array;
    },
  };
  const times = Object.fromEntries(CPU_CONTESTANTS.map((c) => [c, [] as number[]])) as Record<
    CpuContestant,
    number[]
  >;
  const first: Partial<Record<CpuContestant, Float32Array>> = {};
  for (const name of CPU_CONTESTANTS) first[name] = await runs[name](); // warm-up
  for (let r = 0; r < reps; r++) {
    for (let j = 0; j < CPU_CONTESTANTS.length; j++) {
      // Rotated order per repetition: no contestant always follows the same one.
      const name = CPU_CONTESTANTS[(r + j) % CPU_CONTESTANTS.length]!;
      if (name === 'onnxruntime' && session === null) continue;
      const t0 = cpuMs();
      await runs[name]();
      times[name].push(cpuMs() - t0);
    }
  }
  const ms = Object.fromEntries(
    CPU_CONTESTANTS.map((c) => [c, times[c].length > 0 ? median(times[c]) : Number.NaN]),
  ) as Record<CpuContestant, number>;
  const result: CpuDecodeResult = {
    tokens,
    reps,
    threads,
    ms,
    fusedVsDequant: maxAbsDiff(first.fusedPost!, first.dequantThenAttend!),
    denseVsOnnx:
      session === null ? Number.NaN : maxAbsDiff(first.denseFp32Post!, first.onnxruntime!),
    fusedPostVsDense: maxAbsDiff(first.fusedPost!, first.denseFp32Post!),
  };
  if (profileSteps > 0) {
    result.profile = await profileTop(async () => {
      for (let i = 0; i < profileSteps; i++) await runs.fusedPost();
    });
  }
  await session?.release();
  log(
    `  ${tokens} tokens: ${CPU_CONTESTANTS.map((c) => `${c} ${ms[c].toFixed(2)} ms`).join(', ')}`,
  );
  return result;
}

export interface CpuAppendResult {
  /** Tokens per CPU second of cache.append in prefill chunks (K and V both quantized). */
  chunkTokensPerSecond: number;
  /** Single-token decode appends on the filled cache (one quantized token per stream). */
  decodeTokensPerSecond: number;
  /** The quantize kernel alone (K 2 bits + V ternary, one token per call). */
  kernelTokensPerSecond: number;
  denseChunkTokensPerSecond: number;
}

export function cpuAppendBench(
  backend: BackendPlugin,
  tokens: number,
  keysPreRope: boolean,
): CpuAppendResult {
  const geometry = LLAMA2_7B_LAYER;
  const ch = kvHidden(geometry);
  const pool = TokenPool.get(ch);
  const cache = skvqCache(backend, geometry, keysPreRope);
  const seconds = fill(cache, pool, tokens);
  const dense = createDenseCache({ geometry, precision: 'fp32', backend, keysPreRope });
  const denseSeconds = fill(dense as unknown as QuantizedCache, pool, tokens);
  const appends = 1024;
  const k = randomTokens(appends, ch, 31);
  const v = randomTokens(appends, ch, 32);
  let t0 = cpuMs();
  for (let i = 0; i < appends; i++) {
    cache.append(0, k.subarray(i * ch, (i + 1) * ch), v.subarray(i * ch, (i + 1) * ch), 1);
  }
  const decodeSeconds = (cpuMs() - t0) / 1000;
  // The kernel alone, on the cache's own layouts.
  const { keys, values } = cache.segments(0);
  const layoutOf = (segs: readonly KvSegment[]) =>
    (segs.find((s) => s.kind === 'packed') as Extract<KvSegment, { kind: 'packed' }>)
      .layout as TokenGroupLayout;
  const kl = layoutOf(keys);
  const vl = layoutOf(values);
  const codes = new Uint8Array(ch);
  const meta = new Uint8Array(4 * ch);
  const quantize = backend.kernels.quantizeTokens!;
  t0 = cpuMs();
  for (let i = 0; i < appends; i++) {
    for (const [layout, x] of [
      [kl, k],
      [vl, v],
    ] as const) {
      quantize({
        layout,
        x: x.subarray(i * ch, (i + 1) * ch),
        count: 1,
        codes,
        codesOffset: 0,
        meta,
        metaOffset: 0,
      });
    }
  }
  const kernelSeconds = (cpuMs() - t0) / 1000;
  return {
    chunkTokensPerSecond: tokens / seconds,
    decodeTokensPerSecond: appends / decodeSeconds,
    kernelTokensPerSecond: appends / kernelSeconds,
    denseChunkTokensPerSecond: tokens / denseSeconds,
  };
}

export { CHUNK };
