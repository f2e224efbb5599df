import { f16BitsToF32, f32ToF16Bits } from '@skvq/formats';
import { CHUNK_TOKENS } from './haystack.js';
import { cellsByHead, forEachRotatedKey, type NeedlePlan, rotatedQueries } from './plan.js';

/**
 * Streaming float64 references of the needle test: for every cell, softmax attention of its
 * query (at the last position) over all N tokens, computed with an online softmax (running
 * max, rescaled sum and accumulator) chunk by chunk, so no N-token cache is ever held.
 * Two inputs: the fp32 tokens as generated (the "fp32" reference every method is compared
 * with) and the same tokens rounded to fp16 the way an fp16 cache stores them (keys before
 * RoPE, values as they are), which isolates the fp16 kernel's own arithmetic error.
 */

/** Online softmax over a stream of (logit, value row) pairs, in float64. */
export class OnlineSoftmax {
  max = Number.NEGATIVE_INFINITY;
  sum = 0;
  readonly acc: Float64Array;
  constructor(dim: number) {
    this.acc = new Float64Array(dim);
  }
  add(logit: number, v: Float32Array, offset: number): void {
    const { acc } = this;
    if (logit > this.max) {
      const r = Math.exp(this.max - logit);
      this.sum *= r;
      for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] as number) * r;
      this.max = logit;
    }
    const w = Math.exp(logit - this.max);
    this.sum += w;
    for (let i = 0; i < acc.length; i++)
      acc[i] = (acc[i] as number) + w * (v[offset + i] as number);
  }
  /** The normalised output. */
  output(): Float64Array {
    return this.acc.map((x) => x / this.sum);
  }
  /** Probability of a logit seen in the stream. */
  probability(logit: number): number {
    return Math.exp(logit - this.max) / this.sum;
  }
}

export interface CellReference {
  /** float64 attention output of the cell's head on fp32 tokens. */
  output: Float64Array;
  /** The needle's attention weight and logit on fp32 tokens. */
  share: number;
  needleLogit: number;
  /** Largest attention weight of any other position on fp32 tokens. */
  runnerUp: number;
  /** The same on fp16-rounded tokens (what an fp16 cache holds). */
  outputFp16: Float64Array;
  shareFp16: number;
  runnerUpFp16: number;
}

/** Rounds a float32 to the nearest fp16 (round to nearest even), as the fp16 stores do. */
export function roundFp16(x: number): number {
  return f16BitsToF32(f32ToF16Bits(x));
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * roundFp16 over a whole array: values whose fp16 is a normal number are rounded in place
 * in their float32 bits (round to nearest even at bit 13); the rest take roundFp16.
 */
export function roundFp16Array(src: Float32Array, dst: Float32Array, count: number): void {
  const srcBits = new Uint32Array(src.buffer, src.byteOffset, count);
  const dstBits = new Uint32Array(dst.buffer, dst.byteOffset, count);
  for (let i = 0; i < count; i++) {
    const b = srcBits[i] as number;
    const e = (b >>> 23) & 0xff;
    if (e >= 113 && e <= 141) {
      dstBits[i] = ((b + 0xfff + ((b >>> 13) & 1)) & 0xffffe000) >>> 0;
    } else {
      f32[0] = roundFp16(src[i] as number);
      dstBits[i] = u32[0] as number;
    }
  }
}

/** The accumulators of one context; `add` takes each planted chunk in order. */
export class StreamingReference {
  private readonly fp32: OnlineSoftmax[];
  private readonly fp16: OnlineSoftmax[];
  private readonly needle32: Float64Array;
  private readonly needle16: Float64Array;
  private readonly other32: Float64Array;
  private readonly other16: Float64Array;
  private readonly qr: Float64Array;
  private readonly byHead;
  private readonly heads: number[];

  private k16 = new Float32Array(0);
  private v16 = new Float32Array(0);

  constructor(
    private readonly plan: NeedlePlan,
    private readonly withFp16: boolean,
  ) {
    const { headDim } = plan.geometry;
    const n = plan.cells.length;
    this.fp32 = plan.cells.map(() => new OnlineSoftmax(headDim));
    this.fp16 = plan.cells.map(() => new OnlineSoftmax(headDim));
    this.needle32 = new Float64Array(n);
    this.needle16 = new Float64Array(n);
    this.other32 = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
    this.other16 = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
    this.qr = rotatedQueries(plan);
    this.byHead = cellsByHead(plan.cells);
    this.heads = [...this.byHead.keys()];
  }

  /** Adds chunk `i` (its planted keys and values, `count` tokens). */
  add(i: number, k: Float32Array, v: Float32Array, count: number): void {
    const { geometry, scale, structure } = this.plan;
    const { headDim } = geometry;
    const ch = structure.channels;
    const start = i * CHUNK_TOKENS;
    const pass = (
      kk: Float32Array,
      vv: Float32Array,
      accs: OnlineSoftmax[],
      needle: Float64Array,
      other: Float64Array,
    ) => {
      forEachRotatedKey(geometry, this.heads, kk, start, count, (p, head, rotated) => {
        const vOff = (p - start) * ch + head * headDim;
        for (const cell of this.byHead.get(head)!) {
          const qOff = cell.index * headDim;
          let s = 0;
          for (let j = 0; j < headDim; j++)
            s += (this.qr[qOff + j] as number) * (rotated[j] as number);
          const logit = scale * s;
          if (p === cell.position) needle[cell.index] = logit;
          else if (logit > (other[cell.index] as number)) other[cell.index] = logit;
          accs[cell.index]!.add(logit, vv, vOff);
        }
      });
    };
    pass(k, v, this.fp32, this.needle32, this.other32);
    if (this.withFp16) {
      const n = count * ch;
      if (this.k16.length < n) {
        this.k16 = new Float32Array(n);
        this.v16 = new Float32Array(n);
      }
      roundFp16Array(k, this.k16, n);
      roundFp16Array(v, this.v16, n);
      pass(this.k16, this.v16, this.fp16, this.needle16, this.other16);
    }
  }

  results(): CellReference[] {
    return this.plan.cells.map((c) => {
      const a = this.fp32[c.index]!;
      const b = this.fp16[c.index]!;
      return {
        output: a.output(),
        share: a.probability(this.needle32[c.index]!),
        needleLogit: this.needle32[c.index]!,
        runnerUp: a.probability(this.other32[c.index]!),
        outputFp16: this.withFp16 ? b.output() : new Float64Array(0),
        shareFp16: this.withFp16 ? b.probability(this.needle16[c.index]!) : Number.NaN,
        runnerUpFp16: this.withFp16 ? b.probability(this.other16[c.index]!) : Number.NaN,
      };
    });
  }
}
