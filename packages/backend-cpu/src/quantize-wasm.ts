import type { TokenGroupLayout } from '@skvq/core';
import { fp8Table, fp16Table } from '@skvq/formats';
import { QUANTIZE_WASM_BASE64 } from './quantize-wasm-bytes.js';

/** The exports of wasm/quantize.wat (see that file for what each one does). */
export interface QuantizeExports {
  readonly memory: WebAssembly.Memory;
  configure(
    channels: number,
    groups: number,
    bits: number,
    maxq: number,
    alpha: number,
    size: number,
    tab: number,
    tabLen: number,
    metaMax: number,
    signBit: number,
    perm: number,
    offs: number,
    xs: number,
    q: number,
    rowBytes: number,
    metaBytes: number,
  ): void;
  nonFinite(at: number, n: number): number;
  quantize(x: number, count: number, codes: number, meta: number): number;
}

/** Sorted magnitudes of a format: fp8 E4M3 codes 0 .. 0x7e, fp16 codes 0 .. 0x7bff. */
const FP8_MAGNITUDES = 0x7f;
const FP16_MAGNITUDES = 0x7c00;

/** Addresses of what stays in the module's memory across calls. */
export interface QuantizeModule {
  ex: QuantizeExports;
  fp8Tab: number;
  fp16Tab: number;
  /** Per layout: its i32 tables (4 * perm[j], group offsets), laid out once. */
  layouts: Map<TokenGroupLayout, { perm: number; offs: number }>;
  /** First free byte after the fixed tables and the layouts' tables. */
  top: number;
  /** Where the layouts' tables end: per-call buffers start here. */
  fixedTop: number;
}

let cached: QuantizeModule | null | undefined;

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function align16(n: number): number {
  return (n + 15) & ~15;
}

/** Grows the module's memory to hold `bytes`. */
export function ensureMemory(ex: QuantizeExports, bytes: number): void {
  const pages = Math.ceil(bytes / 65536) - ex.memory.buffer.byteLength / 65536;
  if (pages > 0) ex.memory.grow(pages);
}

/**
 * The quantize module, or null where WebAssembly SIMD is unavailable (the JavaScript kernel
 * runs then). It is 2 KB, under the size browsers compile synchronously on a main thread.
 */
export function quantizeWasm(): QuantizeModule | null {
  if (cached !== undefined) return cached;
  cached = null;
  const bytes = decodeBase64(QUANTIZE_WASM_BASE64);
  if (typeof WebAssembly !== 'object' || !WebAssembly.validate(bytes)) return cached;
  try {
    const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), {})
      .exports as unknown as QuantizeExports;
    const fp8Tab = 16;
    const fp16Tab = fp8Tab + align16(4 * FP8_MAGNITUDES);
    const top = fp16Tab + align16(4 * FP16_MAGNITUDES);
    ensureMemory(ex, top);
    const f32 = new Float32Array(ex.memory.buffer);
    f32.set(fp8Table().subarray(0, FP8_MAGNITUDES), fp8Tab >> 2);
    f32.set(fp16Table().subarray(0, FP16_MAGNITUDES), fp16Tab >> 2);
    cached = { ex, fp8Tab, fp16Tab, layouts: new Map(), top, fixedTop: top };
  } catch {
    cached = null;
  }
  return cached;
}

/** Table sizes of the metadata formats: [table address, entries, largest value, sign bit]. */
export function metaTable(
  mod: QuantizeModule,
  meta: TokenGroupLayout['meta'],
): [number, number, number, number] {
  if (meta === 'fp8e4m3') return [mod.fp8Tab, FP8_MAGNITUDES, 448, 0x80];
  if (meta === 'fp16') return [mod.fp16Tab, FP16_MAGNITUDES, 65504, 0x8000];
  return [0, 0, 0, 0];
}

/** Most layouts kept laid out at once (a cache has two per layer); beyond, all are dropped. */
const MAX_LAYOUTS = 256;

/** The layout's permutation (4 * perm[j], or 0 for none) and group offsets in memory. */
export function layoutTables(
  mod: QuantizeModule,
  layout: TokenGroupLayout,
): { perm: number; offs: number } {
  const known = mod.layouts.get(layout);
  if (known !== undefined) return known;
  if (mod.layouts.size >= MAX_LAYOUTS) {
    mod.layouts.clear();
    mod.top = mod.fixedTop;
  }
  const channels = layout.channels;
  const groups = layout.groupOffsets.length - 1;
  const perm = layout.perm === null ? 0 : mod.top;
  const offs = mod.top + (layout.perm === null ? 0 : align16(4 * channels));
  mod.top = offs + align16(4 * (groups + 1));
  ensureMemory(mod.ex, mod.top);
  const i32 = new Int32Array(mod.ex.memory.buffer);
  if (layout.perm !== null) {
    for (let j = 0; j < channels; j++) i32[(perm >> 2) + j] = 4 * (layout.perm[j] as number);
  }
  i32.set(layout.groupOffsets, offs >> 2);
  const tables = { perm, offs };
  mod.layouts.set(layout, tables);
  return tables;
}
