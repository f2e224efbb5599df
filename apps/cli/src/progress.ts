import type { CliIo } from './io.js';

/** Plain progress lines are printed at most this often when stderr is not a terminal. */
const PLAIN_INTERVAL_MS = 5_000;
const BAR_WIDTH = 24;

export interface Progress {
  update(done: number, total: number, detail?: string): void;
  done(message?: string): void;
}

/**
 * Progress on stderr: a redrawn bar when stderr is a TTY, otherwise an occasional plain
 * line (logs stay readable); nothing at all with --quiet or --json.
 */
export function createProgress(io: CliIo, label: string, silent: boolean): Progress {
  if (silent) return { update() {}, done() {} };
  let last = 0;
  let drawn = false;
  return {
    update(done, total, detail = '') {
      const now = Date.now();
      if (io.stderrIsTTY) {
        const frac = total > 0 ? Math.min(1, done / total) : 0;
        const fill = Math.round(frac * BAR_WIDTH);
        io.stderr(
          `\r${label} [${'#'.repeat(fill)}${'.'.repeat(BAR_WIDTH - fill)}] ${done}/${total} ${detail}\x1b[K`,
        );
        drawn = true;
      } else if (now - last >= PLAIN_INTERVAL_MS || done === total) {
        io.stderr(`${label}: ${done}/${total} ${detail}\n`);
        last = now;
      }
    },
    done(message) {
      if (drawn) io.stderr('\r\x1b[K');
      if (message) io.stderr(`${label}: ${message}\n`);
    },
  };
}
