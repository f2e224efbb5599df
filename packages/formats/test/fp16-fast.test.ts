import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Bits } from '../src/fp16-fast.js';
import { decodeFp16, encodeFp16 } from '../src/minifloat.js';
import { rng } from './helpers.js';

describe('fast fp16 conversion against the reference codec', () => {
  it('decodes every binary16 pattern like decodeFp16', () => {
    for (let h = 0; h < 65536; h++) {
      const want = decodeFp16(h);
      const got = f16BitsToF32(h);
      if (Number.isNaN(want)) expect(Number.isNaN(got)).toBe(true);
      else expect(got).toBe(want);
    }
  });

  it('encodes like encodeFp16: every fp16 value, midpoints and random floats', () => {
    const r = rng(9);
    const xs: number[] = [
      0,
      -0,
      65504,
      65520,
      1e9,
      -1e9,
      2 ** -24,
      2 ** -25,
      2 ** -26,
      3 * 2 ** -26,
    ];
    for (let h = 0; h < 0x7c00; h += 7) {
      const a = decodeFp16(h);
      const b = decodeFp16(h + 1);
      xs.push(a, -a, Math.fround((a + b) / 2), Math.fround(a + (b - a) * 0.51));
    }
    for (let i = 0; i < 20000; i++) xs.push(Math.fround((r() - 0.5) * 2 ** (r() * 40 - 20)));
    for (const x of xs) expect(f32ToF16Bits(x)).toBe(encodeFp16(x));
  });
});
