import type { KvGeometry } from './geometry.js';
import type { ChannelBlockLayout, QuantLayout, TokenGroupLayout } from './layout.js';

/**
 * The kernel contracts every backend may implement. Backends own code, not names: these
 * names and input types are the contract, the CPU backend's reference implementations are
 * the oracle, and the shared conformance suite checks every backend against it.
 *
 * Inputs are host typed arrays. Outputs are written in place (quantize kernels) or
 * returned. A kernel may be synchronous or return a promise (GPU backends); callers await.
 */
export type MaybePromise<T> = T | Promise<T>;

/** Quantize `count` tokens with a token-group layout and write them into a page. */
export interface QuantizeTokensInputs {
  layout: TokenGroupLayout;
  /** [count, channels] in original channel order (the kernel gathers by `layout.perm`). */
  x: Float32Array;
  count: number;
  /** Page codes; token i's row starts at `codesOffset + i * rowCodeBytes(layout)`. */
  codes: Uint8Array;
  codesOffset: number;
  /** Page metadata; token i's scales/zeros start at `metaOffset + i * metaBytesPerUnit(layout)`. */
  meta: Uint8Array;
  metaOffset: number;
}

/** Quantize one block of `layout.blockTokens` tokens per channel and write it into a page. */
export interface QuantizeBlockInputs {
  layout: ChannelBlockLayout;
  /** [blockTokens, channels] in natural channel order. */
  x: Float32Array;
  codes: Uint8Array;
  codesOffset: number;
  meta: Uint8Array;
  metaOffset: number;
}

/** Reconstruct tokens for inspection and tests (never used on the attention path). */
export interface DequantizeInputs {
  layout: QuantLayout;
  codes: Uint8Array;
  meta: Uint8Array;
  /** First token (relative to the start of `codes`/`meta`) and how many to reconstruct. */
  first: number;
  count: number;
}

/** Full-precision tokens: sinks, the window, tokens a filter rule keeps, pending blocks. */
export interface FpSegment {
  readonly kind: 'fp';
  readonly count: number;
  /** 'fp32': data is a Float32Array; 'fp16': data is a Uint16Array of IEEE binary16 bits. */
  readonly precision: 'fp32' | 'fp16';
  /** [>= count, channels] in original channel order. */
  readonly data: Float32Array | Uint16Array;
  /** Position of each stored token (its RoPE position and its index in the sequence). */
  readonly positions: Int32Array;
}

/** A page of quantized tokens. For channel-block layouts `count` is a multiple of blockTokens. */
export interface PackedSegment {
  readonly kind: 'packed';
  readonly count: number;
  readonly layout: QuantLayout;
  readonly codes: Uint8Array;
  readonly meta: Uint8Array;
  readonly positions: Int32Array;
}

export type KvSegment = FpSegment | PackedSegment;

export interface AttentionAttrs {
  geometry: KvGeometry;
  /**
   * Keys are stored before RoPE (SKVQ's default): the kernel applies RoPE at each key's
   * position inside the dot product. False: keys were rotated before they were stored.
   * Queries are always given pre-RoPE and rotated by the kernel at their own position.
   */
  keysPreRope: boolean;
  /** Softmax scale; defaults to 1 / sqrt(headDim). */
  scale?: number;
}

/**
 * Decode attention of one query position over every cached token: keys and values are
 * each a list of segments that together hold every position in [0, length) exactly once
 * (keys and values may be split differently, e.g. KIVI keys beside SKVQ values).
 */
export interface AttendDecodeInputs {
  /** [queryHeads * headDim], pre-RoPE. */
  q: Float32Array;
  position: number;
  keys: readonly KvSegment[];
  values: readonly KvSegment[];
  length: number;
  /**
   * Optional [length] accumulator: the kernel adds each position's attention probability,
   * averaged over query heads (used by heavy-hitter filter rules).
   */
  attentionSums?: Float32Array;
}

/**
 * Causal attention of `count` consecutive query positions `start .. start+count-1` over
 * the cached tokens: query i sees the keys at positions <= start + i.
 */
export interface AttendPrefillInputs {
  /** [count, queryHeads * headDim], pre-RoPE. */
  q: Float32Array;
  start: number;
  count: number;
  keys: readonly KvSegment[];
  values: readonly KvSegment[];
  length: number;
  attentionSums?: Float32Array;
}

/**
 * One attention job, decode and prefill alike: `rows` consecutive query positions
 * `start .. start+rows-1` over the cached tokens. Causal: row i sees the positions
 * <= start + i (prefill). Not causal: every row sees all `length` positions (decode: one
 * row at its own position). Backends implement this one kernel (`attend`); attendDecode and
 * attendPrefill are the same job spelled the old way (decodeJob / prefillJob).
 */
export interface AttendInputs {
  /** [rows, queryHeads * headDim], pre-RoPE. */
  q: Float32Array;
  /** Position of the first query row (its RoPE position). */
  start: number;
  rows: number;
  causal: boolean;
  keys: readonly KvSegment[];
  values: readonly KvSegment[];
  length: number;
  attentionSums?: Float32Array;
}

/** A decode call as an attention job: one row at `position`, seeing every cached token. */
export function decodeJob(inputs: AttendDecodeInputs): AttendInputs {
  const { q, position, keys, values, length, attentionSums } = inputs;
  return { q, start: position, rows: 1, causal: false, keys, values, length, attentionSums };
}

/** A prefill call as an attention job: `count` causal rows from `start`. */
export function prefillJob(inputs: AttendPrefillInputs): AttendInputs {
  const { q, start, count, keys, values, length, attentionSums } = inputs;
  return { q, start, rows: count, causal: true, keys, values, length, attentionSums };
}

export type AttendKernel = (
  inputs: AttendInputs,
  attrs: AttentionAttrs,
) => MaybePromise<Float32Array>;

/**
 * attendDecode and attendPrefill of a backend that implements one `attend`: each builds its
 * job and runs it, so callers of the older kernels keep working.
 */
export function decodeAndPrefill(
  attend: AttendKernel,
): Required<Pick<Kernels, 'attendDecode' | 'attendPrefill'>> {
  return {
    attendDecode: (inputs, attrs) => attend(decodeJob(inputs), attrs),
    attendPrefill: (inputs, attrs) => attend(prefillJob(inputs), attrs),
  };
}

/**
 * The attention kernel of a backend as one job function: its `attend`, else (a backend
 * written against the older contract) its attendDecode / attendPrefill chosen per job.
 * Undefined when the backend has neither.
 */
export function attendKernel(kernels: Kernels): AttendKernel | undefined {
  if (typeof kernels.attend === 'function') return kernels.attend.bind(kernels);
  const { attendDecode, attendPrefill } = kernels;
  if (typeof attendDecode !== 'function' || typeof attendPrefill !== 'function') return undefined;
  return (job, attrs) =>
    job.causal
      ? attendPrefill.call(kernels, { ...job, count: job.rows }, attrs)
      : attendDecode.call(kernels, { ...job, position: job.start }, attrs);
}

export interface Kernels {
  quantizeTokens?(inputs: QuantizeTokensInputs): MaybePromise<void>;
  quantizeBlock?(inputs: QuantizeBlockInputs): MaybePromise<void>;
  /** Returns [count, channels] in original channel order. */
  dequantize?(inputs: DequantizeInputs): MaybePromise<Float32Array>;
  /** Returns [queryHeads * headDim]. */
  attendDecode?(inputs: AttendDecodeInputs, attrs: AttentionAttrs): MaybePromise<Float32Array>;
  /** Returns [count, queryHeads * headDim]. */
  attendPrefill?(inputs: AttendPrefillInputs, attrs: AttentionAttrs): MaybePromise<Float32Array>;
  /** The one attention job (decode and prefill); returns [rows, queryHeads * headDim]. */
  attend?(inputs: AttendInputs, attrs: AttentionAttrs): MaybePromise<Float32Array>;
}

export type KernelName = keyof Kernels;

export const KERNEL_NAMES: readonly KernelName[] = [
  'quantizeTokens',
  'quantizeBlock',
  'dequantize',
  'attendDecode',
  'attendPrefill',
  'attend',
];
