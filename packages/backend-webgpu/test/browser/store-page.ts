import { describeError } from '@skvq/core';
import { createWebgpuBackend } from '../../src/index.js';
import { storeChecks } from '../store-checks.js';

/**
 * The store checks (store-checks.ts) on navigator.gpu in a browser: store.browser.test.ts
 * builds this page, opens it in headless Chromium (WebGPU on SwiftShader) and reads the
 * report this publishes on window.__skvqStore.
 */
export interface StoreReport {
  status: 'done' | 'unavailable' | 'error';
  reason?: string;
  adapter?: string;
  results: { name: string; pass: boolean; detail: string }[];
}

declare global {
  interface Window {
    __skvqStore?: StoreReport;
  }
}

const log = document.getElementById('log') as HTMLElement;

async function main(): Promise<StoreReport> {
  const backend = createWebgpuBackend();
  try {
    await backend.init?.();
  } catch (error) {
    return { status: 'unavailable', reason: describeError(error), results: [] };
  }
  const results: StoreReport['results'] = [];
  try {
    for (const check of storeChecks()) {
      try {
        results.push({ name: check.name, pass: true, detail: await check.run(backend) });
      } catch (error) {
        results.push({ name: check.name, pass: false, detail: describeError(error) });
      }
      log.textContent = results
        .map((r) => `${r.pass ? 'ok  ' : 'FAIL'} ${r.name}: ${r.detail}`)
        .join('\n');
    }
    return { status: 'done', adapter: backend.label?.() ?? 'webgpu', results };
  } finally {
    await backend.dispose?.();
  }
}

main()
  .then((report) => {
    window.__skvqStore = report;
  })
  .catch((error: unknown) => {
    window.__skvqStore = { status: 'error', reason: describeError(error), results: [] };
  });
