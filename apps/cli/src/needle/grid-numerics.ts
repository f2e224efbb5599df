import { createDenseCache, createQuantizedCache } from '@skvq/cache';
import {
  applyRope,
  type BackendPlugin,
  type KvGeometry,
  kvHidden,
  type Registry,
} from '@skvq/core';
import { fillGaussian } from './haystack.js';
import { maxRelativeError, relativeError } from './metrics.js';
import { forEachRotatedKey } from './plan.js';
import { OnlineSoftmax } from './reference.js';

/**
 * Accuracy of the fused decode kernel over packed 2-bit keys and ternary values at long
 * context, free of quantization error: every token's 128-channel group is drawn ON the
 * quantization grid (integer multiples of a power-of-two step, both ends of the code range
 * present), so RTN's min/max, scale and zero are exact in fp16 and dequantization gives
 * back the token bit for bit. The kernel's output can then be compared with float64
 * attention over the same tokens (pure accumulation / softmax / RoPE error), and with the
 * dense fp32 cache's kernel on the same tokens.
 */

const GRID_CHUNK = 4096;
const GROUP = 128;

/** One token group on the grid: codes 0..maxq (0 and maxq forced), value (code - shift) * step. */
function gridRow(
  rand: () => number,
  out: Float32Array,
  offset: number,
  channels: number,
  maxq: number,
) {
  for (let g = 0; g < channels; g += GROUP) {
    const step = 2 ** -Math.floor(rand() * 4); // 1, 1/2, 1/4, 1/8: exact in fp16
    const shift = Math.floor(rand() * (maxq + 1));
    for (let c = 0; c < GROUP; c++) {
      const code = c === 0 ? 0 : c === 1 ? maxq : Math.floor(rand() * (maxq + 1));
      out[offset + g + c] = (code - shift) * step;
    }
  }
}

function mulberry(seed: number): () => number {
  let st = seed >>> 0;
  return () => {
    st = (st + 0x6d2b79f5) >>> 0;
    let t = st;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GridNumerics {
  tokens: number;
  kvHeads: number;
  /** Packed cache (RTN K2 V1.5, window 128, sinks 5) vs float64: relative L2, max/max. */
  packedVsFloat64: { l2: number; max: number };
  /** Dense fp32 cache vs float64. */
  denseVsFloat64: { l2: number; max: number };
  /** Packed kernel vs dense fp32 kernel on the same tokens. */
  packedVsDense: { l2: number; max: number };
}

export async function gridNumerics(
  registry: Registry,
  backend: BackendPlugin,
  geometry: KvGeometry,
  tokens: number,
  seed: number,
  progress?: (done: number, total: number) => void,
): Promise<GridNumerics> {
  const ch = kvHidden(geometry);
  const { headDim, queryHeads } = geometry;
  if (ch % GROUP !== 0 || queryHeads !== geometry.kvHeads) {
    throw new Error('grid numerics: needs MHA heads of 128 channels');
  }
  const rtn = registry.get('quantizer', 'rtn');
  const packed = createQuantizedCache({
    geometry,
    backend,
    keys: { quantizer: rtn, bits: 2, meta: 'fp16', groupSize: GROUP },
    values: { quantizer: rtn, bits: 1.5, meta: 'fp16', groupSize: GROUP },
    policy: registry.get('policy', 'sliding-window'),
    window: 128,
    sinks: 5,
    fpPrecision: 'fp16',
  });
  const dense = createDenseCache({ geometry, precision: 'fp32', backend, pageTokens: 16_384 });
  const q = new Float32Array(queryHeads * headDim);
  fillGaussian(seed ^ 0x71, q);
  for (let i = 0; i < q.length; i++) q[i] = (q[i] as number) * 0.3;
  const qr = Float64Array.from(q);
  applyRope(qr, 0, queryHeads, headDim, geometry.rope, tokens - 1);
  const acc = Array.from({ length: queryHeads }, () => new OnlineSoftmax(headDim));
  const heads = Array.from({ length: queryHeads }, (_, h) => h);
  const scale = 1 / Math.sqrt(headDim);
  const rand = mulberry(seed);
  const k = new Float32Array(GRID_CHUNK * ch);
  const v = new Float32Array(GRID_CHUNK * ch);
  const chunks = Math.ceil(tokens / GRID_CHUNK);
  for (let i = 0; i < chunks; i++) {
    const count = Math.min(GRID_CHUNK, tokens - i * GRID_CHUNK);
    for (let t = 0; t < count; t++) {
      gridRow(rand, k, t * ch, ch, 3);
      gridRow(rand, v, t * ch, ch, 2);
    }
    const n = count * ch;
    await packed.append(0, k.subarray(0, n), v.subarray(0, n), count);
    await dense.append(0, k.subarray(0, n), v.subarray(0, n), count);
    const start = i * GRID_CHUNK;
    forEachRotatedKey(geometry, heads, k, start, count, (p, h, rotated) => {
      let s = 0;
      for (let j = 0; j < headDim; j++)
        s += (qr[h * headDim + j] as number) * (rotated[j] as number);
      acc[h]!.add(scale * s, v, (p - start) * ch + h * headDim);
    });
    progress?.(i + 1, chunks);
  }
  const exact = new Float64Array(queryHeads * headDim);
  for (let h = 0; h < queryHeads; h++) exact.set(acc[h]!.output(), h * headDim);
  const a = await packed.attend(0, q, tokens - 1);
  const b = await dense.attend(0, q, tokens - 1);
  const both = (x: ArrayLike<number>, y: ArrayLike<number>) => ({
    l2: relativeError(x, y),
    max: maxRelativeError(x, y),
  });
  return {
    tokens,
    kvHeads: geometry.kvHeads,
    packedVsFloat64: both(a, exact),
    denseVsFloat64: both(b, exact),
    packedVsDense: both(a, b),
  };
}
