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

/** Rows not beaten by another row with fewer or equal codes+metadata bits and lower perplexity. */
function frontier(rows) {
  const ok = rows.filter((r) => Number.isFinite(r.codesMetaBits) && Number.isFinite(r.ppl));
  const sorted = [...ok].sort((a, b) => a.codesMetaBits - b.codesMetaBits || a.ppl - b.ppl);
  const out = [];
  let best = Number.POSITIVE_INFINITY;
  for (const r of sorted) {
    if (r.ppl < best) {
      out.push(r);
      best = r.ppl;
    }
  }
  return out;
}
for (const dir of readdirSync(root).sort()) {
  const file = join(root, dir, 'results.json');
  if (!existsSync(file)) continue;
  const data = JSON.parse(readFileSync(file, 'utf8'));
  // runs from before the protocols were named used the prefill protocol
  const protocol = data.protocol ?? 'prefill';
  const partial = data.complete === false ? ', partial: the run was stopped' : '';
  // a folder written by combine-results.mjs names its runs; their commands are in results.json
  const how = data.combinedFrom
    ? `combined by \`combine-results.mjs\` from ${data.combinedFrom.map((r) => `\`${r.dir.replace(/^docs\/results\//, '')}\``).join(', ')} (each run's command in \`results.json\` and \`runs/<name>.txt\`)`
    : `\`${data.command}\``;
  console.log(`\n### ${dir} (${data.stories} stories, ${protocol} protocol${partial})\n\n${how}\n`);
  console.log(
    '| method | config | ppl | delta vs fp32 | codes+meta bits | overhead bits | avg bits | alloc bits | bytes/token | attn err (mean of layers) |',
  );
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const front = new Set(frontier(data.rows));
  for (const r of data.rows) {
    const name = front.has(r) ? `**${r.method}**` : r.method;
    console.log(
      `| ${name} | ${cfg(r)} | ${f(r.ppl, 4)} | ${r.deltaPct >= 0 ? '+' : ''}${f(r.deltaPct, 2)}% | ${f(r.codesMetaBits, 3)} | ${f(r.overheadBits, 3)} | ${f(r.avgBits, 3)} | ${f(r.avgBitsAllocated, 3)} | ${f(r.bytesPerToken, 1)} | ${f(mean(r.attentionError), 4)} |`,
    );
    all.push({ ...r, set: dir, stories: data.stories });
  }
  if (data.rows.some((r) => r.codesMetaBits !== undefined))
    console.log('\nBold: on the Pareto frontier of perplexity against codes+metadata bits.');
}

// Winners under codes+metadata budgets (what grows with context), per evaluation set.
const sets = [...new Set(all.map((r) => r.set))];
console.log('\n### Best (lowest perplexity) configuration under a codes+metadata-bit budget\n');
console.log(
  '| set | budget (codes+meta bits <=) | best | ppl | codes+meta bits | runner-up | ppl | codes+meta bits |',
);
console.log('| --- | ---: | --- | ---: | ---: | --- | ---: | ---: |');
for (const set of sets) {
  const rows = all.filter(
    (r) => r.set === set && !r.method.startsWith('fp') && Number.isFinite(r.codesMetaBits),
  );
  for (const budget of [2.5, 3, 3.5, 4, 4.5, 5, 6]) {
    const fit = rows.filter((r) => r.codesMetaBits <= budget).sort((a, b) => a.ppl - b.ppl);
    if (fit.length === 0) continue;
    const [a, b] = fit;
    console.log(
      `| ${set} | ${budget} | ${a.method} ${cfg(a)} | ${f(a.ppl, 4)} | ${f(a.codesMetaBits, 2)} | ${b ? `${b.method} ${cfg(b)}` : '-'} | ${b ? f(b.ppl, 4) : ''} | ${b ? f(b.codesMetaBits, 2) : ''} |`,
    );
  }
}
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
