import type { RopeStyle } from '@skvq/core';
import { NEG_LARGE } from '../constants.js';
import { f32Literal } from './minifloat.js';
import { readerCommonWgsl, SEGMENT_STRIDE, segmentReaderWgsl } from './segment-reader.js';

/**
 * Fused attention over sinks + packed pages + window, split-K (flash-decoding):
 * pass `partial`: workgroup (chunk, query head, query row) scores `chunk` key positions,
 *   reading keys from their stored form and rotating pre-RoPE keys per key position,
 *   then writes its chunk's max, exp-sum and unnormalised value accumulator [headDim];
 * pass `reduce`: one invocation per output element merges the chunks of its head;
 * pass `sums` (only when attentionSums is asked): per position, the softmax probability
 *   summed over query rows and averaged over query heads.
 * GQA: query head h reads KV head floor(h / (queryHeads / kvHeads)). The query arrives
 * already rotated at its own position (host, float64 like the reference).
 */
export interface AttentionShape {
  queryHeads: number;
  kvHeads: number;
  headDim: number;
  ropeStyle: RopeStyle;
  /** Rotate keys per key position (keys cached pre-RoPE and rope style not 'none'). */
  rotateKeys: boolean;
  scale: number;
  workgroup: number;
  chunk: number;
  sums: boolean;
  /**
   * Where segments live. 'pool' (host kernels): one uploaded byte pool per stream, RoPE
   * tables in `floats` after q, one index word per position (segment << 24 | row).
   * 'store' (store kernels): the arena holding each stream's store buffers, RoPE tables in
   * a device-resident `rope` binding, four index words per position (key slot, key row,
   * value slot, value row) kept on the device by attend-tables.ts.
   */
  source: 'pool' | 'store';
}

export function attentionKey(pass: string, s: AttentionShape): string {
  return `attn-${pass}:${s.queryHeads}:${s.kvHeads}:${s.headDim}:${s.ropeStyle}:${s.rotateKeys}:${s.scale}:${s.workgroup}:${s.chunk}:${s.sums}:${s.source}`;
}

/** Uniform words shared by the three passes (host: attention.ts). */
export const UNIFORM_FIELDS = [
  'length',
  'start',
  'rows',
  'causal',
  'chunks',
  'kSeg',
  'vSeg',
  'kIdx',
  'vIdx',
  'hiCos',
  'hiSin',
  'loCos',
  'loSin',
  'ropeTile',
  'qBase',
] as const;

const UNIFORMS = `struct U { ${UNIFORM_FIELDS.map((f) => `${f}: u32`).join(', ')} }
@group(0) @binding(0) var<uniform> u: U;
fn visibleOf(r: u32) -> u32 {
  if (u.causal == 1u) { return min(u.length, u.start + r + 1u); }
  return u.length;
}`;

function ropePairs(style: RopeStyle, headDim: number): { a: string; b: string } {
  return style === 'half'
    ? { a: 'i', b: `i + ${headDim / 2}u` }
    : { a: '2u * i', b: '2u * i + 1u' };
}

export function partialWgsl(s: AttentionShape): string {
  const D = s.headDim;
  const C = s.kvHeads * D;
  const group = s.queryHeads / s.kvHeads;
  const { a, b } = ropePairs(s.ropeStyle, D);
  const store = s.source === 'store';
  const ropeArr = store ? 'rope' : 'floats';
  // Where position n's key / value row is: its segment descriptor and its row there.
  const entry = (which: 'k' | 'v') =>
    store
      ? `let seg = u.${which}Seg + tables[u.${which}Idx + 4u * n] * ${SEGMENT_STRIDE}u;
  let row = tables[u.${which}Idx + 4u * n + 1u];`
      : `let ent = tables[u.${which}Idx + n];
  let seg = u.${which}Seg + (ent >> 24u) * ${SEGMENT_STRIDE}u;
  let row = ent & 0xffffffu;`;
  const bindings = store
    ? `@group(0) @binding(1) var<storage, read> floats: array<f32>;
@group(0) @binding(2) var<storage, read> rope: array<f32>;
@group(0) @binding(3) var<storage, read> kpool: array<u32>;
@group(0) @binding(4) var<storage, read> vpool: array<u32>;
@group(0) @binding(5) var<storage, read> tables: array<u32>;
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;
${s.sums ? '@group(0) @binding(7) var<storage, read_write> scores: array<f32>;' : ''}`
    : `@group(0) @binding(1) var<storage, read> floats: array<f32>;
@group(0) @binding(2) var<storage, read> kpool: array<u32>;
@group(0) @binding(3) var<storage, read> vpool: array<u32>;
@group(0) @binding(4) var<storage, read> tables: array<u32>;
@group(0) @binding(5) var<storage, read_write> partials: array<f32>;
${s.sums ? '@group(0) @binding(6) var<storage, read_write> scores: array<f32>;' : ''}`;
  const dot =
    s.rotateKeys && s.ropeStyle !== 'none'
      ? `for (var i = 0u; i < ${D / 2}u; i++) {
    let ka = elem_kpool(kr, kb0 + ${a});
    let kb = elem_kpool(kr, kb0 + ${b});
    // angle(pos) = angle(hi * tile) + angle(lo): cos/sin by the addition formula.
    let ch = ${ropeArr}[u.hiCos + hi * ${D / 2}u + i];
    let sh = ${ropeArr}[u.hiSin + hi * ${D / 2}u + i];
    let cl = ${ropeArr}[u.loCos + lo * ${D / 2}u + i];
    let sl = ${ropeArr}[u.loSin + lo * ${D / 2}u + i];
    let c = ch * cl - sh * sl;
    let sn = sh * cl + ch * sl;
    dot += floats[qb + ${a}] * (ka * c - kb * sn) + floats[qb + ${b}] * (ka * sn + kb * c);
  }`
      : `for (var d = 0u; d < ${D}u; d++) { dot += floats[qb + d] * elem_kpool(kr, kb0 + d); }`;
  return /* wgsl */ `${UNIFORMS}
${bindings}
${readerCommonWgsl()}
${segmentReaderWgsl('kpool', C)}
${segmentReaderWgsl('vpool', C)}

const WG = ${s.workgroup}u;
const CH = ${s.chunk}u;
const NEG = ${NEG_LARGE};
var<workgroup> sc: array<f32, ${s.chunk}>;
var<workgroup> red: array<f32, ${s.workgroup}>;

fn score(n: u32, qb: u32, kb0: u32) -> f32 {
  ${entry('k')}
  let kr = row_kpool(seg, row);
  let hi = n / u.ropeTile;
  let lo = n % u.ropeTile;
  var dot = 0.0;
  ${dot}
  return dot * ${f32Literal(s.scale)};
}

fn vAt(n: u32, ch: u32) -> f32 {
  ${entry('v')}
  return load_vpool(seg, row, ch);
}

@compute @workgroup_size(${s.workgroup})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  ${store ? '_ = rope[0]; // bound even when keys need no rotation (one bind layout)' : ''}
  let chunk = wid.x;
  let h = wid.y;
  let r = wid.z;
  let vis = visibleOf(r);
  let n0 = chunk * CH;
  let pb = ((r * ${s.queryHeads}u + h) * u.chunks + chunk) * ${D + 2}u;
  if (n0 >= vis) {
    // A chunk past this row's causal limit contributes nothing.
    if (lid.x == 0u) { partials[pb] = NEG; partials[pb + 1u] = 0.0; }
    for (var d = lid.x; d < ${D}u; d += WG) { partials[pb + 2u + d] = 0.0; }
    return;
  }
  let count = min(CH, vis - n0);
  let kb0 = (h / ${group}u) * ${D}u;
  let qb = u.qBase + (r * ${s.queryHeads}u + h) * ${D}u;
  var lmax = NEG;
  for (var i = lid.x; i < CH; i += WG) {
    var sv = NEG;
    if (i < count) { sv = score(n0 + i, qb, kb0); }
    sc[i] = sv;
    lmax = max(lmax, sv);
  }
  red[lid.x] = lmax;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st = st / 2u) {
    if (lid.x < st) { red[lid.x] = max(red[lid.x], red[lid.x + st]); }
    workgroupBarrier();
  }
  let m = red[0];
  workgroupBarrier();
  var lsum = 0.0;
  for (var i = lid.x; i < count; i += WG) {
    ${s.sums ? `scores[(r * ${s.queryHeads}u + h) * u.length + n0 + i] = sc[i];` : ''}
    let p = exp(sc[i] - m);
    sc[i] = p;
    lsum += p;
  }
  red[lid.x] = lsum;
  workgroupBarrier();
  for (var st = WG / 2u; st > 0u; st = st / 2u) {
    if (lid.x < st) { red[lid.x] = red[lid.x] + red[lid.x + st]; }
    workgroupBarrier();
  }
  let total = red[0];
  for (var d = lid.x; d < ${D}u; d += WG) {
    var acc = 0.0;
    for (var i = 0u; i < count; i++) {
      acc += sc[i] * vAt(n0 + i, kb0 + d);
    }
    partials[pb + 2u + d] = acc;
  }
  if (lid.x == 0u) { partials[pb] = m; partials[pb + 1u] = total; }
}`;
}

export function reduceWgsl(s: AttentionShape): string {
  const D = s.headDim;
  return /* wgsl */ `${UNIFORMS}
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;

@compute @workgroup_size(${s.workgroup})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let idx = gid.x;
  if (idx >= u.rows * ${s.queryHeads * D}u) { return; }
  let r = idx / ${s.queryHeads * D}u;
  let h = (idx / ${D}u) % ${s.queryHeads}u;
  let d = idx % ${D}u;
  let used = (visibleOf(r) + ${s.chunk - 1}u) / ${s.chunk}u;
  let base = (r * ${s.queryHeads}u + h) * u.chunks;
  var mx = ${NEG_LARGE};
  for (var c = 0u; c < used; c++) { mx = max(mx, partials[(base + c) * ${D + 2}u]); }
  var sum = 0.0;
  var acc = 0.0;
  for (var c = 0u; c < used; c++) {
    let pb = (base + c) * ${D + 2}u;
    let w = exp(partials[pb] - mx);
    sum += partials[pb + 1u] * w;
    acc += partials[pb + 2u + d] * w;
  }
  out[idx] = acc / sum;
  if (d == 0u) { stats[2u * (r * ${s.queryHeads}u + h)] = mx; stats[2u * (r * ${s.queryHeads}u + h) + 1u] = sum; }
}`;
}

export function sumsWgsl(s: AttentionShape): string {
  return /* wgsl */ `${UNIFORMS}
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<f32>;
@group(0) @binding(3) var<storage, read_write> sums: array<f32>;

@compute @workgroup_size(${s.workgroup})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n = gid.x;
  if (n >= u.length) { return; }
  var total = 0.0;
  for (var r = 0u; r < u.rows; r++) {
    if (n >= visibleOf(r)) { continue; }
    for (var h = 0u; h < ${s.queryHeads}u; h++) {
      let k = r * ${s.queryHeads}u + h;
      total += exp(scores[k * u.length + n] - stats[2u * k]) / stats[2u * k + 1u];
    }
  }
  sums[n] = total / ${s.queryHeads}.0;
}`;
}
