// `pnpm bench:cpu-decode [tokens...]`: issue 15's single-thread CPU decode comparison and
// append throughput; prints the markdown for BENCHMARKS.md ("CPU decode vs dense (issue 15)").
import { loadavg } from 'node:os';
import { createCpuBackend } from '@skvq/backend-cpu';

// One thread unless SKVQ_BENCH_THREADS says otherwise: every contestant runs on the same
// number of threads (onnxruntime-node's intra-op threads included).
const cpuBackend = createCpuBackend({ threads: Number(process.env.SKVQ_BENCH_THREADS ?? '1') });

import { cpuAppendBench, cpuDecodeBench } from './cpu-decode.js';
import { machine } from './machine.js';

const args = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const SIZES = args.length > 0 ? args : [4096, 32768, 131072];
const REPS: Record<number, number> = { 4096: 7, 32768: 5, 131072: 3 };
const log = (s: string) => console.error(s);

async function main() {
  const m = machine();
  const load0 = loadavg()[0]!;
  await cpuBackend.init?.();
  log('append');
  const append = cpuAppendBench(cpuBackend, 16384, false);
  const appendPre = cpuAppendBench(cpuBackend, 16384, true);
  if (process.env.SKVQ_APPEND_ONLY === '1') {
    console.log(JSON.stringify({ post: append, pre: appendPre }));
    return;
  }
  const rows = [];
  for (const n of SIZES)
    rows.push(await cpuDecodeBench(cpuBackend, n, REPS[n] ?? 3, log, n === 32768 ? 2 : 0));
  const f = (x: number) => (Number.isNaN(x) ? 'n/a' : x.toFixed(1));
  const x = (a: number, b: number) =>
    Number.isNaN(a) || Number.isNaN(b) ? 'n/a' : `${(a / b).toFixed(2)}x`;
  const out: string[] = [];
  out.push(
    `Machine: ${m.cpus} CPUs, ${m.cpuModel}, Node ${m.node}; load average ${load0.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end. Threads: 1 (onnxruntime intra-op threads 1). Median CPU ms per decode step, contestants interleaved.`,
    '',
    '| tokens | reps | fused, keys post-RoPE | fused, keys pre-RoPE | dense fp32 post-RoPE | dense fp16 post-RoPE | dequantize, then attend | onnxruntime-node fp32 | fused vs dense fp32 | fused vs onnxruntime | fused vs dequant |',
    '| -----: | ---: | --: | --: | --: | --: | --: | --: | --: | --: | --: |',
  );
  for (const r of rows) {
    const s = r.ms;
    out.push(
      `| ${r.tokens.toLocaleString('en-US')} | ${r.reps} | ${f(s.fusedPost)} | ${f(s.fusedPre)} | ${f(s.denseFp32Post)} | ${f(s.denseFp16Post)} | ${f(s.dequantThenAttend)} | ${f(s.onnxruntime)} | ${x(s.denseFp32Post, s.fusedPost)} | ${x(s.onnxruntime, s.fusedPost)} | ${x(s.dequantThenAttend, s.fusedPost)} |`,
    );
  }
  out.push('');
  out.push(
    `Sanity (max |difference|): fused vs dequantize-then-attend ${rows.map((r) => r.fusedVsDequant.toExponential(1)).join(', ')}; dense fp32 vs onnxruntime ${rows.map((r) => r.denseVsOnnx.toExponential(1)).join(', ')}; fused (quantized) vs dense fp32 ${rows.map((r) => r.fusedPostVsDense.toExponential(1)).join(', ')}.`,
  );
  const prof = rows.find((r) => r.profile)?.profile;
  if (prof) {
    out.push('', 'Profile of the fused kernel (keys post-RoPE) at 32,768 tokens, self time:', '');
    out.push('| function | ms | share |', '| -------- | -: | ----: |');
    for (const p of prof)
      out.push(`| \`${p.fn}\` | ${p.ms.toFixed(0)} | ${(100 * p.share).toFixed(1)}% |`);
  }
  out.push(
    '',
    '| append (4,096 channels, SKVQ K2 V1.5 fp8; tokens per CPU second) | keys post-RoPE | keys pre-RoPE |',
    '| --- | --: | --: |',
    `| cache.append, prefill chunks of 4,096 (16,384 tokens) | ${append.chunkTokensPerSecond.toFixed(0)} | ${appendPre.chunkTokensPerSecond.toFixed(0)} |`,
    `| cache.append, single-token decode appends (1,024) | ${append.decodeTokensPerSecond.toFixed(0)} | ${appendPre.decodeTokensPerSecond.toFixed(0)} |`,
    `| quantizeTokens kernel alone, K and V, one token per call | ${append.kernelTokensPerSecond.toFixed(0)} | ${appendPre.kernelTokensPerSecond.toFixed(0)} |`,
    `| dense fp32 cache.append, prefill chunks (for scale) | ${append.denseChunkTokensPerSecond.toFixed(0)} | ${appendPre.denseChunkTokensPerSecond.toFixed(0)} |`,
  );
  console.log(out.join('\n'));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
