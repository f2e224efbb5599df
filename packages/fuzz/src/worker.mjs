import { closeSync, openSync, writeSync } from 'node:fs';
import fc from 'fast-check';
import { installAllocationGuard, meter, resetMeter } from './alloc-guard.mjs';

/**
 * One batch of fuzz cases in a child process: argv[2] is JSON { kind, seed, from, to,
 * progress }. Before each case it writes {"s": i} to the progress file and after it
 * {"i": i, "o": outcome, ...}, synchronously, so that the parent can name the case that
 * was running when this process crashed or hung.
 */

installAllocationGuard();
const { isSkvqError } = await import('@skvq/core');
const { KINDS } = await import('./kinds.mjs');

const { kind: kindName, seed, from, to, progress } = JSON.parse(process.argv[2]);
const kind = KINDS[kindName];
const fd = openSync(progress, 'a');
const line = (o) => writeSync(fd, `${JSON.stringify(o)}\n`);

/** Bytes a case may allocate in all: a small multiple of its input, at least 64 MiB. */
const budget = (inputBytes) => Math.max(64 * 1024 * 1024, 64 * inputBytes);

/** A per-case seed mixing the run seed, the kind and the case index. */
function caseSeed(index) {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const c of `${kindName}:${index}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193) >>> 0;
  return h | 0;
}

for (let index = from; index < to; index++) {
  line({ s: index });
  const [value] = fc.sample(kind.arbitrary, { seed: caseSeed(index), numRuns: 1 });
  let input;
  try {
    input = kind.prepare(value);
  } catch (error) {
    line({ i: index, o: 'skip', d: `prepare: ${String(error?.message).slice(0, 120)}` });
    continue;
  }
  const inputBytes = kind.inputBytes ? kind.inputBytes(input) : input.length;
  resetMeter();
  const started = performance.now();
  let outcome;
  let detail;
  try {
    const broken = await kind.run(input, value, index);
    outcome = broken === undefined ? 'ok' : 'inconsistent';
    detail = broken;
  } catch (error) {
    if (isSkvqError(error)) outcome = `code:${error.code}`;
    else {
      outcome = 'untyped';
      detail = `${error?.name}: ${String(error?.message).slice(0, 200)}`;
    }
  }
  if (meter.refused > 0 || meter.total > budget(inputBytes)) {
    detail = `allocated ${meter.refused || meter.total} bytes for an input of ${inputBytes} (was: ${outcome})`;
    outcome = 'oversized';
  }
  line({ i: index, o: outcome, d: detail, ms: Math.round(performance.now() - started) });
}
closeSync(fd);
