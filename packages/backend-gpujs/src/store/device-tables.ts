import type { QuantLayout, RopeConfig } from '@skvq/core';
import { fp8Table, fp16Table, ropeTable } from '@skvq/formats';
import type { GpujsContext, KernelResult } from '../context.js';
import { layoutTable } from '../layout-table.js';
import { ROPE_STEP } from '../rope-slice.js';
import { DEC_FP8, DEC_POW2 } from '../sources/store-bytes.js';
import type { StoreOps } from './storage.js';

/**
 * Read-only tables the store kernels use, uploaded once per context and kept on the device
 * (so a decode step uploads none of them): the decode table (fp16 bit patterns, fp8 E4M3
 * bytes, powers of two for fp32 exponents), one layout table per layout, one RoPE table per
 * rotary configuration (grown by doubling when positions pass its end) and the positions
 * of segments whose positions are not consecutive (re-uploaded only when they change).
 */
export class DeviceTables {
  readonly dec: KernelResult;
  /** A four-float texture for arguments a kernel variant does not read. */
  readonly dummy: KernelResult;
  private readonly layouts = new WeakMap<QuantLayout, KernelResult>();
  private readonly ropes = new Map<
    string,
    { capacity: number; texture: KernelResult; hiSinAt: number }
  >();
  private readonly constants = new WeakMap<Float32Array, KernelResult>();
  /**
   * Uploaded positions by the memory they are read from (array buffer, then byte offset),
   * not by the Int32Array object: a cache hands the kernels a fresh view of the same
   * positions at every call (core's StoreSegment promises an Int32Array, not the same one),
   * and keying by the view would upload every page's positions at every decode step.
   */
  private readonly positions = new WeakMap<
    ArrayBufferLike,
    Map<number, { copy: Int32Array; texture: KernelResult }>
  >();

  constructor(readonly ops: StoreOps) {
    const dec = new Float32Array(DEC_POW2 + 256);
    dec.set(fp16Table(), 0);
    dec.set(fp8Table(), DEC_FP8);
    for (let e = 0; e < 256; e++) dec[DEC_POW2 + e] = 2 ** (e - 127);
    this.dec = ops.upload(dec);
    this.dummy = ops.upload(new Float32Array(4));
  }

  layout(layout: QuantLayout): KernelResult {
    let t = this.layouts.get(layout);
    if (t === undefined) {
      t = this.ops.upload(layoutTable(layout));
      this.layouts.set(layout, t);
    }
    return t;
  }

  /**
   * cos/sin for positions 0 .. capacity-1 as [loCos | loSin | hiCos | hiSin] (rope-slice.ts:
   * angle addition of a low and a high part, each from float64 tables).
   */
  rope(
    headDim: number,
    rope: RopeConfig,
    lastPosition: number,
  ): { texture: KernelResult; hiSinAt: number } {
    const key = `${headDim}/${JSON.stringify(rope)}`;
    const known = this.ropes.get(key);
    if (known !== undefined && lastPosition < known.capacity) return known;
    const capacity = 2 ** Math.ceil(Math.log2(Math.max(4 * ROPE_STEP, lastPosition + 1)));
    const half = headDim / 2;
    const table = ropeTable(headDim, rope, capacity);
    const lo = ROPE_STEP * half;
    const hiRows = capacity / ROPE_STEP;
    const out = new Float32Array(2 * lo + 2 * hiRows * half);
    out.set(table.loCos.subarray(0, lo), 0);
    out.set(table.loSin.subarray(0, lo), lo);
    out.set(table.hiCos.subarray(0, hiRows * half), 2 * lo);
    const hiSinAt = 2 * lo + hiRows * half;
    out.set(table.hiSin.subarray(0, hiRows * half), hiSinAt);
    if (known !== undefined) this.ops.ctx.free(known.texture);
    const entry = { capacity, texture: this.ops.upload(out), hiSinAt };
    this.ropes.set(key, entry);
    return entry;
  }

  /** A host array that never changes (a cached quantize plan's index arrays), uploaded once. */
  constant(values: Float32Array): KernelResult {
    let t = this.constants.get(values);
    if (t === undefined) {
      t = this.ops.upload(values);
      this.constants.set(values, t);
    }
    return t;
  }

  /** A segment's positions on the device (first `count`), uploaded when first seen or changed. */
  positionsOf(positions: Int32Array, count: number): KernelResult {
    let byOffset = this.positions.get(positions.buffer);
    if (byOffset === undefined) {
      byOffset = new Map();
      this.positions.set(positions.buffer, byOffset);
    }
    const known = byOffset.get(positions.byteOffset);
    if (known !== undefined) {
      let same = known.copy.length === count;
      for (let i = 0; i < count && same; i++) same = known.copy[i] === positions[i];
      if (same) return known.texture;
      this.ops.ctx.free(known.texture);
    }
    const copy = positions.slice(0, count);
    const texture = this.ops.upload(Float32Array.from(copy));
    byOffset.set(positions.byteOffset, { copy, texture });
    return texture;
  }
}

const perContext = new WeakMap<GpujsContext, DeviceTables>();

export function deviceTables(ops: StoreOps): DeviceTables {
  let t = perContext.get(ops.ctx);
  if (t === undefined) {
    t = new DeviceTables(ops);
    perContext.set(ops.ctx, t);
  }
  return t;
}
