import type { AttentionAttrs, KvGeometry, QuantLayout } from '@skvq/core';
import { AttentionRunner } from './attention.js';
import type { CudaDevice, DeviceBuffer } from './device.js';
import { DeviceLayout } from './device-layout.js';
import { ResidentSegmentTable } from './resident-bytes.js';

/** Segment tables kept per stream; the least recently used beyond this are freed. */
export const MAX_RESIDENT_TABLES = 1024;

/** A content key of a layout: two layout objects with equal fields share device arrays. */
export function layoutKey(layout: QuantLayout): string {
  if (layout.kind === 'channel-block') {
    return `cb:${layout.channels}:${layout.bits}:${layout.meta}:${layout.alpha}:${layout.blockTokens}`;
  }
  return `tg:${layout.channels}:${layout.bits}:${layout.meta}:${layout.alpha}:${layout.groupOffsets.join(',')}:${layout.perm?.join(',') ?? 'id'}`;
}

/** The attention configuration a runner is built for (its scratch depends on nothing else). */
export function runnerKey(geometry: KvGeometry, attrs: AttentionAttrs): string {
  const { queryHeads, kvHeads, headDim, rope } = geometry;
  return `${queryHeads}:${kvHeads}:${headDim}:${rope.style}:${rope.theta}:${attrs.keysPreRope ? 1 : 0}:${attrs.scale ?? ''}`;
}

/**
 * What the CUDA storage keeps on one open device between calls: layouts' lookup arrays,
 * attention runners and their scratch, the resident segment tables, and growable scratch
 * for inputs. Everything here dies with the device (CudaDevice.dispose frees it all).
 */
export class CudaStoreState {
  private readonly layoutsByObject = new WeakMap<QuantLayout, DeviceLayout>();
  private readonly layoutsByContent = new Map<string, DeviceLayout>();
  private readonly runners = new Map<string, { runner: AttentionRunner; maxQueries: number }>();
  private readonly tables = new Map<string, ResidentSegmentTable>();
  private readonly scratch = new Map<string, DeviceBuffer>();
  readonly errorWord: DeviceBuffer;

  constructor(readonly device: CudaDevice) {
    this.errorWord = device.alloc(4).fill(0);
  }

  /** The device arrays of `layout`, uploaded once per distinct layout. */
  layout(layout: QuantLayout): DeviceLayout {
    let found = this.layoutsByObject.get(layout);
    if (found) return found;
    const key = layoutKey(layout);
    found = this.layoutsByContent.get(key);
    if (!found) {
      found = new DeviceLayout(this.device, layout);
      this.layoutsByContent.set(key, found);
    }
    this.layoutsByObject.set(layout, found);
    return found;
  }

  /** A runner for decode/prefill calls of up to `rows` queries (no attention sums). */
  runner(geometry: KvGeometry, attrs: AttentionAttrs, rows: number): AttentionRunner {
    const key = runnerKey(geometry, attrs);
    const cached = this.runners.get(key);
    if (cached && cached.maxQueries >= rows) return cached.runner;
    cached?.runner.dispose();
    const runner = new AttentionRunner(this.device, geometry, attrs, {
      maxQueries: rows,
      // Without sums the runner's scratch does not depend on the length.
      maxLength: 2 ** 31 - 1,
    });
    this.runners.set(key, { runner, maxQueries: rows });
    return runner;
  }

  /** The resident table of `key`, created empty on first use. */
  table(key: string): ResidentSegmentTable {
    let table = this.tables.get(key);
    if (table) {
      // Map order is insertion order: re-inserting marks it most recently used.
      this.tables.delete(key);
    } else {
      table = new ResidentSegmentTable((bytes) => this.device.alloc(bytes));
      if (this.tables.size >= MAX_RESIDENT_TABLES) {
        const [oldest, evicted] = this.tables.entries().next().value!;
        evicted.dispose();
        this.tables.delete(oldest);
      }
    }
    this.tables.set(key, table);
    return table;
  }

  /** Frees the tables whose key starts with `prefix` (a released buffer's). */
  dropTables(prefix: string): void {
    for (const [key, table] of this.tables) {
      if (key.startsWith(prefix)) {
        table.dispose();
        this.tables.delete(key);
      }
    }
  }

  /** A scratch buffer of at least `bytes` for `purpose`, grown (never shrunk) on demand. */
  scratchBuffer(purpose: string, bytes: number): DeviceBuffer {
    const current = this.scratch.get(purpose);
    if (current && current.bytes >= bytes) return current;
    current?.dispose();
    const grown = this.device.alloc(Math.max(bytes, 2 * (current?.bytes ?? 0)));
    this.scratch.set(purpose, grown);
    return grown;
  }
}
