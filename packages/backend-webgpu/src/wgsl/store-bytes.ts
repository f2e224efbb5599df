/**
 * WGSL that moves bytes into store buffers at any byte offset. WebGPU copies and
 * writeBuffer need 4-byte aligned offsets and sizes, but a page's rows are `rowCodeBytes`
 * long (7 bytes for 32 ternary channels), so a token's codes can start mid-word.
 *
 * `scatter`: one invocation per destination word of [dst, dst + rows * unit) rewrites that
 * word, taking each byte in the range from the source and keeping the others, so no two
 * invocations touch one word (no atomics). Destination byte b (relative to dst) comes from
 * source byte srcBase + (b / unit) * srcStride + b % unit: staging rows of a quantize job
 * (unit = a row's bytes, srcStride = a staging row) or a plain byte copy (one row).
 * Rows at or after `verdict[0]` (the first row a quantize job must not write) are kept.
 */
export const SCATTER_UNIFORM_WORDS = 8;

export function scatterWgsl(workgroup: number): string {
  return /* wgsl */ `
struct U { dst: u32, rows: u32, unit: u32, srcStride: u32, srcBase: u32, words: u32, p0: u32, p1: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read> verdict: array<u32>;
@group(0) @binding(3) var<storage, read_write> dst: array<u32>;

@compute @workgroup_size(${workgroup})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * ${workgroup}u;
  if (i >= u.words) { return; }
  let end = u.dst + min(u.rows, verdict[0]) * u.unit;
  let w = (u.dst >> 2u) + i;
  var word = dst[w];
  for (var b = 0u; b < 4u; b++) {
    let at = w * 4u + b;
    if (at < u.dst || at >= end) { continue; }
    let rel = at - u.dst;
    let s = u.srcBase + (rel / u.unit) * u.srcStride + rel % u.unit;
    let byte = (src[s >> 2u] >> ((s & 3u) * 8u)) & 0xffu;
    word = (word & ~(0xffu << (8u * b))) | (byte << (8u * b));
  }
  dst[w] = word;
}`;
}

/**
 * The verdict of a store quantize job, which the host cannot check before the kernels run
 * (its rows may already live on the device): `verdict[0]` = the first token row that must
 * not be written (count when all are fine), `verdict[1]` = 0 fine, 1 a scale or zero out
 * of the metadata range (rows before it are written, like the reference), 2 a non-finite
 * input (nothing is written, like the reference, which checks x first).
 * One invocation per token scans its row for non-finite values (from the float bits: NaN
 * compares are not reliable in WGSL) and reads the pack pass's status word; one final
 * invocation folds the rows.
 */
export function rowFlagsWgsl(workgroup: number, channels: number, source: 'fp32' | 'fp16'): string {
  const nonFinite =
    source === 'fp32'
      ? `let bits = x[(u.xOff >> 2u) + t * ${channels}u + c];
    if ((bits & 0x7f800000u) == 0x7f800000u) { bad = bad | 2u; }`
      : `let off = u.xOff + 2u * (t * ${channels}u + c);
    let bits = (x[off >> 2u] >> ((off & 2u) * 8u)) & 0xffffu;
    if ((bits & 0x7c00u) == 0x7c00u) { bad = bad | 2u; }`;
  return /* wgsl */ `
struct U { tokens: u32, xOff: u32, statusStride: u32, statusBase: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> x: array<u32>;
@group(0) @binding(2) var<storage, read> staging: array<u32>;
@group(0) @binding(3) var<storage, read_write> flags: array<u32>;

@compute @workgroup_size(${workgroup})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let t = gid.x;
  if (t >= u.tokens) { return; }
  var bad = 0u;
  if (staging[u.statusBase + t * u.statusStride] != 0u) { bad = 1u; }
  for (var c = 0u; c < ${channels}u; c++) {
    ${nonFinite}
  }
  flags[t] = bad;
}`;
}

export function verdictWgsl(): string {
  return /* wgsl */ `
struct U { tokens: u32, xOff: u32, statusStride: u32, statusBase: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> flags: array<u32>;
@group(0) @binding(2) var<storage, read_write> verdict: array<u32>;

@compute @workgroup_size(1)
fn main() {
  var first = u.tokens;
  var kind = 0u;
  for (var t = 0u; t < u.tokens; t++) {
    let f = flags[t];
    if ((f & 2u) != 0u) { first = 0u; kind = 2u; break; }
    if (f == 1u && kind == 0u) { first = t; kind = 1u; }
  }
  verdict[0] = first;
  verdict[1] = kind;
}`;
}
