import {
  groupCount,
  META_BYTES,
  maxQ,
  metaBytesPerUnit,
  type QuantizeTokensInputs,
  rowCodeBytes,
  SkvqError,
} from '@skvq/core';
import {
  assertFinite,
  assertSpan,
  packCodes,
  quantParams,
  validateTokenGroupLayout,
  writeMeta,
} from '@skvq/formats';
import { align16, ensureMemory, layoutTables, metaTable, quantizeWasm } from './quantize-wasm.js';

/**
 * JavaScript token-group quantize (where WebAssembly SIMD is absent, for 3-bit rows, and to
 * raise the reference's errors): the same float32 steps as quantizeTokensReference (so the
 * bytes are identical; the conformance suite checks it), with the checks done once per
 * batch, scratch buffers reused across tokens and the per-value rounding inlined.
 * The metadata rounding itself (quantParams, writeMeta) is shared with the reference: it
 * runs once per group, not per value, and sharing it is what keeps the bytes identical.
 */
export function quantizeTokensJs(inputs: QuantizeTokensInputs): void {
  const where = 'quantizeTokens (cpu)';
  const { layout, x, count, codes, codesOffset, meta, metaOffset } = inputs;
  validateTokenGroupLayout(layout, where);
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: count ${String(count)} must be a non-negative integer`,
    );
  }
  const channels = layout.channels;
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  assertSpan(x.length, 0, count * channels, 'x ([count, channels])', where, 'SHAPE_MISMATCH');
  assertSpan(codes.length, codesOffset, count * rowBytes, 'codes', where);
  assertSpan(meta.length, metaOffset, count * metaBytes, 'meta', where);
  assertFinite(x, 0, count * channels, where);
  const { perm, groupOffsets, bits, alpha } = layout;
  const maxq = maxQ(bits);
  const groups = groupCount(layout);
  const size = META_BYTES[layout.meta];
  const fround = Math.fround;
  // Token values in stored (permuted) order, gathered once per token.
  const xs = new Float32Array(channels);
  const q = new Uint8Array(channels);
  const params = new Float32Array(2 * groups);
  for (let t = 0; t < count; t++) {
    const base = t * channels;
    if (perm === null) xs.set(x.subarray(base, base + channels));
    else for (let j = 0; j < channels; j++) xs[j] = x[base + (perm[j] as number)] as number;
    for (let g = 0; g < groups; g++) {
      const start = groupOffsets[g] as number;
      const end = groupOffsets[g + 1] as number;
      let min = xs[start] as number;
      let max = min;
      for (let j = start + 1; j < end; j++) {
        const v = xs[j] as number;
        if (v < min) min = v;
        else if (v > max) max = v;
      }
      const { scale, zero } = quantParams(min, max, alpha, bits, layout.meta);
      params[2 * g] = scale;
      params[2 * g + 1] = zero;
      for (let j = start; j < end; j++) {
        // quantizeValue of the reference, inlined: every step rounded to float32.
        let c = fround(fround((xs[j] as number) - zero) / scale);
        if (c < 0) c = 0;
        else if (c > maxq) c = maxq;
        q[j] = Math.floor(fround(c + 0.5));
      }
    }
    packCodes(bits, q, codes, codesOffset + t * rowBytes);
    const m = metaOffset + t * metaBytes;
    for (let i = 0; i < 2 * groups; i++)
      writeMeta(layout.meta, meta, m + i * size, params[i] as number);
  }
}

/** Tokens copied into the module's memory per call of its quantize export. */
export const QUANTIZE_BATCH_TOKENS = 64;

/** Codes per byte the module packs (3-bit rows are not byte-aligned: JavaScript). */
const WASM_BITS: Partial<Record<number, number>> = { 8: 8, 4: 4, 2: 2, 1.5: 15 };

/**
 * Fast token-group quantize: the WebAssembly SIMD module (wasm/quantize.wat) where the
 * engine has it, else quantizeTokensJs; the bytes are those of quantizeTokensReference
 * either way (test/fast-quantize.test.ts). Inputs are checked first; codes and metadata
 * are staged in the module's memory and copied out only when the whole batch is finite,
 * and a token whose scale or zero the format cannot hold is handed to the JavaScript kernel,
 * which throws the reference's error (earlier tokens written, as the reference leaves them).
 */
export function quantizeTokensFast(inputs: QuantizeTokensInputs): void {
  const { layout, count } = inputs;
  const mod = layout?.kind === 'token-group' ? quantizeWasm() : null;
  const bits = layout?.kind === 'token-group' ? WASM_BITS[layout.bits] : undefined;
  if (mod === null || bits === undefined) {
    quantizeTokensJs(inputs);
    return;
  }
  const where = 'quantizeTokens (cpu)';
  const { x, codes, codesOffset, meta, metaOffset } = inputs;
  validateTokenGroupLayout(layout, where);
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${where}: count ${String(count)} must be a non-negative integer`,
    );
  }
  const channels = layout.channels;
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  assertSpan(x.length, 0, count * channels, 'x ([count, channels])', where, 'SHAPE_MISMATCH');
  assertSpan(codes.length, codesOffset, count * rowBytes, 'codes', where);
  assertSpan(meta.length, metaOffset, count * metaBytes, 'meta', where);
  if (count === 0) return;
  const { ex } = mod;
  const groups = groupCount(layout);
  const tables = layoutTables(mod, layout);
  const [tab, tabLen, metaMax, signBit] = metaTable(mod, layout.meta);
  const batch = Math.min(count, QUANTIZE_BATCH_TOKENS);
  // Per-call buffers above the fixed tables: xs, q (+96 zero bytes the packers read past
  // the row), one batch of x, then the staged codes (+16: the packers write past a row)
  // and metadata of the whole call.
  const xs = mod.top;
  const q = xs + align16(4 * channels);
  const xAt = q + align16(channels + 96);
  const codesAt = xAt + 4 * batch * channels;
  const metaAt = codesAt + align16(count * rowBytes + 16);
  ensureMemory(ex, metaAt + count * metaBytes);
  const buffer = ex.memory.buffer;
  const u8 = new Uint8Array(buffer);
  const f32 = new Float32Array(buffer);
  u8.fill(0, q + channels, q + channels + 96);
  ex.configure(
    channels,
    groups,
    bits,
    maxQ(layout.bits),
    Math.fround(layout.alpha),
    META_BYTES[layout.meta],
    tab,
    tabLen,
    metaMax,
    signBit,
    tables.perm,
    tables.offs,
    xs,
    q,
    rowBytes,
    metaBytes,
  );
  let done = count;
  for (let first = 0; first < count; first += batch) {
    const n = Math.min(batch, count - first);
    f32.set(x.subarray(first * channels, (first + n) * channels), xAt >> 2);
    if (ex.nonFinite(xAt, n * channels) !== 0) assertFinite(x, 0, count * channels, where);
    const ok = ex.quantize(xAt, n, codesAt + first * rowBytes, metaAt + first * metaBytes);
    if (ok < n) {
      done = first + ok;
      // The reference rejects a non-finite batch before writing anything.
      assertFinite(x, 0, count * channels, where);
      break;
    }
  }
  codes.set(u8.subarray(codesAt, codesAt + done * rowBytes), codesOffset);
  meta.set(u8.subarray(metaAt, metaAt + done * metaBytes), metaOffset);
  if (done < count) {
    // Throws the reference's range error for token `done` (a scale or zero out of range).
    quantizeTokensJs({
      ...inputs,
      x: x.subarray(done * channels, count * channels),
      count: count - done,
      codesOffset: codesOffset + done * rowBytes,
      metaOffset: metaOffset + done * metaBytes,
    });
  }
}
