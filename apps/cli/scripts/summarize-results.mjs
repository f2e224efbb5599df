#!/usr/bin/env node
// Prints Markdown tables of every docs/results/*/results.json (and the synthetic and
// llama.cpp runs) plus the best configuration under real-bit budgets. Used to write
// docs/results/README.md: `node apps/cli/scripts/summarize-results.mjs docs/results`.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = process.argv[2] ?? 'docs/results';
const f = (x, d) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const mean = (a) => a.reduce((s, x) => s + x, 0) / a.length;
const cfg = (r) =>
  r.method.startsWith('fp') ? '-' : `w${r.window} s${r.sinks} g${r.groupSize} ${r.meta}`;

const all = [];
for (const dir of readdirSync(root).sort()) {
  const file = join(root, dir, 'results.json');
  if (!existsSync(file)) continue;
  const data = JSON.parse(readFileSync(file, 'utf8'));
  console.log(`\n### ${dir} (${data.stories} stories)\n\n\`${data.command}\`\n`);
  console.log(
    '| method | config | ppl | delta vs fp32 | avg bits | alloc bits | bytes/token | attn err (mean of layers) |',
  );
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of data.rows) {
    console.log(
      `| ${r.method} | ${cfg(r)} | ${f(r.ppl, 4)} | ${r.deltaPct >= 0 ? '+' : ''}${f(r.deltaPct, 2)}% | ${f(r.avgBits, 3)} | ${f(r.avgBitsAllocated, 3)} | ${f(r.bytesPerToken, 1)} | ${f(mean(r.attentionError), 4)} |`,
    );
    all.push({ ...r, set: dir, stories: data.stories });
  }
}

// Winners under real-bit budgets, per evaluation set (rows are comparable only on the same stories).
const sets = [...new Set(all.map((r) => r.set))];
console.log('\n### Best (lowest perplexity) configuration under a real-bit budget\n');
console.log('| set | budget (avg bits <=) | best | ppl | avg bits | runner-up | ppl | avg bits |');
console.log('| --- | ---: | --- | ---: | ---: | --- | ---: | ---: |');
for (const set of sets) {
  const rows = all.filter((r) => r.set === set && !r.method.startsWith('fp'));
  for (const budget of [6, 7, 8, 9, 10]) {
    const fit = rows.filter((r) => r.avgBits <= budget).sort((a, b) => a.ppl - b.ppl);
    if (fit.length === 0) continue;
    const [a, b] = fit;
    console.log(
      `| ${set} | ${budget} | ${a.method} ${cfg(a)} | ${f(a.ppl, 3)} | ${f(a.avgBits, 2)} | ${b ? `${b.method} ${cfg(b)}` : '-'} | ${b ? f(b.ppl, 3) : ''} | ${b ? f(b.avgBits, 2) : ''} |`,
    );
  }
}

const synth = join(root, 'synthetic-7b-layer', 'synthetic.json');
if (existsSync(synth)) {
  const data = JSON.parse(readFileSync(synth, 'utf8'));
  console.log(
    `\n### synthetic Llama-2-7B layer (${data.tokens} tokens, group ${data.groupSize}, ${data.meta})\n\n\`${data.command}\`\n`,
  );
  console.log('| method | avg bits | attention-output error |');
  console.log('| --- | ---: | ---: |');
  for (const r of data.rows) console.log(`| ${r.method} | ${f(r.bits, 3)} | ${f(r.error, 4)} |`);
  console.log('\n| budget (avg bits <=) | best | error | avg bits |\n| ---: | --- | ---: | ---: |');
  for (const budget of [2.5, 3, 4, 5]) {
    const fit = data.rows.filter((r) => r.bits <= budget).sort((a, b) => a.error - b.error);
    if (fit[0])
      console.log(
        `| ${budget} | ${fit[0].method} | ${f(fit[0].error, 4)} | ${f(fit[0].bits, 3)} |`,
      );
  }
}

for (const dir of readdirSync(root)
  .filter((d) => d.startsWith('llamacpp'))
  .sort()) {
  const peer = join(root, dir, 'llamacpp.json');
  if (!existsSync(peer)) continue;
  const data = JSON.parse(readFileSync(peer, 'utf8'));
  console.log(
    `\n### ${dir}: llama.cpp (${data.version}), ${data.stories} stories, same token ids\n\n\`${data.command}\`\n`,
  );
  console.log('| KV cache | bits/element | ppl | what happened |');
  console.log('| --- | ---: | ---: | --- |');
  for (const r of data.rows) {
    console.log(
      `| ${r.config} | ${f(r.bitsPerElement, 2)} | ${r.ppl === undefined ? 'n/a' : f(r.ppl, 4)} | ${r.status} |`,
    );
  }
}
