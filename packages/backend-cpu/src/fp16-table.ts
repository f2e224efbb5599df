import { decodeFp16 } from '@skvq/quantizer-group-clip';

let table: Float32Array | null = null;

/**
 * 65536-entry decode table of IEEE binary16 bit patterns (256 KiB, built once on first
 * use): a fp16 window row is then one indexed load per element instead of bit twiddling.
 */
export function fp16Table(): Float32Array {
  if (table === null) {
    const t = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) t[h] = decodeFp16(h);
    table = t;
  }
  return table;
}
