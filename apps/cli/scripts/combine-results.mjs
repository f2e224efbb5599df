#!/usr/bin/env node
// Combines the rows of several `skvq eval --out` folders measured under the same protocol on
// the same stories into one results folder (results.json/csv and the two plots, written by
// the CLI's own writeResults), so one table and one Pareto frontier cover runs that had to
// be split (one --meta per run, runs kept short on a shared machine). Rows are copied as
// measured, never recomputed; a method/configuration present in two folders keeps the later
// folder's row.
//   node apps/cli/scripts/combine-results.mjs --out docs/results/decode-200 DIR [DIR...]
// Needs `pnpm --filter @skvq/cli build`.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { configLabel, writeResults } from '../dist/index.js';

const { values, positionals } = parseArgs({
  options: { out: { type: 'string' }, 'no-png': { type: 'boolean' } },
  allowPositionals: true,
});
if (!values.out || positionals.length === 0) {
  console.error('usage: combine-results.mjs --out DIR SOURCE_DIR [SOURCE_DIR...]');
  process.exit(2);
}

const runs = positionals.map((dir) => {
  const file = join(dir, 'results.json');
  if (!existsSync(file)) throw new Error(`${file} does not exist (not an eval --out folder)`);
  return { dir, data: JSON.parse(readFileSync(file, 'utf8')) };
});
const first = runs[0].data;
for (const { dir, data } of runs) {
  // different stories, protocols or models would make one frontier meaningless
  for (const key of ['protocol', 'stories', 'text', 'fpPrecision', 'pageTokens']) {
    if (JSON.stringify(data[key]) !== JSON.stringify(first[key]))
      throw new Error(`${dir}: ${key} ${data[key]} differs from ${runs[0].dir}'s ${first[key]}`);
  }
  if (data.model?.fingerprint !== first.model?.fingerprint)
    throw new Error(`${dir}: another model than ${runs[0].dir}`);
}

const key = (r) => `${r.method} ${r.method.startsWith('fp') ? '' : configLabel(r)}`;
const byKey = new Map();
for (const { data } of runs) for (const r of data.rows) byKey.set(key(r), r);
const rows = [...byKey.values()];

const files = await writeResults(
  values.out,
  rows,
  {
    command: runs.map(({ data }) => data.command).join(' ; '),
    combinedFrom: runs.map(({ dir, data }) => ({
      dir,
      command: data.command,
      date: data.date,
      complete: data.complete,
    })),
    date: runs
      .map(({ data }) => data.date)
      .sort()
      .at(-1),
    model: first.model,
    geometry: first.geometry,
    text: first.text,
    stories: first.stories,
    calibration: first.calibration,
    protocol: first.protocol,
    protocolNote: first.protocolNote,
    fpPrecision: first.fpPrecision,
    pageTokens: first.pageTokens,
    bitsNote: first.bitsNote,
    complete: runs.every(({ data }) => data.complete !== false),
  },
  values['no-png'] !== true,
);
for (const f of files) console.log(`wrote ${f}`);
