#!/usr/bin/env node
import { DEFAULT_KINDS, KINDS } from './kinds.mjs';
import { FAILURES, runFuzz, totals } from './run.mjs';

/**
 * `pnpm fuzz [--seed N] [--cases N] [--kinds a,b] [--json]` (or FUZZ_SEED / FUZZ_CASES):
 * the long fuzz run for before a release. Prints cases per input kind, errors by code,
 * failures by kind (crashes, hangs, untyped exceptions, oversized allocations, inconsistent
 * caches) and time. Exits 1 when any kind has a failure.
 */

function arg(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
}

const seed = Number(arg('seed', process.env.FUZZ_SEED ?? Date.now() % 1e9));
const cases = Number(arg('cases', process.env.FUZZ_CASES ?? 2000));
const kinds = arg('kinds', DEFAULT_KINDS.join(',')).split(',');
for (const k of kinds) {
  if (!KINDS[k]) {
    console.error(`unknown kind ${k}; kinds: ${Object.keys(KINDS).join(', ')}`);
    process.exit(2);
  }
}
if (!Number.isInteger(seed) || !Number.isInteger(cases) || cases <= 0) {
  console.error('--seed and --cases take integers (--cases > 0)');
  process.exit(2);
}

console.log(`skvq fuzz: seed ${seed}, ${cases} cases per kind, kinds ${kinds.join(', ')}`);
const report = await runFuzz({
  kinds,
  seed,
  cases,
  onBatch: (kind, done) => process.stderr.write(`  ${kind}: ${done}/${cases}\r`),
});
process.stderr.write('\n');

if (process.argv.includes('--json')) {
  console.log(JSON.stringify(report, null, 1));
} else {
  const cols = ['cases', 'ok', ...FAILURES, 'skipped', 'slowestMs', 'ms'];
  console.log(['kind'.padEnd(15), ...cols.map((c) => c.padStart(12))].join(''));
  for (const k of kinds) {
    const r = report.kinds[k];
    console.log([k.padEnd(15), ...cols.map((c) => String(r[c]).padStart(12))].join(''));
  }
  console.log('\nerrors by code:');
  for (const k of kinds) {
    const codes = Object.entries(report.kinds[k].codes).sort((a, b) => b[1] - a[1]);
    console.log(`  ${k}: ${codes.map(([c, n]) => `${c} ${n}`).join(', ') || '(none)'}`);
  }
  for (const k of kinds) {
    const r = report.kinds[k];
    if (r.samples.length === 0) continue;
    console.log(`\n${k} failures:`);
    for (const s of r.samples) console.log(`  case ${s.case} ${s.outcome}: ${s.detail ?? ''}`);
  }
  const t = totals(report);
  console.log(
    `\ntotal: ${t.cases} cases in ${(report.ms / 1000).toFixed(1)} s; ${FAILURES.map((f) => `${f} ${t[f]}`).join(', ')}`,
  );
  console.log(`replay: pnpm fuzz --seed ${seed} --cases ${cases} --kinds ${kinds.join(',')}`);
}
const failed = FAILURES.some((f) => totals(report, kinds)[f] > 0);
process.exit(failed ? 1 : 0);
