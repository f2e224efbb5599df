import type { AttentionAttrs, KvSegment, SkvqErrorCode } from '@skvq/core';
import type { DecodeParts } from '../decode-parts.js';

/**
 * The messages between the threaded backend and its workers. Typed arrays over a
 * SharedArrayBuffer travel as views of the same memory (nothing is copied); arrays over a
 * plain ArrayBuffer are copied (only the share's bytes: see shareForPost).
 */

/** Split-K decode: the unnormalised softmax of one row over a subset of the positions. */
export interface PartialRequest {
  id: number;
  kind: 'partial';
  q: Float32Array;
  position: number;
  keys: PostedSegment[];
  values: PostedSegment[];
  length: number;
  attrs: AttentionAttrs;
  fused: boolean;
  /** Return the share's softmax numerators too (the job wants attentionSums). */
  withScores: boolean;
}

/** Prefill split by rows: the ordinary job over every position for some query rows. */
export interface RowsRequest {
  id: number;
  kind: 'rows';
  q: Float32Array;
  start: number;
  rows: number;
  causal: boolean;
  keys: PostedSegment[];
  values: PostedSegment[];
  length: number;
  attrs: AttentionAttrs;
  fused: boolean;
  /** Return this share's attention sums (its own [length] accumulator). */
  wantSums: boolean;
}

export type WorkerRequest = PartialRequest | RowsRequest;

export type WorkerResponse =
  | { id: number; ok: true; parts: DecodeParts }
  | { id: number; ok: true; out: Float32Array; sums?: Float32Array }
  | { id: number; ok: false; code?: SkvqErrorCode; message: string };

type Typed = Float32Array | Uint16Array | Uint8Array | Int32Array;

function isShared(a: Typed): boolean {
  return typeof SharedArrayBuffer === 'function' && a.buffer instanceof SharedArrayBuffer;
}

/**
 * A view to post: shared memory as is; otherwise a copy of just the view (posting the view
 * itself would clone its whole underlying buffer), whose buffer is transferred.
 */
function postable<T extends Typed>(a: T, transfer: ArrayBuffer[]): T {
  if (isShared(a)) return a;
  const copy = a.slice() as T;
  transfer.push(copy.buffer as ArrayBuffer);
  return copy;
}

/** Whether every array of these segments lives in shared memory (no copy on post). */
export function segmentsShared(segments: readonly KvSegment[]): boolean {
  return segments.every((seg) =>
    seg.kind === 'fp' ? isShared(seg.data) : isShared(seg.codes) && isShared(seg.meta),
  );
}

const layoutIds = new WeakMap<object, number>();
let nextLayoutId = 1;

/**
 * A number naming the layout object across messages: the worker keeps the first copy it
 * receives under it, so the per-layout tables the kernels cache (keyed by the object) are
 * built once per layout, not once per step.
 */
function layoutId(layout: object): number {
  let id = layoutIds.get(layout);
  if (id === undefined) {
    id = nextLayoutId++;
    layoutIds.set(layout, id);
  }
  return id;
}

/** A posted segment: packed ones carry their layout's id (see layoutId). */
export type PostedSegment = KvSegment & { layoutId?: number };

/** The segments as they are posted (see postable); transferable copies go to `transfer`. */
export function segmentsForPost(
  segments: readonly KvSegment[],
  transfer: ArrayBuffer[],
): PostedSegment[] {
  return segments.map((seg) => {
    const positions = postable(seg.positions, transfer);
    if (seg.kind === 'fp') {
      return { ...seg, data: postable(seg.data, transfer), positions } as KvSegment;
    }
    return {
      ...seg,
      codes: postable(seg.codes, transfer),
      meta: postable(seg.meta, transfer),
      positions,
      layoutId: layoutId(seg.layout),
    };
  });
}
