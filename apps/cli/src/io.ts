/**
 * Where a command writes. The bin wires it to the process; tests pass buffers, so every
 * command runs in-process with its output captured.
 */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** True when stderr is an interactive terminal (progress bars are drawn only then). */
  stderrIsTTY: boolean;
  /** Environment used for model lookup (SKVQ_ASSETS, XDG_CACHE_HOME, HOME). */
  env: Record<string, string | undefined>;
  /** Directory relative paths are resolved against. */
  cwd: string;
}

export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stderrIsTTY: Boolean(process.stderr.isTTY),
    env: process.env,
    cwd: process.cwd(),
  };
}

/** An in-memory io for tests and programmatic use: read `out` and `err` afterwards. */
export function bufferIo(
  options: { env?: Record<string, string | undefined>; cwd?: string } = {},
): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: (text) => {
      out += text;
    },
    stderr: (text) => {
      err += text;
    },
    stderrIsTTY: false,
    env: options.env ?? process.env,
    cwd: options.cwd ?? process.cwd(),
    out: () => out,
    err: () => err,
  };
}
