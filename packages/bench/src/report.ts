import type { AppendResult } from './append.js';
import type { DecodeResult } from './decode.js';
import type { Machine } from './machine.js';
import { type MemoryResult, TARGET_BITS } from './memory.js';
import { ALPHA, GROUP_SIZE, SINKS, WINDOW } from './setup.js';

/** Targets of the issue: fused >= 2x dense fp32 at 32k, >= 5x dequantize-then-attend. */
export const TARGET_VS_DENSE = 2;
export const TARGET_VS_DEQUANT = 5;

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const fmt = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');

export interface Report {
  machine: Machine;
  memory: MemoryResult;
  decode: DecodeResult[];
  append: AppendResult;
  seconds: number;
  quick: boolean;
  /** 1-minute load average when the run started and ended (the machine is shared). */
  load: { before: number; after: number };
}

export function renderReport(r: Report): string {
  const { machine: m, memory: mem, decode, append } = r;
  const b = mem.bytes;
  const lines: string[] = [];
  lines.push('# Benchmarks');
  lines.push('');
  lines.push(
    'Command: `pnpm bench` (runs `packages/bench`: `tsup && node --max-old-space-size=16384 dist/main.js`).',
  );
  lines.push(
    `Machine: ${m.cpus} CPUs (\`nproc\`), ${m.cpuModel}, ${m.memoryGiB} GiB RAM, Node ${m.node}. Date: ${m.date}. Whole run: ${r.seconds.toFixed(0)} s. Load average (1 min) ${fmt(r.load.before, 1)} at the start, ${fmt(r.load.after, 1)} at the end: the 2 cores were shared with other work, so wall times are inflated; times are CPU time of the benchmark process (\`process.cpuUsage\`, all its threads) unless marked wall, and the contestants of section 2 are interleaved.`,
  );
  lines.push('');
  lines.push(
    `Setup: one Llama-2-7B layer (32 query heads, 32 KV heads, head dim 128, kvHidden 4096); SKVQ K2 V1.5 (ternary, 5 trits/byte), group ${GROUP_SIZE}, fp8 e4m3 scale/zero, window ${WINDOW}, sinks ${SINKS}; synthetic calibration (random permutation, equal groups of ${GROUP_SIZE}, alpha ${ALPHA}); random activations; backend \`createCpuBackend({ threads: SKVQ_BENCH_THREADS ?? 1 })\` (WebAssembly SIMD decode attention, JavaScript elsewhere; onnxruntime-node gets as many intra-op threads).`,
  );
  lines.push('');
  lines.push(`## 1. Memory at ${mem.tokens.toLocaleString('en-US')} tokens`);
  lines.push('');
  lines.push('| part | bytes | MiB |');
  lines.push('| ---- | ----: | --: |');
  for (const key of [
    'codes',
    'metadata',
    'positions',
    'window',
    'sinks',
    'keptFp',
    'permutations',
    'pageSlack',
    'total',
  ] as const) {
    lines.push(`| ${key} | ${b[key].toLocaleString('en-US')} | ${fmt(b[key] / MiB, 1)} |`);
  }
  lines.push('');
  lines.push(
    `- **${fmt(b.bitsPerElement, 4)} bits per element** in total (everything held: codes, scales/zeros, the Int32 position of each token, window, sinks, permutations, page slack), target <= ${TARGET_BITS}: ${b.bitsPerElement <= TARGET_BITS ? 'met' : 'missed'}.`,
  );
  lines.push(
    `- The same tokens at fp16: ${fmt(mem.fp16Bytes / GiB)} GiB (${fmt(mem.fp16Bytes / b.total, 2)}x more); at fp32: ${fmt(mem.fp32Bytes / GiB)} GiB (${fmt(mem.fp32Bytes / b.total, 2)}x more). Both are computed, not allocated: fp32 (and fp16 next to the working set) does not fit in this machine's ${m.memoryGiB} GiB.`,
  );
  lines.push(
    `- Floor of this configuration: K codes 2 bits + V codes 1.6 bits (5 trits per byte) = 1.8 bits, plus fp8 scale and zero per 128 channels = 0.125 bits: 1.925 bits before positions, window and sinks; reaching 1.9 needs larger groups or fewer metadata bits.`,
  );
  lines.push(
    `- One decode step (fused kernel) over all ${mem.tokens.toLocaleString('en-US')} tokens: ${fmt(mem.decodeSeconds, 2)} s CPU (${fmt(mem.decodeWallSeconds, 2)} s wall). Filling took ${fmt(mem.fillSeconds, 1)} CPU seconds in appends of 4096-token prefill chunks (${fmt(mem.prefillTokensPerSecond, 0)} tokens/s).`,
  );
  lines.push('');
  lines.push('## 2. Decode attention (one query; median CPU ms per step, contestants interleaved)');
  lines.push('');
  lines.push(
    '| tokens | reps | fused quantized | dense fp32 (cpuBackend) | dequantize all, then attend | onnxruntime-node dense fp32 | fused vs dense | fused vs dequant-then-attend |',
  );
  lines.push('| -----: | ---: | --: | --: | --: | --: | --: | --: |');
  for (const d of decode) {
    lines.push(
      `| ${d.tokens.toLocaleString('en-US')} | ${d.reps} | ${fmt(d.ms.fused)} | ${fmt(d.ms.dense)} | ${fmt(d.ms.dequantThenAttend)} | ${fmt(d.ms.onnxruntime)} | ${fmt(d.ms.dense / d.ms.fused)}x | ${fmt(d.ms.dequantThenAttend / d.ms.fused)}x |`,
    );
  }
  lines.push('');
  lines.push(
    'Wall-clock medians of the same runs (ms; inflated by the other processes on the machine):',
  );
  lines.push('');
  lines.push('| tokens | fused | dense fp32 | dequantize, then attend | onnxruntime-node |');
  lines.push('| -----: | --: | --: | --: | --: |');
  for (const d of decode) {
    lines.push(
      `| ${d.tokens.toLocaleString('en-US')} | ${fmt(d.wallMs.fused)} | ${fmt(d.wallMs.dense)} | ${fmt(d.wallMs.dequantThenAttend)} | ${fmt(d.wallMs.onnxruntime)} |`,
    );
  }
  lines.push('');
  const at32 = decode.find((d) => d.tokens === 32768) ?? decode[decode.length - 1]!;
  lines.push(
    `- Targets at ${at32.tokens.toLocaleString('en-US')} tokens: fused vs dense fp32 >= ${TARGET_VS_DENSE}x: ${fmt(at32.ms.dense / at32.ms.fused)}x (${at32.ms.dense / at32.ms.fused >= TARGET_VS_DENSE ? 'met' : 'missed'}); fused vs dequantize-then-attend >= ${TARGET_VS_DEQUANT}x: ${fmt(at32.ms.dequantThenAttend / at32.ms.fused)}x (${at32.ms.dequantThenAttend / at32.ms.fused >= TARGET_VS_DEQUANT ? 'met' : 'missed'}).`,
  );
  lines.push(
    '- Dense fp32 (cpuBackend): keys stored after RoPE, one fp32 segment. Dequantize-then-attend: the `dequantize` kernel rebuilds every page into one fp32 buffer each step (Hugging Face `QuantizedCache` style), then the dense kernel attends. onnxruntime-node: a MatMul-Softmax-MatMul graph built in code (`src/onnx-attention.ts`), keys laid out as [heads, headDim, n] and values as [heads, n, headDim] ahead of time, one intra-op thread like the JavaScript kernels, CPU execution provider.',
  );
  lines.push(
    `- Sanity: max |fused - dequantize-then-attend| = ${decode.map((d) => d.fusedVsDequant.toExponential(1)).join(', ')}; max |dense - onnxruntime| = ${decode.map((d) => (Number.isNaN(d.denseVsOnnx) ? 'n/a' : d.denseVsOnnx.toExponential(1))).join(', ')}.`,
  );
  const profiled = decode.find((d) => d.profile !== undefined);
  if (profiled?.profile) {
    lines.push(
      `- Where the fused kernel's time goes at ${profiled.tokens.toLocaleString('en-US')} tokens (V8 CPU profile of 2 decode steps, self time, as \`node --cpu-prof\` records it):`,
    );
    lines.push('');
    lines.push('  | function (built file:line) | code at that line | ms | share |');
    lines.push('  | -------------------------- | ----------------- | -: | ----: |');
    for (const e of profiled.profile) {
      const code = e.code.replaceAll('|', '\\|').replaceAll('`', "'");
      const shown = code === '' ? '' : `\`${code}\``;
      lines.push(`  | \`${e.fn}\` | ${shown} | ${fmt(e.ms, 0)} | ${fmt(100 * e.share, 1)}% |`);
    }
    lines.push('');
  }
  const onnxError = decode.find((d) => d.onnxError)?.onnxError;
  if (onnxError) lines.push(`- onnxruntime-node could not run here: ${onnxError}`);
  lines.push('');
  lines.push('## 3. Quantize-and-append throughput');
  lines.push('');
  lines.push('| append | tokens | tokens per CPU second |');
  lines.push('| ------ | -----: | -------: |');
  lines.push(
    `| prefill chunks of 4096 (the ${mem.tokens.toLocaleString('en-US')}-token fill of section 1) | ${mem.tokens.toLocaleString('en-US')} | ${fmt(mem.prefillTokensPerSecond, 0)} |`,
  );
  lines.push(
    `| single-token decode appends (cache holding ${append.startTokens.toLocaleString('en-US')} tokens) | ${append.decodeAppends.toLocaleString('en-US')} | ${fmt(append.decodeTokensPerSecond, 0)} |`,
  );
  lines.push('');
  lines.push(
    'Append includes input validation (finite check), the policy decision, the copy into the window and the quantize kernel (gather by permutation, clip, fp8 scale/zero, pack) of the tokens that leave the window.',
  );
  lines.push('');
  return lines.join('\n');
}
