// One decode step of a Llama-2-7B layer, as packages/backend-gpujs/bench/decode.bench.ts
// measures it in Node: 32 query heads = 32 KV heads x 128, SKVQ pages (K 2 bits, V 1.5 bits,
// fp8 meta, permuted groups of 128, pre-RoPE keys) between 5 fp32 sinks and a 128-token fp32
// window, built by the same `benchPackedStream` (reference quantizer, untimed). Contestants
// run interleaved: one untimed warm-up round (kernel compilation, uploads of tables), then
// `reps` timed rounds; the median per contestant and its ratio to the CPU backend.
import {
  ATTENTION_RELATIVE_TOLERANCE,
  benchPackedStream,
  benchRows,
  relativeError,
} from '@skvq/backend-conformance';
import { type AttentionAttrs, type KvGeometry, LLAMA2_7B_LAYER } from '@skvq/core';
import type { ReadyContestant } from './contestants.js';
import type { BenchParams } from './params.js';

const CHANNELS = LLAMA2_7B_LAYER.queryHeads * LLAMA2_7B_LAYER.headDim;
const GEOMETRY: KvGeometry = LLAMA2_7B_LAYER;
const ATTRS: AttentionAttrs = { geometry: GEOMETRY, keysPreRope: true };
/** Seeds of decode.bench.ts: keys 1, values 2, query 3. */
const KEY_SEED = 1;
const VALUE_SEED = 2;
const QUERY_SEED = 3;

export interface BenchRow {
  tokens: number;
  contestant: string;
  /** Median ms per decode step over the timed rounds; absent when not timed (see `skipped`). */
  ms?: number;
  /** CPU backend ms / this contestant's ms, both measured in this run. */
  ratio?: number;
  samples: number[];
  /** max |out - cpu| / max |cpu| of the warm-up step: the timed work computes the right thing. */
  relativeErrorToCpu?: number;
  skipped?: string;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Lets the page repaint and the Node driver poll between steps. */
const yieldToBrowser = () => new Promise((resolve) => setTimeout(resolve, 0));

export async function runBench(
  params: BenchParams,
  contestants: ReadyContestant[],
  progress: (line: string) => void,
  addRow: (row: BenchRow) => void,
): Promise<void> {
  // The last measured ms per contestant, to predict whether the next length fits maxStepMs.
  const lastMs = new Map<string, { tokens: number; ms: number }>();
  for (const length of params.lengths) {
    progress(`${length} tokens: quantizing K and V pages (reference quantizer, untimed)`);
    await yieldToBrowser();
    const t0 = performance.now();
    const keys = benchPackedStream(length, CHANNELS, 2, KEY_SEED);
    const values = benchPackedStream(length, CHANNELS, 1.5, VALUE_SEED);
    const q = benchRows(QUERY_SEED, 1, CHANNELS);
    const inputs = { q, position: length - 1, keys, values, length };
    progress(`${length} tokens: pages built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    const skipped = new Map<string, string>();
    for (const c of contestants) {
      const last = lastMs.get(c.label);
      const predicted = last ? (last.ms * length) / last.tokens : 0;
      if (predicted > params.maxStepMs) {
        skipped.set(
          c.label,
          `predicted ${(predicted / 1000).toFixed(0)} s per step from ${last?.tokens} tokens (limit ${params.maxStepMs / 1000} s)`,
        );
      }
    }
    const times = new Map<string, number[]>(contestants.map((c) => [c.label, []]));
    const errors = new Map<string, number>();
    let reference: Float32Array | undefined;
    for (let round = 0; round <= params.reps; round++) {
      for (const c of contestants) {
        if (skipped.has(c.label)) continue;
        await yieldToBrowser();
        const start = performance.now();
        const out = await c.backend.kernels.attendDecode?.(inputs, ATTRS);
        const ms = performance.now() - start;
        if (out === undefined) {
          skipped.set(c.label, 'backend has no attendDecode kernel');
          continue;
        }
        progress(
          `${length} tokens, ${round === 0 ? 'warm-up' : `round ${round}`}: ${c.label} ${ms.toFixed(1)} ms`,
        );
        if (round === 0) {
          if (c.id === 'cpu') reference = out;
          else if (reference !== undefined) errors.set(c.label, relativeError(out, reference));
          if (ms > params.maxStepMs) {
            skipped.set(
              c.label,
              `warm-up step took ${(ms / 1000).toFixed(0)} s (limit ${params.maxStepMs / 1000} s)`,
            );
          }
        } else times.get(c.label)?.push(ms);
      }
    }
    const cpuLabel = contestants.find((c) => c.id === 'cpu')?.label;
    const cpuTimes = cpuLabel === undefined ? [] : (times.get(cpuLabel) ?? []);
    const base = cpuTimes.length > 0 ? median(cpuTimes) : undefined;
    for (const c of contestants) {
      const samples = times.get(c.label) ?? [];
      const reason = skipped.get(c.label);
      const row: BenchRow = { tokens: length, contestant: c.label, samples };
      const error = errors.get(c.label);
      if (error !== undefined) row.relativeErrorToCpu = error;
      if (reason !== undefined || samples.length === 0) {
        row.skipped = reason ?? 'no timed round';
      } else {
        row.ms = median(samples);
        if (base !== undefined) row.ratio = base / row.ms;
        lastMs.set(c.label, { tokens: length, ms: row.ms });
      }
      addRow(row);
    }
  }
}

/** The tolerance the conformance suite holds attention outputs to, for the page's summary. */
export const OUTPUT_TOLERANCE = ATTENTION_RELATIVE_TOLERANCE;
