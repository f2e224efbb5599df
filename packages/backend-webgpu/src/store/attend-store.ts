import {
  type AttentionAttrs,
  kvHidden,
  queryHidden,
  type RopeConfig,
  SkvqError,
  type StoreAttendInputs,
  type StoreSegment,
} from '@skvq/core';
import { checkAttrs, checkPosition, checkPrefillRange } from '@skvq/formats';
import { attentionShape, checkJob, rotateQueries, runAttention } from '../attention.js';
import type { GpuContext } from '../gpu-context.js';
import { type RopeTables, ropeTables } from '../rope-tables.js';
import type { DeviceStoreBuffer, WebgpuStorage } from './device-storage.js';
import type { TablesRegistry } from './tables-registry.js';

/**
 * Attention over segments held in the storage (StoreKernels.attend): the same partial /
 * reduce / sums passes as the host kernels, binding the arenas the pages live in, the
 * stream pair's device-resident tables and the device-resident RoPE tables. What crosses to
 * the device per call: the rotated query rows, a uniform block, and the table entries that
 * changed since the previous call; what comes back: the output rows (and attentionSums
 * when asked, O(length) by the contract).
 */

/** Device copies of the RoPE tables, per (headDim, theta), replaced when they grow. */
export class RopeBuffers {
  private readonly held = new Map<string, { tables: RopeTables; gpu: GPUBuffer }>();

  get(
    ctx: GpuContext,
    headDim: number,
    rope: RopeConfig,
    length: number,
  ): { gpu: GPUBuffer; offsets: { hiCos: number; hiSin: number; loCos: number; loSin: number } } {
    const tables = ropeTables(headDim, rope, length);
    const key = `${headDim}:${rope.theta}`;
    let held = this.held.get(key);
    if (held === undefined || held.tables !== tables) {
      held?.gpu.destroy();
      const all = new Float32Array(tables.hiCos.length * 2 + tables.loCos.length * 2);
      let at = 0;
      for (const name of ['hiCos', 'hiSin', 'loCos', 'loSin'] as const) {
        all.set(tables[name], at);
        at += tables[name].length;
      }
      held = { tables, gpu: ctx.storage(all) };
      this.held.set(key, held);
    }
    const hi = held.tables.hiCos.length;
    const lo = held.tables.loCos.length;
    return {
      gpu: held.gpu,
      offsets: { hiCos: 0, hiSin: hi, loCos: 2 * hi, loSin: 2 * hi + lo },
    };
  }

  dispose(): void {
    for (const h of this.held.values()) h.gpu.destroy();
    this.held.clear();
  }
}

function buffersOf(segments: readonly StoreSegment[]): DeviceStoreBuffer[] {
  const out: DeviceStoreBuffer[] = [];
  if (!Array.isArray(segments)) return out;
  for (const s of segments) {
    if (s?.kind === 'fp') out.push(s.data?.buffer as DeviceStoreBuffer);
    else if (s?.kind === 'packed') out.push(s.codes?.buffer as DeviceStoreBuffer);
  }
  return out.filter((b) => b !== undefined);
}

export async function attendStore(
  ctx: GpuContext,
  storage: WebgpuStorage,
  registry: TablesRegistry,
  ropes: RopeBuffers,
  job: StoreAttendInputs,
  attrs: AttentionAttrs,
): Promise<Float32Array> {
  const where = 'attend (webgpu store)';
  const c = checkAttrs(attrs, where);
  if (job.causal) {
    checkPrefillRange(job.start, job.rows, job.length, where);
  } else {
    checkPosition(job.start, where);
    if (job.rows !== 1) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `${where}: a non-causal (decode) job has 1 query row, got ${job.rows}`,
      );
    }
  }
  const { geometry } = c;
  checkJob(job, queryHidden(geometry), where);
  const tables = registry.pick([...buffersOf(job.keys), ...buffersOf(job.values)]);
  const placed = tables.prepare(
    job.keys,
    job.values,
    job.length,
    kvHidden(geometry),
    (view, what) => storage.locate(view, `${where}: ${what}`),
    where,
  );
  const shape = attentionShape(ctx, c, job.attentionSums !== undefined, 'store');
  const rope = ropes.get(ctx, geometry.headDim, geometry.rope, shape.rotateKeys ? job.length : 1);
  const q = ctx.storage(rotateQueries(job.q, job.start, job.rows, geometry));
  try {
    return await runAttention(ctx, job, shape, {
      source: 'store',
      shared: [q, rope.gpu, placed.kBuffer, placed.vBuffer, tables.gpu as GPUBuffer],
      kSeg: placed.kSeg,
      vSeg: placed.vSeg,
      kIdx: placed.kIdx,
      vIdx: placed.vIdx,
      rope: rope.offsets,
    });
  } finally {
    q.destroy();
  }
}
