/**
 * JavaScript (gpu.js's kernel subset) that reads one channel of one row into `out`.
 * `row` names four variables the caller declared from `info`: `${row}B` (0 for a
 * full-precision row, else the code base), `${row}D` (data offset), `${row}M` (metadata
 * offset) and `${row}T` (layout table offset); see stream-slice.ts.
 *
 * Everything is float arithmetic, because GLSL ES 1.0 has no integer bit operations:
 * - a row byte pair p = b_k + 256 b_(k+1); formats that never straddle keep the low byte,
 *   p - 256 floor((p + 0.5) / 256) (division by 256 is exact);
 * - the code is floor((p + 0.5) / divisor) mod base, each floor taken of a quotient at
 *   least 0.5 / 256 away from an integer, so a division a few ulp off (WebGL allows 2.5)
 *   cannot move it;
 * - the value is f32(f32(code * scale) + zero), the reference's dequantization
 *   (Math.fround makes the CPU mode round like the GPU; it is the identity in GLSL).
 */
export function readValueJs(row: string, channel: string, out: string): string {
  return `
    if (${row}B == 0) {
      ${out} = data[${row}D + (${channel})];
    } else {
      const ${out}T = ${row}T + (${channel}) * 3;
      ${decodeJs(row, out, `data[${out}T]`, `data[${out}T + 1]`, `data[${out}T + 2]`)}
    }`;
}

/**
 * Like readValueJs for a channel fixed per thread: its layout-table entry is fetched again
 * only when the row's table changes (`${cache}At`, declared by tableCacheJs before the
 * loop), which saves three of the value's texture fetches on uniform pages.
 */
export function readValueCachedJs(
  row: string,
  channel: string,
  out: string,
  cache: string,
): string {
  return `
    if (${row}B == 0) {
      ${out} = data[${row}D + (${channel})];
    } else {
      if (${row}T != ${cache}At) {
        ${cache}At = ${row}T;
        ${cache}Byte = data[${row}T + (${channel}) * 3];
        ${cache}Div = data[${row}T + (${channel}) * 3 + 1];
        ${cache}Pair = data[${row}T + (${channel}) * 3 + 2];
      }
      ${decodeJs(row, out, `${cache}Byte`, `${cache}Div`, `${cache}Pair`)}
    }`;
}

/** Declares the cache variables of readValueCachedJs (before the loop over rows). */
export function tableCacheJs(cache: string): string {
  return `
    let ${cache}At = -1;
    let ${cache}Byte = 0;
    let ${cache}Div = 1;
    let ${cache}Pair = 0;`;
}

/** Code extraction and dequantization from a table entry (byte, divisor, pair index). */
function decodeJs(row: string, out: string, byte: string, divisor: string, pair: string): string {
  return `
      let ${out}P = data[${row}D + ${byte}];
      if (${row}B != 8) {
        ${out}P = ${out}P - 256 * Math.floor((${out}P + 0.5) / 256);
      }
      const ${out}Q = Math.floor((${out}P + 0.5) / ${divisor});
      const ${out}C = ${out}Q - ${row}B * Math.floor((${out}Q + 0.5) / ${row}B);
      const ${out}G = ${row}M + 2 * ${pair};
      ${out} = Math.fround(Math.fround(${out}C * data[${out}G]) + data[${out}G + 1]);`;
}

/** Declares the four row variables of slice position `index` (see readValueJs). */
export function rowFieldsJs(row: string, index: string): string {
  return `
    const ${row}B = info[${index} * 4];
    const ${row}D = info[${index} * 4 + 1];
    const ${row}M = info[${index} * 4 + 2];
    const ${row}T = info[${index} * 4 + 3];`;
}
