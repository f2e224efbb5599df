// The store checks (store-checks.ts) in headless Chromium, on its WebGPU adapter
// (SwiftShader): the same browser route and flags as apps/web-demo's conformance run
// (apps/web-demo/test/harness.ts). Skips with the reason when Chromium or its adapter is
// absent; with SKVQ_REQUIRE_CI_FEATURES=1 (CI provides both) an absence fails.

import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceAliases } from '@skvq/vitest-preset';
import { type Browser, chromium } from 'playwright-core';
import { build, type PreviewServer, preview } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StoreReport } from './browser/store-page.js';
import { storeChecks } from './store-checks.js';

const CHROMIUM_PATH = process.env.SKVQ_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-angle=swiftshader',
  '--use-webgpu-adapter=swiftshader',
];
const required = process.env.SKVQ_REQUIRE_CI_FEATURES === '1';
const missing = existsSync(CHROMIUM_PATH)
  ? undefined
  : `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set SKVQ_CHROMIUM)`;
/** SwiftShader runs the 32k-token decode loop on the CPU, on 2 shared cores. */
const PAGE_TIMEOUT_MS = 400_000;
const PAGE_ROOT = fileURLToPath(new URL('./browser/', import.meta.url));

describe('store checks in headless Chromium (WebGPU)', () => {
  if (missing !== undefined) {
    if (required) {
      it('CI requires the Chromium route (SKVQ_REQUIRE_CI_FEATURES=1)', () => {
        throw new Error(missing);
      });
    } else {
      it.skip(`[skipped: ${missing}]`, () => {});
    }
    return;
  }

  let server: PreviewServer | undefined;
  let outDir: string | undefined;
  let browser: Browser | undefined;
  let report: StoreReport;

  beforeAll(async () => {
    outDir = mkdtempSync(join(tmpdir(), 'skvq-webgpu-store-'));
    const config = {
      root: PAGE_ROOT,
      configFile: false as const,
      logLevel: 'error' as const,
      resolve: { alias: sourceAliases() },
    };
    await build({
      ...config,
      build: {
        outDir,
        emptyOutDir: true,
        target: 'es2022',
        // The backend imports Node's `webgpu` only where navigator.gpu is absent.
        rollupOptions: { external: ['webgpu'] },
      },
    });
    server = await preview({
      ...config,
      build: { outDir },
      preview: { host: '127.0.0.1', port: 0, strictPort: false },
    });
    const address = server.httpServer.address();
    if (address === null || typeof address === 'string') throw new Error('no preview address');
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      args: CHROMIUM_ARGS,
      headless: true,
    });
    const page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error') console.error(`[page] ${m.text()}`);
    });
    await page.goto(`http://127.0.0.1:${address.port}/index.html`);
    await page.waitForFunction(() => window.__skvqStore !== undefined, undefined, {
      timeout: PAGE_TIMEOUT_MS,
    });
    report = (await page.evaluate(() => window.__skvqStore)) as StoreReport;
  }, PAGE_TIMEOUT_MS + 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (outDir !== undefined) rmSync(outDir, { recursive: true, force: true });
  });

  it('has a WebGPU adapter (or skips/fails with the reason)', (ctx) => {
    if (report.status === 'unavailable') {
      if (required) throw new Error(`CI requires WebGPU in headless Chromium: ${report.reason}`);
      ctx.skip(`no WebGPU adapter in headless Chromium: ${report.reason}`);
    }
    expect(report.reason, 'page error').toBeUndefined();
    expect(report.status).toBe('done');
    console.log(`WebGPU adapter in Chromium: ${report.adapter}`);
  });

  it('runs every store check and all pass', (ctx) => {
    if (report.status === 'unavailable' && !required) ctx.skip(`no adapter: ${report.reason}`);
    expect(report.results.map((r) => r.name)).toEqual(storeChecks().map((c) => c.name));
    for (const r of report.results)
      console.log(`Chromium ${r.pass ? 'ok' : 'FAIL'}: ${r.name}: ${r.detail}`);
    expect(report.results.filter((r) => !r.pass).map((r) => `${r.name}: ${r.detail}`)).toEqual([]);
  });
});
