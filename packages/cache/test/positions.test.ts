import { describe, expect, it } from 'vitest';
import { nextPageTokens, PagePositions, PositionIdentity } from '../src/positions.js';

describe('page growth (nextPageTokens)', () => {
  it('keeps the free end of the last page below max(min, held / 8) and below max', () => {
    for (const growth of [
      { first: 16, min: 16, max: 256 },
      { first: 32, min: 32, max: 1024 },
      { first: 5, min: 8, max: 32 },
    ]) {
      let held = 0;
      let capacity = 0;
      let worst = 0;
      const violations: number[] = [];
      for (let token = 1; token <= 200_000; token++) {
        if (held === capacity) capacity += nextPageTokens(held, growth);
        held++;
        const slack = capacity - held;
        const bound = Math.max(growth.min, growth.first, held / 8);
        if (slack >= bound || slack >= growth.max) violations.push(held);
        worst = Math.max(worst, slack);
      }
      expect(violations).toEqual([]);
      expect(worst).toBe(growth.max - 1);
    }
  });

  it('page sizes are multiples of min after the first page', () => {
    const growth = { first: 32, min: 32, max: 512 };
    let held = 0;
    for (let i = 0; i < 100; i++) {
      const size = nextPageTokens(held, growth);
      expect(size % 32).toBe(0);
      held += size;
    }
  });
});

describe('implicit positions', () => {
  it('a contiguous page stores none and views the identity; an out-of-order one stores its own', () => {
    const identity = new PositionIdentity();
    const page = new PagePositions(8);
    page.write(0, [10, 11, 12], 0, 3);
    identity.cover(13);
    expect(page.ownBytes()).toBe(0);
    expect(Array.from(page.view(identity, 3))).toEqual([10, 11, 12]);
    page.write(3, [20, 21], 0, 2);
    expect(page.ownBytes()).toBe(8 * 4);
    expect(Array.from(page.view(identity, 5))).toEqual([10, 11, 12, 20, 21]);
    expect(identity.heldBytes()).toBe(13 * 4);
    expect(identity.heldBytes() + identity.slackBytes()).toBe(64 * 4);
  });
});
