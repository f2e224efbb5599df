import { benchCommand } from './commands/bench.js';
import { calibrateCommand } from './commands/calibrate.js';
import { demoCommand } from './commands/demo.js';
import { evalCommand } from './commands/eval.js';
import { generateCommand } from './commands/generate.js';
import { inspectCommand } from './commands/inspect.js';
import { llamacppCommand } from './commands/llamacpp.js';
import { needleCommand } from './commands/needle.js';
import { syntheticCommand } from './commands/synthetic.js';
import { type CommandContext, createContext } from './context.js';
import type { DownloadOptions } from './download.js';
import { EXIT_OK, formatError, UsageError } from './errors.js';
import { type CliIo, processIo } from './io.js';

export const VERSION = '0.0.0';

type Command = (ctx: CommandContext, argv: readonly string[]) => Promise<number>;

export const COMMANDS: Record<string, { run: Command; summary: string }> = {
  calibrate: {
    run: calibrateCommand,
    summary: 'fit channel reordering + clip ratios; write a calibration artifact',
  },
  eval: {
    run: evalCommand,
    summary: 'perplexity, real average bits, attention error of KV-cache methods',
  },
  generate: {
    run: generateCommand,
    summary: 'stream text with a chosen cache; tokens/s and memory vs fp16',
  },
  bench: { run: benchCommand, summary: 'run the benchmark suite (@skvq/bench)' },
  inspect: {
    run: inspectCommand,
    summary: 'describe a model, a calibration artifact or a saved cache',
  },
  synthetic: {
    run: syntheticCommand,
    summary: 'bits/error frontier on synthetic K/V of a Llama-2-7B layer (group 128)',
  },
  llamacpp: {
    run: llamacppCommand,
    summary: 'the same token ids through llama.cpp (node-llama-cpp) KV cache types',
  },
  needle: {
    run: needleCommand,
    summary: 'long-context retrieval: a planted key vs 2-bit caches at 4k..1M tokens',
  },
  demo: {
    run: demoCommand,
    summary: 'calibrate, evaluate and generate on stories260K in about a minute',
  },
};

export const MAIN_HELP = `skvq: KV-cache quantization with SKVQ (sliding window + channel reordering + clipping)

Usage: skvq <command> [options]      skvq <command> --help

Commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`)
  .join('\n')}

The default model is stories260K (llama2.c), found in $SKVQ_ASSETS/models, ../shared/models
or the user cache ($XDG_CACHE_HOME/skvq or ~/.cache/skvq), else downloaded and verified.

Exit codes: 0 ok, 1 runtime error (a message and a hint), 2 usage error.
Options on every command: --help, --json (machine output on stdout), --quiet.
`;

export interface MainOptions {
  io?: CliIo;
  /** Where the default model is downloaded from (tests use a local server). */
  downloadOptions?: DownloadOptions;
}

/**
 * Runs `skvq` with `argv` (without node and the script) and returns the exit code; output
 * goes to `options.io` (the process by default). Never throws, never calls process.exit.
 */
export async function main(argv: readonly string[], options: MainOptions = {}): Promise<number> {
  const io = options.io ?? processIo();
  try {
    const [name, ...rest] = argv;
    if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
      if (name === 'help' && rest[0] && COMMANDS[rest[0]])
        return await COMMANDS[rest[0]]!.run(createContext(io), ['--help']);
      io.stdout(MAIN_HELP);
      return name === undefined ? 2 : EXIT_OK;
    }
    if (name === '--version' || name === '-v') {
      io.stdout(`${VERSION}\n`);
      return EXIT_OK;
    }
    const command = COMMANDS[name];
    if (!command) {
      throw new UsageError(
        `unknown command "${name}"; expected one of ${Object.keys(COMMANDS).join(', ')}`,
      );
    }
    const ctx = createContext(io, options.downloadOptions);
    try {
      return await command.run(ctx, rest);
    } finally {
      await ctx.registry.dispose();
    }
  } catch (error) {
    const { text, exitCode } = formatError(error);
    io.stderr(text);
    return exitCode;
  }
}
