/**
 * First-fit allocation of byte ranges inside one arena (a GPU buffer that holds many store
 * buffers). Pure bookkeeping, no GPU: free ranges sorted by offset, merged on release.
 */
export const RANGE_ALIGN = 16;

export class RangeAllocator {
  /** Sorted, non-adjacent free ranges below `end`; everything from `end` up is free too. */
  private free: { offset: number; size: number }[] = [];
  /** First byte never handed out (the arena's high-water mark). */
  end = 0;
  constructor(public capacity: number) {}

  /** Bytes `byteLength` rounds to (never 0: every buffer gets its own range). */
  static sizeOf(byteLength: number): number {
    return Math.max(RANGE_ALIGN, Math.ceil(byteLength / RANGE_ALIGN) * RANGE_ALIGN);
  }

  /**
   * The offset of a range of `size` bytes (a multiple of RANGE_ALIGN), or undefined when
   * none fits. `reused` says whether the range was handed out before (so holds old bytes).
   */
  take(size: number): { offset: number; reused: boolean } | undefined {
    for (let i = 0; i < this.free.length; i++) {
      const r = this.free[i] as { offset: number; size: number };
      if (r.size < size) continue;
      const offset = r.offset;
      if (r.size === size) this.free.splice(i, 1);
      else {
        r.offset += size;
        r.size -= size;
      }
      return { offset, reused: true };
    }
    if (this.end + size > this.capacity) return undefined;
    const offset = this.end;
    this.end += size;
    return { offset, reused: offset < this.dirtyEnd };
  }

  give(offset: number, size: number): void {
    let i = 0;
    while (i < this.free.length && (this.free[i] as { offset: number }).offset < offset) i++;
    this.free.splice(i, 0, { offset, size });
    // Merge with the next, then with the previous range.
    const cur = this.free[i] as { offset: number; size: number };
    const next = this.free[i + 1];
    if (next !== undefined && cur.offset + cur.size === next.offset) {
      cur.size += next.size;
      this.free.splice(i + 1, 1);
    }
    const prev = this.free[i - 1];
    if (prev !== undefined && prev.offset + prev.size === cur.offset) {
      prev.size += cur.size;
      this.free.splice(i, 1);
    }
    // A free range that reaches the high-water mark lowers it; `dirtyEnd` remembers that
    // the bytes above it are no longer zero.
    const last = this.free[this.free.length - 1];
    if (last !== undefined && last.offset + last.size === this.end) {
      this.end = last.offset;
      this.free.pop();
      this.dirtyEnd = Math.max(this.dirtyEnd, last.offset + last.size);
    }
  }

  /** Bytes below this were handed out at some time (may hold old bytes). */
  private dirtyEnd = 0;
}
