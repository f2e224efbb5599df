// Serves test/browser/page.ts (bundled with esbuild from the TypeScript sources, as is the
// worker) from a tiny 127.0.0.1 server and opens it in the system Chromium with
// playwright-core (never downloads a browser). `isolated` sends COOP/COEP, which makes the
// page cross-origin isolated: SharedArrayBuffer and so the threaded backend are available.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSync } from 'esbuild';
import { chromium } from 'playwright-core';
import { describe, it } from 'vitest';

/** Where Debian's chromium package puts the browser; SKVQ_CHROMIUM overrides it. */
export const CHROMIUM_PATH = process.env.SKVQ_CHROMIUM ?? '/usr/bin/chromium';

const required = process.env.SKVQ_REQUIRE_CI_FEATURES === '1';

/** describe() that runs where Chromium is, skips visibly without it, fails in CI without it. */
export function describeChromium(name: string, body: () => void): void {
  if (!existsSync(CHROMIUM_PATH)) {
    const reason = `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set SKVQ_CHROMIUM)`;
    if (required) {
      it(`${name}: Chromium is required (SKVQ_REQUIRE_CI_FEATURES=1)`, () => {
        throw new Error(reason);
      });
    } else {
      describe.skip(`${name} — skipped: ${reason}`, () => {
        it('needs Chromium', () => {});
      });
    }
    return;
  }
  describe(name, body);
}

const packages = join(import.meta.dirname, '..', '..', '..');

function bundle(outDir: string): void {
  const common = {
    bundle: true,
    format: 'esm' as const,
    platform: 'browser' as const,
    target: 'es2022',
    external: ['node:*'],
    alias: {
      '@skvq/core': join(packages, 'core', 'src', 'index.ts'),
      '@skvq/formats': join(packages, 'formats', 'src', 'index.ts'),
    },
    logLevel: 'error' as const,
  };
  buildSync({
    ...common,
    entryPoints: [join(import.meta.dirname, 'page.ts')],
    outfile: join(outDir, 'page.js'),
  });
  buildSync({
    ...common,
    entryPoints: [join(packages, 'backend-cpu', 'src', 'threads', 'cpu-worker.ts')],
    outfile: join(outDir, 'cpu-worker.js'),
  });
}

const PAGE = '<!doctype html><meta charset="utf-8"><script type="module" src="./page.js"></script>';

function serve(dir: string, isolated: boolean): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const name = (req.url ?? '/').split('?')[0] === '/' ? 'index.html' : (req.url ?? '').slice(1);
    const headers: Record<string, string> = isolated
      ? {
          'Cross-Origin-Opener-Policy': 'same-origin',
          'Cross-Origin-Embedder-Policy': 'require-corp',
        }
      : {};
    if (name === 'index.html') {
      res.writeHead(200, { ...headers, 'Content-Type': 'text/html' }).end(PAGE);
    } else if (name === 'page.js' || name === 'cpu-worker.js') {
      res
        .writeHead(200, { ...headers, 'Content-Type': 'text/javascript' })
        .end(readFileSync(join(dir, name)));
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      resolve({ server, url: `http://127.0.0.1:${port}/` });
    });
  });
}

export interface PageResult {
  crossOriginIsolated: boolean;
  label: string;
  sharedStorage: boolean;
  promise: boolean;
  relErr: number;
  error?: string;
}

/** Loads the page (isolated or not) in headless Chromium and returns what it reported. */
export async function runPage(isolated: boolean): Promise<PageResult> {
  const dir = mkdtempSync(join(tmpdir(), 'skvq-cpu-threads-'));
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    args: ['--headless', '--no-sandbox', '--disable-background-networking', '--no-first-run'],
    headless: true,
  });
  let server: Server | undefined;
  try {
    bundle(dir);
    const served = await serve(dir, isolated);
    server = served.server;
    const page = await browser.newPage();
    await page.goto(served.url);
    await page.waitForFunction(
      () => (window as { __result?: unknown }).__result !== undefined,
      null,
      {
        timeout: 60_000,
      },
    );
    return await page.evaluate(() => (window as unknown as { __result: PageResult }).__result);
  } finally {
    await browser.close();
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
