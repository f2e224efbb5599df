// Page entry of conformance.html: runs the shared conformance checks against the WebGPU
// backend on navigator.gpu and publishes the outcome on window.__skvqConformance.
import { createWebgpuBackend } from '@skvq/backend-webgpu';
import { describeError } from '@skvq/core';
import { type CheckResult, conformanceChecks, runChecks } from './checks.js';

export interface ConformanceReport {
  /** 'done' when the checks ran; 'no-webgpu' when there is no adapter (with the reason). */
  status: 'done' | 'no-webgpu' | 'error';
  reason?: string;
  adapter?: string;
  results: CheckResult[];
}

declare global {
  interface Window {
    __skvqConformance?: ConformanceReport;
  }
}

async function adapterName(): Promise<string> {
  const adapter = await navigator.gpu?.requestAdapter();
  const info = adapter?.info;
  return info ? `${info.vendor} ${info.architecture} ${info.description}`.trim() : 'unknown';
}

async function main(): Promise<ConformanceReport> {
  if (navigator.gpu === undefined) {
    return {
      status: 'no-webgpu',
      reason: 'navigator.gpu is undefined in this browser',
      results: [],
    };
  }
  const backend = createWebgpuBackend();
  try {
    await backend.init?.();
  } catch (error) {
    return { status: 'no-webgpu', reason: describeError(error), results: [] };
  }
  try {
    const results = await runChecks(backend, conformanceChecks());
    return { status: 'done', adapter: await adapterName(), results };
  } finally {
    await backend.dispose?.();
  }
}

const out = document.getElementById('out')!;
main()
  .catch(
    (error: unknown): ConformanceReport => ({
      status: 'error',
      reason: describeError(error),
      results: [],
    }),
  )
  .then((report) => {
    window.__skvqConformance = report;
    const failed = report.results.filter((r) => !r.pass).length;
    out.textContent = `${report.status}: ${report.results.length - failed} passed, ${failed} failed${report.reason ? ` (${report.reason})` : ''}`;
  });
