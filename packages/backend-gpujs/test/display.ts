import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * headless-gl needs an X display. When none is set and Xvfb is installed, start one for
 * this test process (stopped once the process is gone), so `pnpm test` covers headless-gl anywhere
 * Xvfb exists. Returns why there is no display otherwise.
 */
export async function ensureDisplay(): Promise<{ ok: boolean; reason: string }> {
  if (process.env.DISPLAY) return { ok: true, reason: `DISPLAY=${process.env.DISPLAY}` };
  const xvfb = ['/usr/bin/Xvfb', '/usr/local/bin/Xvfb'].find((p) => existsSync(p));
  if (xvfb === undefined)
    return { ok: false, reason: 'no DISPLAY and no Xvfb (apt-get install xvfb)' };
  for (let n = 90 + (process.pid % 500); n < 1100; n += 7) {
    if (existsSync(`/tmp/.X11-unix/X${n}`) || existsSync(`/tmp/.X${n}-lock`)) continue;
    // A shell watchdog stops this Xvfb once the test process is gone, however it ends
    // (vitest may kill its workers without an 'exit' event).
    const script = `${xvfb} :${n} -screen 0 64x64x24 -nolisten tcp & x=$!; while kill -0 ${process.pid} 2>/dev/null && kill -0 $x 2>/dev/null; do sleep 1; done; kill $x 2>/dev/null`;
    const child = spawn('/bin/sh', ['-c', script], { stdio: 'ignore' });
    child.unref();
    for (let i = 0; i < 100; i++) {
      if (existsSync(`/tmp/.X11-unix/X${n}`)) {
        process.env.DISPLAY = `:${n}`;
        return { ok: true, reason: `started Xvfb :${n}` };
      }
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { ok: false, reason: 'Xvfb did not start' };
}
