// Page entry of bench.html: times one 7B-layer decode step (fused attention over SKVQ pages)
// on the CPU backend, gpu.js in WebGL2 and WebGPU, and publishes the results on
// window.__skvqBench for bench/browser-decode.mjs. Query: ?lengths=4096,32768&reps=3
// &contestants=cpu,gpujs,webgpu&maxStepMs=120000 (see params.ts).
import { describeError } from '@skvq/core';
import {
  type ReadyContestant,
  startContestant,
  wasmSimdAvailable,
  webgl2Renderer,
  webgpuAdapterName,
} from './contestants.js';
import { type BenchParams, parseBenchParams } from './params.js';
import { type BenchRow, OUTPUT_TOLERANCE, runBench } from './run.js';

export interface BenchReport {
  /** 'running' until every length is measured; 'error' with `reason` when the run failed. */
  status: 'running' | 'done' | 'error';
  reason?: string;
  params?: BenchParams;
  rows: BenchRow[];
  /** Contestants that could not start here, with why (no adapter, gpu.js not in WebGL2...). */
  unavailable: { contestant: string; reason: string }[];
  /** What ran each contestant (WASM SIMD, GL renderer, WebGPU adapter). */
  details: { contestant: string; detail: string }[];
  /** Every progress line so far (the Node driver prints the new ones as they come). */
  log: string[];
  userAgent: string;
  hardwareConcurrency: number;
  wasmSimd: boolean;
  webgl2Renderer: string;
  adapter?: string;
  /** ATTENTION_RELATIVE_TOLERANCE: the bound `relativeErrorToCpu` is expected to stay under. */
  tolerance: number;
}

declare global {
  interface Window {
    __skvqBench?: BenchReport;
  }
}

const out = document.getElementById('out')!;
const report: BenchReport = {
  status: 'running',
  rows: [],
  unavailable: [],
  details: [],
  log: [],
  userAgent: navigator.userAgent,
  hardwareConcurrency: navigator.hardwareConcurrency,
  wasmSimd: wasmSimdAvailable(),
  webgl2Renderer: webgl2Renderer(),
  tolerance: OUTPUT_TOLERANCE,
};
window.__skvqBench = report;

function progress(line: string): void {
  report.log.push(line);
  out.textContent = report.log.slice(-30).join('\n');
}

async function main(): Promise<void> {
  const params = parseBenchParams(location.search);
  report.params = params;
  report.adapter = await webgpuAdapterName();
  const ready: ReadyContestant[] = [];
  for (const id of params.contestants) {
    const started = await startContestant(id);
    if ('reason' in started) {
      report.unavailable.push({ contestant: id, reason: started.reason });
      progress(`${id}: unavailable (${started.reason})`);
    } else {
      ready.push(started);
      report.details.push({ contestant: started.label, detail: started.detail });
      progress(`${started.label}: ${started.detail}`);
    }
  }
  if (!ready.some((c) => c.id === 'cpu')) throw new Error('the CPU backend did not start');
  try {
    await runBench(params, ready, progress, (row) => report.rows.push(row));
  } finally {
    for (const c of ready) await c.dispose();
  }
}

main().then(
  () => {
    report.status = 'done';
    progress('done');
  },
  (error: unknown) => {
    report.status = 'error';
    report.reason = describeError(error);
    progress(`error: ${report.reason}`);
  },
);
