import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SkvqError } from '@skvq/core';
import { parseCommandArgs } from '../args.js';
import { COMMON_HELP, type CommandContext } from '../context.js';

export const BENCH_HELP = `skvq bench: run the benchmark suite (@skvq/bench)

Usage: skvq bench [--quick] [--dry-run]

Runs \`pnpm --filter @skvq/bench bench\` in the repository: memory of a Llama-2-7B layer at
1M tokens, decode attention at 4k/32k/128k, append throughput; writes BENCHMARKS.md at the
repository root. Needs the repository checkout (the suite is not part of the CLI bundle).

Options:
      --quick           tiny sizes (SKVQ_BENCH_QUICK=1): a smoke test; writes nothing
      --dry-run         print the command instead of running it
${COMMON_HELP}
`;

export const BENCH_OPTIONS = {
  quick: { type: 'boolean' },
  'dry-run': { type: 'boolean' },
} as const;

function findRepoRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
  return undefined;
}

export async function benchCommand(ctx: CommandContext, argv: readonly string[]): Promise<number> {
  const { values } = parseCommandArgs('bench', argv, BENCH_OPTIONS);
  if (values.help) {
    ctx.io.stdout(BENCH_HELP);
    return 0;
  }
  const root = findRepoRoot();
  if (!root || !existsSync(join(root, 'packages', 'bench', 'package.json'))) {
    throw new SkvqError(
      'IO_ERROR',
      'the benchmark suite (packages/bench) was not found: run skvq bench from a checkout of the skvq repository',
    );
  }
  const args = ['--filter', '@skvq/bench', 'bench'];
  const env = { ...process.env, ...(values.quick ? { SKVQ_BENCH_QUICK: '1' } : {}) };
  const line = `${values.quick ? 'SKVQ_BENCH_QUICK=1 ' : ''}pnpm ${args.join(' ')}  (in ${root})`;
  if (values['dry-run']) {
    ctx.io.stdout(values.json ? `${JSON.stringify({ command: line })}\n` : `${line}\n`);
    return 0;
  }
  ctx.io.stderr(`running ${line}\n`);
  return new Promise((resolvePromise, reject) => {
    const child = spawn('pnpm', args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => ctx.io.stdout(d.toString()));
    child.stderr.on('data', (d: Buffer) => ctx.io.stderr(d.toString()));
    child.on('error', (error) =>
      reject(new SkvqError('IO_ERROR', `could not start pnpm: ${error.message}`)),
    );
    child.on('close', (code) => resolvePromise(code === 0 ? 0 : 1));
  });
}
