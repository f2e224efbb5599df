import {
  type BitWidth,
  groupCount,
  META_BYTES,
  type MetaFormat,
  maxQ,
  type QuantLayout,
} from '@skvq/core';
import { META_MAX, SCALE_FLOOR } from '@skvq/formats';
import { packWordWgsl } from './codes.js';
import { divisionWgsl } from './division.js';
import { ENCODE_OVERFLOW, f32Literal, metaCodecWgsl, minifloatDecodeWgsl } from './minifloat.js';

/**
 * WGSL of quantize-and-append, two passes:
 * 1. `params`: one invocation per unit (token-group: a (token, group); channel-block: a
 *    channel over the block) finds min/max (gathered through `perm`), then the stored zero
 *    (rounded toward -Inf) and scale (toward +Inf, computed from the stored zero) exactly as
 *    quantParams() in @skvq/formats, float32 throughout. Both divisions of the
 *    quantizer (the scale, and each code's (x - zero) / scale) use divRn (division.ts):
 *    correctly rounded like the reference's, where WGSL's `/` may be 2.5 ulp off.
 * 2. `pack`: one invocation per u32 word of a staging buffer laid out per token row
 *    (token-group: [code words | meta words | status]; channel-block: every row's code
 *    words, then the block's meta words, then status), so no two invocations write the
 *    same word and rows of any byte length pack without atomics. The host copies the
 *    bytes into the page.
 * Bindings: 0 uniforms {tokens, alphaBits}, 1 x, 2 aux (perm[C] | groupOf[C] |
 * groupOffsets[G+1]), 3 params (4 words per unit: scale f32, zero f32, scale bits, zero
 * bits), 4 staging.
 */

export interface QuantizeShape {
  kind: QuantLayout['kind'];
  channels: number;
  groups: number;
  bits: BitWidth;
  meta: MetaFormat;
  workgroup: number;
  /**
   * Where x comes from: 'host' = an uploaded array<f32> of its own; 'fp32' / 'fp16' = rows
   * in a store buffer bound as array<u32>, starting at byte `u.xOff` (store kernels).
   */
  source: XSource;
}

export type XSource = 'host' | 'fp32' | 'fp16';

export function quantizeShape(
  layout: QuantLayout,
  workgroup: number,
  source: XSource = 'host',
): QuantizeShape {
  return {
    kind: layout.kind,
    channels: layout.channels,
    groups: layout.kind === 'token-group' ? groupCount(layout) : layout.channels,
    bits: layout.bits,
    meta: layout.meta,
    workgroup,
    source,
  };
}

export function shapeKey(prefix: string, s: QuantizeShape): string {
  return `${prefix}:${s.kind}:${s.channels}:${s.groups}:${s.bits}:${s.meta}:${s.workgroup}:${s.source}`;
}

/** Uniform words of both passes: tokens, alphaBits, units, words, xOff (+ padding). */
export const QUANTIZE_UNIFORM_WORDS = 8;

/** Words of one row's codes, of one unit's metadata region, as the staging layout uses them. */
export function codeWordsPerRow(rowBytes: number): number {
  return Math.ceil(rowBytes / 4);
}

/** `fn xAt(i) -> f32`: element i of x ([tokens, channels] row-major) in float32. */
function xReaderWgsl(source: XSource): string {
  if (source === 'host') return 'fn xAt(i: u32) -> f32 { return x[i]; }';
  if (source === 'fp32')
    return 'fn xAt(i: u32) -> f32 { return bitcast<f32>(x[(u.xOff >> 2u) + i]); }';
  // fp16 rows decode exactly to float32 (the host decodes them the same way).
  return `${minifloatDecodeWgsl('h', 'fp16')}
fn xAt(i: u32) -> f32 {
  let off = u.xOff + 2u * i;
  return dec_h((x[off >> 2u] >> ((off & 2u) * 8u)) & 0xffffu);
}`;
}

function bindings(withStaging: boolean, source: XSource): string {
  return /* wgsl */ `
struct Uniforms { tokens: u32, alphaBits: u32, units: u32, words: u32, xOff: u32, p0: u32, p1: u32, p2: u32 }
@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> x: array<${source === 'host' ? 'f32' : 'u32'}>;
@group(0) @binding(2) var<storage, read> aux: array<u32>;
@group(0) @binding(3) var<storage, ${withStaging ? 'read' : 'read_write'}> params: array<u32>;
${withStaging ? '@group(0) @binding(4) var<storage, read_write> staging: array<u32>;' : ''}
${xReaderWgsl(source)}`;
}

/** Pass 1: scale and zero per unit. */
export function paramsWgsl(s: QuantizeShape): string {
  const C = s.channels;
  const G = s.groups;
  const metaMax = s.meta === 'fp32' ? null : META_MAX[s.meta];
  const range =
    s.kind === 'token-group'
      ? `let t = unit / ${G}u;
  let g = unit % ${G}u;
  let start = aux[${2 * C}u + g];
  let end = aux[${2 * C}u + g + 1u];
  let base = t * ${C}u;
  var mn = xAt(base + aux[start]);
  var mx = mn;
  for (var j = start + 1u; j < end; j++) {
    let v = xAt(base + aux[j]);
    if (v < mn) { mn = v; }
    if (v > mx) { mx = v; }
  }`
      : `_ = aux[0];
  var mn = xAt(unit);
  var mx = mn;
  for (var t = 1u; t < u.tokens; t++) {
    let v = xAt(t * ${C}u + unit);
    if (v < mn) { mn = v; }
    if (v > mx) { mx = v; }
  }`;
  return /* wgsl */ `${bindings(false, s.source)}
${metaCodecWgsl(s.meta)}
${divisionWgsl()}

// Beyond the format's largest finite value the reference throws (never saturates).
fn store(v: f32, toCeil: bool) -> u32 {
  ${metaMax === null ? '' : `if (abs(v) > ${f32Literal(metaMax)}) { return ${ENCODE_OVERFLOW}u; }`}
  return metaEnc(v, toCeil);
}

@compute @workgroup_size(${s.workgroup})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let unit = gid.x;
  if (unit >= u.units) { return; }
  ${range}
  let a = bitcast<f32>(u.alphaBits);
  let lo = a * mn;
  let hi = a * mx;
  let zbits = store(lo, false);
  var zero = 0.0;
  if (zbits != ${ENCODE_OVERFLOW}u) { zero = metaDec(zbits); }
  let raw = max(divRn(hi - zero, ${maxQ(s.bits)}.0), ${f32Literal(SCALE_FLOOR)});
  let sbits = store(raw, true);
  var scale = 1.0;
  if (sbits != ${ENCODE_OVERFLOW}u) { scale = metaDec(sbits); }
  params[4u * unit] = bitcast<u32>(scale);
  params[4u * unit + 1u] = bitcast<u32>(zero);
  params[4u * unit + 2u] = sbits;
  params[4u * unit + 3u] = zbits;
}`;
}

/** Pass 2: codes and metadata bytes into the staging words. */
export function packWgsl(s: QuantizeShape, rowBytes: number, metaBytes: number): string {
  const C = s.channels;
  const G = s.groups;
  const codeWords = codeWordsPerRow(rowBytes);
  const metaWords = Math.ceil(metaBytes / 4);
  const size = META_BYTES[s.meta];
  const values = 2 * G; // stored values per meta region: scale and zero per unit
  const perWord = 4 / size;
  const mask = size === 4 ? '0xffffffffu' : `${2 ** (8 * size) - 1}u`;
  const tokenGroup = s.kind === 'token-group';
  const codeAt = tokenGroup
    ? `let unit = curT * ${G}u + aux[${C}u + j];
  let v = xAt(curT * ${C}u + aux[j]);`
    : `let unit = j;
  let v = xAt(curT * ${C}u + j);`;
  const locate = tokenGroup
    ? `let row = i / ${codeWords + metaWords + 1}u;
  let w = i % ${codeWords + metaWords + 1}u;
  let unitBase = row * ${G}u;
  curT = row;
  if (w < ${codeWords}u) { staging[i] = packWord(w, ${C}u); return; }
  let mw = w - ${codeWords}u;`
    : `let codeTotal = u.tokens * ${codeWords}u;
  let unitBase = 0u;
  if (i < codeTotal) {
    curT = i / ${codeWords}u;
    staging[i] = packWord(i % ${codeWords}u, ${C}u);
    return;
  }
  let mw = i - codeTotal;
  _ = aux[0];`;
  return /* wgsl */ `${bindings(true, s.source)}
var<private> curT: u32;
${divisionWgsl()}

fn codeAt(j: u32) -> u32 {
  ${codeAt}
  let scale = bitcast<f32>(params[4u * unit]);
  let zero = bitcast<f32>(params[4u * unit + 1u]);
  let q = divRn(v - zero, scale);
  return u32(floor(clamp(q, 0.0, ${maxQ(s.bits)}.0) + 0.5));
}
${packWordWgsl(s.bits)}

fn metaValue(unitBase: u32, k: u32) -> u32 {
  return params[4u * (unitBase + k / 2u) + 2u + (k & 1u)];
}

@compute @workgroup_size(${s.workgroup})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= u.words) { return; }
  ${locate}
  if (mw < ${metaWords}u) {
    var word = 0u;
    for (var b = 0u; b < ${perWord}u; b++) {
      let k = mw * ${perWord}u + b;
      if (k < ${values}u) { word = word | ((metaValue(unitBase, k) & ${mask}) << (${8 * size}u * b)); }
    }
    staging[i] = word;
    return;
  }
  // Status word: 1 when a scale or zero fell outside the metadata format.
  var bad = 0u;
  for (var k = 0u; k < ${values}u; k++) {
    if (metaValue(unitBase, k) == ${ENCODE_OVERFLOW}u) { bad = 1u; }
  }
  staging[i] = bad;
}`;
}
