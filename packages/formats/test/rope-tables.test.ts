import { applyRope, type RopeConfig } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { ROPE_TABLE_STEP, ropeTable, rotateRow } from '../src/rope-tables.js';

/** Two-step angles against one Math.cos(n * f): float64 rounding, far below 1e-9. */
const ROTATION_TOLERANCE = 1e-9;

describe('RoPE tables', () => {
  for (const style of ['pairwise', 'half'] as const) {
    it(`${style}: rotateRow equals core applyRope up to position 1M, table grows on demand`, () => {
      const rope: RopeConfig = { style, theta: 10000 };
      const headDim = 16;
      for (const position of [
        0,
        1,
        ROPE_TABLE_STEP - 1,
        ROPE_TABLE_STEP,
        4097,
        300_001,
        1_000_000,
      ]) {
        const table = ropeTable(headDim, rope, position + 1);
        expect(table.positions).toBeGreaterThan(position);
        const row = Float64Array.from({ length: 2 * headDim }, (_, i) => Math.sin(i + 1));
        const want = row.slice();
        applyRope(want, 0, 2, headDim, rope, position);
        rotateRow(row, 2, headDim, style, table, position);
        for (let i = 0; i < row.length; i++) {
          expect(Math.abs((row[i] as number) - (want[i] as number))).toBeLessThan(
            ROTATION_TOLERANCE,
          );
        }
      }
    });
  }
});
