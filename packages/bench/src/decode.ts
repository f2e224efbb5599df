import type { QuantizedCache } from '@skvq/cache';
import type { BackendPlugin, FpSegment, KvSegment } from '@skvq/core';
import { applyRope, kvHidden, LLAMA2_7B_LAYER, queryHidden } from '@skvq/core';
import { decodeF16Array } from '@skvq/formats';
import * as ort from 'onnxruntime-node';
import { cpuMs } from './clock.js';
import { denseAttentionModel } from './onnx-attention.js';
import { type ProfileEntry, profileTop } from './profile.js';
import { fill, median, randomTokens, skvqCache, TokenPool } from './setup.js';

export const CONTESTANTS = ['fused', 'dense', 'dequantThenAttend', 'onnxruntime'] as const;
export type Contestant = (typeof CONTESTANTS)[number];

export interface DecodeResult {
  tokens: number;
  reps: number;
  /** Median CPU milliseconds per decode step. */
  ms: Record<Contestant, number>;
  /** Median wall-clock milliseconds per decode step. */
  wallMs: Record<Contestant, number>;
  /** Sanity: max |difference| of outputs that must agree. */
  fusedVsDequant: number;
  denseVsOnnx: number;
  onnxError?: string;
  /** Self time of the hottest functions over a few fused decode steps (when profiled). */
  profile?: ProfileEntry[];
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** HF QuantizedCache style: dequantize every segment into one fp32 buffer, every step. */
function dequantizeAll(
  backend: BackendPlugin,
  segments: readonly KvSegment[],
  out: Float32Array,
  ch: number,
): void {
  let row = 0;
  for (const seg of segments) {
    if (seg.kind === 'fp' && seg.precision === 'fp16') {
      // The window and sinks are fp16 by default: widen the stored bits, not copy them.
      decodeF16Array(seg.data as Uint16Array, 0, out, row * ch, seg.count * ch);
    } else if (seg.kind === 'fp') {
      out.set((seg.data as Float32Array).subarray(0, seg.count * ch), row * ch);
    } else {
      const x = backend.kernels.dequantize!({
        layout: seg.layout,
        codes: seg.codes,
        meta: seg.meta,
        first: 0,
        count: seg.count,
      }) as Float32Array;
      out.set(x, row * ch);
    }
    row += seg.count;
  }
}

export async function decodeBench(
  backend: BackendPlugin,
  tokens: number,
  reps: number,
  log: (s: string) => void,
  profileSteps = 0,
): Promise<DecodeResult> {
  const geometry = LLAMA2_7B_LAYER;
  const ch = kvHidden(geometry);
  const { queryHeads: H, headDim: D } = geometry;
  const cache: QuantizedCache = skvqCache(backend);
  fill(cache, TokenPool.get(ch), tokens);
  const q = randomTokens(1, queryHidden(geometry), 11);
  const attend = backend.kernels.attendDecode!;
  const kBuf = new Float32Array(tokens * ch);
  const vBuf = new Float32Array(tokens * ch);
  const positions = Int32Array.from({ length: tokens }, (_, i) => i);
  const seg = (data: Float32Array): FpSegment => ({
    kind: 'fp',
    count: tokens,
    precision: 'fp32',
    data,
    positions,
  });

  // The dequantized cache fills the dense buffers; the ORT layout is built from them.
  const { keys, values } = cache.segments(0);
  dequantizeAll(backend, keys, kBuf, ch);
  dequantizeAll(backend, values, vBuf, ch);
  const kT = new Float32Array(tokens * ch);
  const vH = new Float32Array(tokens * ch);
  for (let t = 0; t < tokens; t++) {
    for (let h = 0; h < H; h++) {
      for (let d = 0; d < D; d++) {
        kT[(h * D + d) * tokens + t] = kBuf[t * ch + h * D + d]!;
        vH[(h * tokens + t) * D + d] = vBuf[t * ch + h * D + d]!;
      }
    }
  }
  let session: ort.InferenceSession | null = null;
  let onnxError: string | undefined;
  try {
    session = await ort.InferenceSession.create(denseAttentionModel(H, D), {
      intraOpNumThreads: Number(process.env.SKVQ_BENCH_THREADS ?? '1'),
      interOpNumThreads: 1,
      graphOptimizationLevel: 'all',
    });
  } catch (error) {
    onnxError = (error as Error).message;
    log(`  onnxruntime unavailable: ${onnxError}`);
  }
  // The kernels rotate the query at its own position (keys here are post-RoPE already):
  // ORT gets the same rotated, pre-scaled query.
  const scale = 1 / Math.sqrt(D);
  const qScaled = q.slice();
  applyRope(qScaled, 0, H, D, geometry.rope, tokens - 1);
  for (let i = 0; i < qScaled.length; i++) qScaled[i] = qScaled[i]! * scale;
  const feeds = {
    q: new ort.Tensor('float32', qScaled, [H, 1, D]),
    kT: new ort.Tensor('float32', kT, [H, D, tokens]),
    v: new ort.Tensor('float32', vH, [H, tokens, D]),
  };

  const runs: Record<Contestant, () => Promise<Float32Array> | Float32Array> = {
    fused: () => cache.attend(0, q, tokens - 1) as Float32Array,
    dense: () =>
      attend(
        { q, position: tokens - 1, keys: [seg(kBuf)], values: [seg(vBuf)], length: tokens },
        { geometry, keysPreRope: false },
      ) as Float32Array,
    dequantThenAttend: () => {
      const s = cache.segments(0);
      dequantizeAll(backend, s.keys, kBuf, ch);
      dequantizeAll(backend, s.values, vBuf, ch);
      return attend(
        { q, position: tokens - 1, keys: [seg(kBuf)], values: [seg(vBuf)], length: tokens },
        { geometry, keysPreRope: true },
      ) as Float32Array;
    },
    onnxruntime: async () => {
      if (session === null) return new Float32Array(0);
      const out = await session.run(feeds);
      return out.out!.data as Float32Array;
    },
  };

  const times: Record<Contestant, number[]> = {
    fused: [],
    dense: [],
    dequantThenAttend: [],
    onnxruntime: [],
  };
  const wall: Record<Contestant, number[]> = {
    fused: [],
    dense: [],
    dequantThenAttend: [],
    onnxruntime: [],
  };
  const first: Partial<Record<Contestant, Float32Array>> = {};
  for (let r = 0; r < reps; r++) {
    for (const name of CONTESTANTS) {
      if (name === 'onnxruntime' && session === null) continue;
      const t0 = cpuMs();
      const w0 = performance.now();
      const out = await runs[name]();
      times[name].push(cpuMs() - t0);
      wall[name].push(performance.now() - w0);
      if (r === 0) first[name] = out;
    }
  }
  // Sanity (outputs of the first repetition): the pairs that compute the same thing agree.
  const result: DecodeResult = {
    tokens,
    reps,
    ms: { fused: 0, dense: 0, dequantThenAttend: 0, onnxruntime: Number.NaN },
    wallMs: { fused: 0, dense: 0, dequantThenAttend: 0, onnxruntime: Number.NaN },
    fusedVsDequant: maxAbsDiff(first.fused!, first.dequantThenAttend!),
    denseVsOnnx: session === null ? Number.NaN : maxAbsDiff(first.dense!, first.onnxruntime!),
    ...(onnxError === undefined ? {} : { onnxError }),
  };
  for (const name of CONTESTANTS) {
    if (times[name].length === 0) continue;
    result.ms[name] = median(times[name]);
    result.wallMs[name] = median(wall[name]);
  }
  if (profileSteps > 0) {
    result.profile = await profileTop(async () => {
      for (let i = 0; i < profileSteps; i++) await runs.fused();
    });
  }
  await session?.release();
  log(
    `  ${tokens} tokens: ${CONTESTANTS.map((c) => `${c} ${result.ms[c].toFixed(2)} ms`).join(', ')}`,
  );
  return result;
}
