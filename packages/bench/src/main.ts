// `pnpm bench`: memory at 1M tokens, decode attention at 4k/32k/128k, append throughput, for
// one Llama-2-7B layer with SKVQ K2 V1.5. Writes BENCHMARKS.md at the repository root.
// SKVQ_BENCH_QUICK=1 runs tiny sizes (a smoke test of the harness; it writes nothing);
// SKVQ_BENCH_MEMORY_TOKENS overrides the size of the memory benchmark.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCpuBackend } from '@skvq/backend-cpu';

// One thread unless SKVQ_BENCH_THREADS says otherwise: every contestant runs on the same
// number of threads (onnxruntime-node's intra-op threads included).
const cpuBackend = createCpuBackend({ threads: Number(process.env.SKVQ_BENCH_THREADS ?? '1') });

import { decodeAppendBench } from './append.js';
import { decodeBench } from './decode.js';
import { withHandWrittenSections } from './hand-written.js';
import { machine } from './machine.js';
import { memoryBench } from './memory.js';
import { renderReport } from './report.js';

const quick = process.env.SKVQ_BENCH_QUICK === '1';
/** 2^20 tokens: the paper's "1M-token context" (SKVQ.md section 5). */
const MEMORY_TOKENS = Number(process.env.SKVQ_BENCH_MEMORY_TOKENS ?? (quick ? 8192 : 1 << 20));
const DECODE_SIZES = quick ? [4096, 8192] : [4096, 32768, 131072];
/** Repetitions per size (interleaved; medians reported): fewer at 128k to stay in budget. */
const REPS: Record<number, number> = { 4096: 7, 8192: 3, 32768: 5, 131072: 3 };
/** The size the targets are stated at. */
const PROFILE_SIZE = quick ? 8192 : 32768;
const APPEND_DECODE = quick ? 256 : 2048;

const log = (s: string) => console.log(s);

async function main() {
  const started = performance.now();
  const m = machine();
  const loadBefore = loadavg()[0]!;
  log(`machine: ${m.cpus} CPUs, ${m.cpuModel}, Node ${m.node}, ${m.memoryGiB} GiB`);
  await cpuBackend.init?.();
  log('1. memory');
  const memory = memoryBench(cpuBackend, MEMORY_TOKENS, log);
  log(
    `  ${memory.bytes.bitsPerElement.toFixed(4)} bits/element, decode step ${memory.decodeSeconds.toFixed(2)} s`,
  );
  log('3. single-token append throughput (on the filled cache)');
  const append = decodeAppendBench(memory.cache, APPEND_DECODE);
  log(`  decode appends ${append.decodeTokensPerSecond.toFixed(0)} tok/s`);
  memory.cache.reset(); // frees its pages before the decode benchmarks allocate theirs
  log('2. decode attention');
  const decode = [];
  for (const n of DECODE_SIZES) {
    // Profile the fused kernel at 32k (the size of the targets) to say where its time goes.
    const profileSteps = n === PROFILE_SIZE ? 2 : 0;
    decode.push(await decodeBench(cpuBackend, n, REPS[n] ?? 3, log, profileSteps));
  }
  const seconds = (performance.now() - started) / 1000;
  const load = { before: loadBefore, after: loadavg()[0]! };
  const report = renderReport({ machine: m, memory, decode, append, seconds, quick, load });
  if (quick) {
    console.log(report);
    return;
  }
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  const file = join(root, 'BENCHMARKS.md');
  writeFileSync(
    file,
    withHandWrittenSections(report, existsSync(file) ? readFileSync(file, 'utf8') : ''),
  );
  log(`wrote BENCHMARKS.md (${seconds.toFixed(0)} s)`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
