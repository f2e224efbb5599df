import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'worker.mjs');
/** A child's start (importing the packages) is not a case: it gets its own, longer limit. */
const STARTUP_MS = 60_000;

/** Outcomes that fail a run (everything but a typed error, an accepted input or a skip). */
export const FAILURES = ['crash', 'hang', 'untyped', 'oversized', 'inconsistent'];

/**
 * Runs `cases` fuzz cases of each kind in child processes (`batch` cases per child,
 * `--max-old-space-size` capped). A child that dies is a crash of the case it had started;
 * one whose progress stalls for `caseTimeoutMs` is killed and that case is a hang; the run
 * resumes at the next case. Returns per-kind counts, error codes and failure samples.
 */
export async function runFuzz({
  kinds,
  seed = 1,
  cases = 200,
  batch = 250,
  caseTimeoutMs = 10_000,
  maxOldSpaceMb = 1024,
  onBatch,
}) {
  const dir = mkdtempSync(join(tmpdir(), 'skvq-fuzz-run-'));
  const report = { seed, cases, kinds: {} };
  const started = performance.now();
  try {
    for (const kind of kinds) {
      const r = {
        cases: 0,
        ok: 0,
        skipped: 0,
        codes: {},
        crash: 0,
        hang: 0,
        untyped: 0,
        oversized: 0,
        inconsistent: 0,
        slowestMs: 0,
        samples: [],
        ms: 0,
      };
      const kindStart = performance.now();
      let next = 0;
      let child = 0;
      while (next < cases) {
        const to = Math.min(cases, next + batch);
        const progress = join(dir, `${kind}-${child++}.jsonl`);
        const exit = await runChild(
          { kind, seed, from: next, to, progress },
          caseTimeoutMs,
          maxOldSpaceMb,
        );
        const lines = readLines(progress);
        let running;
        for (const l of lines) {
          if (l.s !== undefined) {
            running = l.s;
            continue;
          }
          running = undefined;
          next = l.i + 1;
          r.cases++;
          r.slowestMs = Math.max(r.slowestMs, l.ms ?? 0);
          if (l.o === 'ok') r.ok++;
          else if (l.o === 'skip') r.skipped++;
          else if (l.o.startsWith('code:')) {
            const code = l.o.slice(5);
            r.codes[code] = (r.codes[code] ?? 0) + 1;
          } else {
            r[l.o]++;
            if (r.samples.length < 8) r.samples.push({ case: l.i, outcome: l.o, detail: l.d });
          }
        }
        if (exit.code !== 0 || exit.signal !== null || exit.timedOut) {
          const outcome = exit.timedOut ? 'hang' : 'crash';
          const index = running ?? next;
          r.cases++;
          r[outcome]++;
          if (r.samples.length < 8) {
            r.samples.push({
              case: index,
              outcome,
              detail: exit.timedOut
                ? `no progress for ${caseTimeoutMs} ms`
                : `exit ${exit.code} signal ${exit.signal}: ${exit.stderr.slice(-300)}`,
            });
          }
          next = index + 1;
        } else next = Math.max(next, to);
        onBatch?.(kind, next);
      }
      r.ms = Math.round(performance.now() - kindStart);
      report.kinds[kind] = r;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  report.ms = Math.round(performance.now() - started);
  return report;
}

function readLines(path) {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const out = [];
  for (const raw of text.split('\n')) {
    if (raw.length === 0) continue;
    try {
      out.push(JSON.parse(raw));
    } catch {
      // a line cut short by a crash
    }
  }
  return out;
}

function runChild(args, caseTimeoutMs, maxOldSpaceMb) {
  return new Promise((resolve) => {
    const proc = spawn(
      process.execPath,
      [`--max-old-space-size=${maxOldSpaceMb}`, WORKER, JSON.stringify(args)],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    proc.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-4000);
    });
    // a hang: the progress file stops growing for caseTimeoutMs
    let size = -1;
    let lastChange = performance.now();
    let timedOut = false;
    const timer = setInterval(() => {
      let now = -1;
      try {
        now = statSync(args.progress).size;
      } catch {}
      if (now !== size) {
        size = now;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > (size > 0 ? caseTimeoutMs : STARTUP_MS)) {
        timedOut = true;
        proc.kill('SIGKILL');
      }
    }, 100);
    proc.on('exit', (code, signal) => {
      clearInterval(timer);
      resolve({ code, signal, timedOut, stderr });
    });
  });
}

/** Totals over the kinds of a report. */
export function totals(report, kinds = Object.keys(report.kinds)) {
  const t = {
    cases: 0,
    ok: 0,
    skipped: 0,
    crash: 0,
    hang: 0,
    untyped: 0,
    oversized: 0,
    inconsistent: 0,
  };
  for (const k of kinds) {
    const r = report.kinds[k];
    if (!r) continue;
    for (const key of Object.keys(t)) t[key] += r[key];
  }
  return t;
}
