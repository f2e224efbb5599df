#!/usr/bin/env node
// Runs the root vitest configuration (every package's project), then prints one plain
// closing line `vitest: N passed, N failed, N skipped` that CI systems can read, and exits
// with vitest's exit code. Extra arguments are passed to vitest.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outDir = join(root, 'node_modules', '.cache', 'skvq');
const outFile = join(outDir, 'vitest-results.json');
mkdirSync(outDir, { recursive: true });
rmSync(outFile, { force: true });

const vitest = join(root, 'node_modules', 'vitest', 'vitest.mjs');
const result = spawnSync(
  process.execPath,
  [
    vitest,
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${outFile}`,
    ...process.argv.slice(2),
  ],
  { cwd: root, stdio: 'inherit' },
);

if (existsSync(outFile)) {
  const report = JSON.parse(readFileSync(outFile, 'utf8'));
  const skipped = (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
  console.log(
    `vitest: ${report.numPassedTests} passed, ${report.numFailedTests} failed, ${skipped} skipped`,
  );
} else {
  console.log('vitest: no results were written (see the output above)');
}
process.exit(result.status ?? 1);
