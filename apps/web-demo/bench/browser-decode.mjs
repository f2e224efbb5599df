// Browser half of the decode benchmark (issue 8): builds this app, serves it and opens
// bench.html in the system Chromium, headless, with the flags of the browser tests (WebGPU
// through SwiftShader, WebGL2 through ANGLE/SwiftShader), then prints the page's results as
// a markdown table. Not a vitest test: benchmarks are printed, never asserted.
//
//   pnpm --filter @skvq/web-demo bench
//
// Environment (the names decode.bench.ts of @skvq/backend-gpujs uses, where they exist):
//   SKVQ_BENCH_LENGTHS       tokens, comma separated (default 4096,32768)
//   SKVQ_BENCH_REPS          timed rounds after one warm-up round (default 3)
//   SKVQ_BENCH_CONTESTANTS   cpu,gpujs,webgpu (default all; cpu always runs: ratios are to it)
//   SKVQ_BENCH_MAX_STEP_MS   a contestant slower than this per step is not timed at that
//                            length (default 120000: two minutes)
//   SKVQ_BENCH_TIMEOUT_S     give up after this long (default 1200)
//   SKVQ_CHROMIUM            the browser (default /usr/bin/chromium)
import { arch, cpus, release, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { runnerImport } from 'vite';

const POLL_MS = 2000;
const timeoutS = Number(process.env.SKVQ_BENCH_TIMEOUT_S ?? '1200');

/** The page's query, from the environment; the page validates it (a typo fails, never skips). */
function pageQuery() {
  const query = new URLSearchParams();
  const pairs = [
    ['lengths', 'SKVQ_BENCH_LENGTHS'],
    ['reps', 'SKVQ_BENCH_REPS'],
    ['contestants', 'SKVQ_BENCH_CONTESTANTS'],
    ['maxStepMs', 'SKVQ_BENCH_MAX_STEP_MS'],
  ];
  for (const [param, env] of pairs) if (process.env[env]) query.set(param, process.env[env]);
  return query.toString();
}

function table(report) {
  const lines = [
    '| tokens | contestant | ms per step | ratio to the CPU backend |',
    '| ---: | --- | ---: | ---: |',
  ];
  for (const row of report.rows) {
    const ms = row.ms === undefined ? `not timed: ${row.skipped}` : row.ms.toFixed(1);
    const ratio = row.ratio === undefined ? '-' : row.ratio.toFixed(3);
    lines.push(`| ${row.tokens} | ${row.contestant} | ${ms} | ${ratio} |`);
  }
  return lines.join('\n');
}

// The browser tests' harness (TypeScript) through Vite's module runner: the same build,
// preview server, Chromium path and flags as the tests, defined once.
const harnessFile = fileURLToPath(new URL('../test/harness.ts', import.meta.url));
const { module: harness } = await runnerImport(harnessFile, {
  configFile: false,
  logLevel: 'error',
});
const missing = harness.chromiumMissing();
if (missing !== undefined) {
  // As the browser tests: skipped with the reason, a failure where CI requires the browser
  // (the root `pnpm bench` runs this on machines without Chromium too).
  console.error(`browser decode bench: not run: ${missing}`);
  process.exit(harness.requireCiFeatures ? 1 : 0);
}

console.error('building the app and starting Chromium…');
const session = await harness.openSession();
let report;
try {
  const version = session.browser.version();
  const url = `${session.url}/bench.html?${pageQuery()}`;
  console.error(`Chromium ${version}: ${url}`);
  await session.page.goto(url);
  const deadline = Date.now() + timeoutS * 1000;
  let printed = 0;
  for (;;) {
    report = await session.page.evaluate(() => window.__skvqBench);
    for (const line of report?.log.slice(printed) ?? []) console.error(`  ${line}`);
    printed = report?.log.length ?? printed;
    if (report !== undefined && report.status !== 'running') break;
    if (Date.now() > deadline) throw new Error(`bench.html still running after ${timeoutS} s`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  if (report.status !== 'done') throw new Error(`bench.html: ${report.status}: ${report.reason}`);

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log('Decode step, 7B layer (32 heads x 128), SKVQ K2/V1.5 pages, in headless Chromium');
  console.log(`(median of ${report.params.reps} interleaved rounds after one warm-up round)\n`);
  console.log(table(report));
  console.log('');
  console.log(
    `- machine: ${cpu}, ${cpus().length} cores (${report.hardwareConcurrency} seen by the page), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Linux ${release()} ${arch()}`,
  );
  console.log(`- browser: Chromium ${version} (headless; ${report.userAgent})`);
  console.log(
    `- WebAssembly SIMD: ${report.wasmSimd ? 'yes' : 'no'}; WebGL2 renderer: ${report.webgl2Renderer}; WebGPU adapter: ${report.adapter ?? 'none'}`,
  );
  for (const d of report.details) console.log(`- ${d.contestant}: ${d.detail}`);
  for (const u of report.unavailable) console.log(`- ${u.contestant}: not measured (${u.reason})`);
  const errors = report.rows
    .filter((row) => row.relativeErrorToCpu !== undefined)
    .map((row) => `${row.contestant} ${row.tokens}: ${row.relativeErrorToCpu.toExponential(1)}`);
  if (errors.length > 0) {
    console.log(`- outputs against the CPU backend's (max relative error): ${errors.join('; ')}`);
  }
  for (const row of report.rows) {
    if (row.relativeErrorToCpu !== undefined && !(row.relativeErrorToCpu <= report.tolerance)) {
      console.log(
        `- WARNING: ${row.contestant} at ${row.tokens} tokens differs from the CPU backend by ${row.relativeErrorToCpu} (tolerance ${report.tolerance})`,
      );
    }
  }
} finally {
  await session.close();
}
