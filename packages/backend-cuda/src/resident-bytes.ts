/**
 * Byte arrays kept on the device and updated in place: a host mirror of what the device
 * holds, so that a new version uploads only the bytes that differ. The attention segment
 * tables (descriptors, and one location word per cached position) change by a few entries
 * per decode step; re-uploading them whole would move O(context) bytes every step.
 */

/** The device side a ResidentBytes needs (a DeviceBuffer; a fake one in tests). */
export interface ResidentBuffer {
  readonly ptr: bigint;
  upload(data: Uint8Array, byteOffset: number): unknown;
  copyFrom(src: ResidentBuffer, srcOffset: number, byteOffset: number, length: number): unknown;
  dispose(): void;
}

export type ResidentAlloc = (bytes: number) => ResidentBuffer;

/** Bytes compared at once; memcmp over 4 KiB blocks skips unchanged parts quickly. */
const COMPARE_BLOCK = 4096;
/** Changed ranges closer than this are uploaded as one (each upload has a fixed cost). */
const MERGE_GAP = 64;

/**
 * The byte ranges [start, end) where `next` differs from `previous` over their common
 * length, exact to the byte, ranges closer than `mergeGap` merged.
 */
export function changedRanges(
  previous: Uint8Array,
  next: Uint8Array,
  mergeGap = MERGE_GAP,
): Array<[number, number]> {
  const n = Math.min(previous.length, next.length);
  const a = Buffer.from(previous.buffer, previous.byteOffset, n);
  const b = Buffer.from(next.buffer, next.byteOffset, n);
  const ranges: Array<[number, number]> = [];
  for (let block = 0; block < n; block += COMPARE_BLOCK) {
    const end = Math.min(block + COMPARE_BLOCK, n);
    if (a.compare(b, block, end, block, end) === 0) continue;
    let first = block;
    while (a[first] === b[first]) first++;
    let last = end - 1;
    while (a[last] === b[last]) last--;
    const tail = ranges[ranges.length - 1];
    // Within a block, bytes between first and last are uploaded even if equal (few).
    if (tail !== undefined && first - tail[1] < mergeGap) tail[1] = last + 1;
    else ranges.push([first, last + 1]);
  }
  return ranges;
}

/** One device array with its host mirror; capacity grows geometrically, kept on device. */
export class ResidentBytes {
  private buffer: ResidentBuffer | null = null;
  private capacity = 0;
  private mirror = new Uint8Array(0);
  /** Bytes of the mirror that match the device (the last update's length). */
  private valid = 0;

  constructor(private readonly alloc: ResidentAlloc) {}

  get ptr(): bigint {
    if (this.buffer === null) throw new Error('ResidentBytes: read before the first update');
    return this.buffer.ptr;
  }

  /** Makes the device array equal `next` (its first next.length bytes), uploading only changes. */
  update(next: Uint8Array): void {
    const length = Math.max(next.length, 4);
    if (length > this.capacity) this.grow(Math.max(length, 2 * this.capacity));
    const buffer = this.buffer!;
    for (const [start, end] of changedRanges(this.mirror.subarray(0, this.valid), next)) {
      buffer.upload(next.subarray(start, end), start);
    }
    if (next.length > this.valid) {
      buffer.upload(next.subarray(this.valid), this.valid);
    }
    this.mirror.set(next);
    this.valid = next.length;
  }

  private grow(capacity: number): void {
    const grown = this.alloc(capacity);
    // Keep what the device already holds: the next update then uploads only differences.
    if (this.buffer !== null) {
      if (this.valid > 0) grown.copyFrom(this.buffer, 0, 0, this.valid);
      this.buffer.dispose();
    }
    const mirror = new Uint8Array(capacity);
    mirror.set(this.mirror.subarray(0, this.valid));
    this.buffer = grown;
    this.mirror = mirror;
    this.capacity = capacity;
  }

  dispose(): void {
    this.buffer?.dispose();
    this.buffer = null;
    this.capacity = 0;
    this.valid = 0;
    this.mirror = new Uint8Array(0);
  }
}

/** Descriptors and locations of one attention stream, kept on the device between calls. */
export class ResidentSegmentTable {
  private readonly descriptorBytes: ResidentBytes;
  private readonly locationBytes: ResidentBytes;

  constructor(alloc: ResidentAlloc) {
    this.descriptorBytes = new ResidentBytes(alloc);
    this.locationBytes = new ResidentBytes(alloc);
  }

  update(descriptors: Uint8Array, locations: Uint32Array): this {
    this.descriptorBytes.update(descriptors);
    this.locationBytes.update(
      new Uint8Array(locations.buffer, locations.byteOffset, locations.byteLength),
    );
    return this;
  }

  get descriptors(): { ptr: bigint } {
    return { ptr: this.descriptorBytes.ptr };
  }

  get locations(): { ptr: bigint } {
    return { ptr: this.locationBytes.ptr };
  }

  dispose(): void {
    this.descriptorBytes.dispose();
    this.locationBytes.dispose();
  }
}
