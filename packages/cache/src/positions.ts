/**
 * Positions without a stored Int32 per token. Almost every run of tokens a cache holds is
 * contiguous (the window, the sinks, the quantized pages, every dense page), so a page keeps
 * only its first position and hands the kernels a view of one shared, growing identity
 * array (identity[i] = i). Only a page that receives a position out of order (a token a
 * filter rule kept, like a heavy hitter) stores its own positions. The kernel contract is
 * unchanged: every segment still carries an Int32Array of its positions.
 */

/** 4 bytes per stored position. */
export const POSITION_BYTES = 4;

/** The identity array shared by every part of one cache (counted once in its bytes). */
export class PositionIdentity {
  private values = new Int32Array(0);
  /** Highest position + 1 any store holds (the part in use). */
  private used = 0;

  /** Marks positions below `end` as held (stores call it as they record positions). */
  cover(end: number): void {
    if (end > this.values.length) this.grow(end);
    if (end > this.used) this.used = end;
  }

  /** identity[first .. first+count) (a view; covered by the store that asks). */
  view(first: number, count: number): Int32Array {
    const end = first + count;
    if (end > this.values.length) this.grow(end);
    return this.values.subarray(first, end);
  }

  /** Grows by a quarter (whole 64-position steps): slack below a quarter, copies amortised. */
  private grow(end: number): void {
    const target = Math.max(end, Math.floor(this.values.length * 1.25));
    const capacity = Math.ceil(target / 64) * 64;
    const next = new Int32Array(capacity);
    next.set(this.values);
    for (let i = this.values.length; i < capacity; i++) next[i] = i;
    this.values = next;
  }

  /** Bytes of the identity in use. */
  heldBytes(): number {
    return this.used * POSITION_BYTES;
  }

  /** Allocated identity beyond the part in use. */
  slackBytes(): number {
    return (this.values.length - this.used) * POSITION_BYTES;
  }

  /** Back to empty (reset of the owning cache). */
  clear(): void {
    this.values = new Int32Array(0);
    this.used = 0;
  }
}

/**
 * The positions of one page of `capacity` tokens: its first position while the page is
 * contiguous, its own Int32Array from the first out-of-order position on.
 */
export class PagePositions {
  private first = 0;
  private own: Int32Array | null = null;

  constructor(readonly capacity: number) {}

  /** Records src[offset .. offset+n) as the positions of slots count .. count+n-1. */
  write(count: number, src: ArrayLike<number>, offset: number, n: number): void {
    if (this.own === null) {
      if (count === 0 && n > 0) this.first = src[offset]!;
      let contiguous = true;
      for (let i = 0; i < n && contiguous; i++) {
        contiguous = src[offset + i] === this.first + count + i;
      }
      if (contiguous) return;
      this.own = new Int32Array(this.capacity);
      for (let i = 0; i < count; i++) this.own[i] = this.first + i;
    }
    for (let i = 0; i < n; i++) this.own[count + i] = src[offset + i]!;
  }

  at(i: number): number {
    return this.own === null ? this.first + i : this.own[i]!;
  }

  /** The first `count` positions as an Int32Array (a view, never a copy). */
  view(identity: PositionIdentity, count: number): Int32Array {
    return this.own === null ? identity.view(this.first, count) : this.own.subarray(0, count);
  }

  /** Bytes of own positions (0 while contiguous). */
  ownBytes(): number {
    return this.own === null ? 0 : this.capacity * POSITION_BYTES;
  }
}

/** How pages grow: the first page, then powers of two times `min`, up to `max` tokens. */
export interface PageGrowth {
  first: number;
  min: number;
  max: number;
}

/**
 * Tokens of the next page of a store that holds `held` tokens. A new page is at most an
 * eighth of what is held (but at least `min`, at most `max`), so the unused end of the last
 * page, the only slack, is below max(min, held / 8) tokens and below `max`: right-sized for
 * a 50-token chat and for a million-token context alike. Sizes stay multiples of `min`.
 */
export function nextPageTokens(held: number, growth: PageGrowth): number {
  if (held === 0) return Math.min(growth.first, growth.max);
  let size = growth.min;
  while (size * 2 * 8 <= held && size * 2 <= growth.max) size *= 2;
  return Math.min(size, growth.max);
}
