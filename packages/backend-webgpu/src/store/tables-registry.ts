import type { GpuContext } from '../gpu-context.js';
import { AttendTables } from './attend-tables.js';
import type { DeviceStoreBuffer } from './device-storage.js';

/**
 * Picks the tables of the stream pair a call's segments belong to: the state most of its
 * buffers were last attended through (pages belong to one layer's cache), else a new one.
 * At most MAX_TABLES are kept; the least recently used is dropped (rebuilt if it returns).
 */
const MAX_TABLES = 128;

export class TablesRegistry {
  private readonly byBuffer = new WeakMap<DeviceStoreBuffer, AttendTables>();
  private readonly all = new Set<AttendTables>();
  private clock = 0;
  constructor(private readonly ctx: () => GpuContext) {}

  pick(buffers: readonly DeviceStoreBuffer[]): AttendTables {
    const votes = new Map<AttendTables, number>();
    for (const b of buffers) {
      const t = this.byBuffer.get(b);
      if (t !== undefined && this.all.has(t)) votes.set(t, (votes.get(t) ?? 0) + 1);
    }
    let best: AttendTables | undefined;
    let most = 0;
    for (const [t, n] of votes) {
      if (n > most) {
        best = t;
        most = n;
      }
    }
    if (best === undefined) {
      best = new AttendTables(this.ctx());
      this.all.add(best);
      if (this.all.size > MAX_TABLES) {
        let oldest: AttendTables | undefined;
        for (const t of this.all)
          if (oldest === undefined || t.lastUse < oldest.lastUse) oldest = t;
        oldest?.dispose();
        if (oldest !== undefined) this.all.delete(oldest);
      }
    }
    best.lastUse = ++this.clock;
    for (const b of buffers) this.byBuffer.set(b, best);
    return best;
  }

  dispose(): void {
    for (const t of this.all) t.dispose();
    this.all.clear();
  }
}
