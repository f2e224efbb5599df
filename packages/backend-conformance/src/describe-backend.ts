import { type BackendPlugin, SkvqError } from '@skvq/core';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { CONFORMANCE_AREAS, type ConformanceArea, conformanceChecks } from './checks.js';
import { ATTENTION_RELATIVE_TOLERANCE } from './compare.js';

/** A skip is data: why the backend cannot run here, and whether CI must run it anyway. */
export interface ConformanceSkip {
  reason: string;
  /** With SKVQ_REQUIRE_CI_FEATURES=1 a skipped suite marked so fails instead of skipping. */
  ciMustRun?: boolean;
}

export interface DescribeBackendOptions {
  skip?: ConformanceSkip | false;
  /** Relative tolerance of attention outputs; default ATTENTION_RELATIVE_TOLERANCE. */
  tolerance?: number;
  /** Run only these areas (a backend without some kernels); default all. */
  only?: readonly ConformanceArea[];
}

/** Environment flag CI sets so that a backend it must cover cannot be skipped silently. */
export const REQUIRE_CI_FEATURES_ENV = 'SKVQ_REQUIRE_CI_FEATURES';

/**
 * The conformance suite every backend runs, as vitest tests: each check of checks.ts
 * (quantize kernels bit exact against the reference quantizers, dequantize equal to them,
 * attention within `tolerance` of the cpu-reference oracle, typed errors for bad inputs)
 * is one test, grouped by area.
 */
export function describeBackend(
  name: string,
  factory: () => BackendPlugin | Promise<BackendPlugin>,
  options: DescribeBackendOptions = {},
): void {
  const tolerance = options.tolerance ?? ATTENTION_RELATIVE_TOLERANCE;
  const areas = new Set(options.only ?? CONFORMANCE_AREAS);
  const skip = options.skip || undefined;
  describe(`backend conformance: ${name}`, () => {
    const get = backendForSuite(name, factory, options.skip);
    if (get === undefined) return;
    const checks = conformanceChecks(tolerance);
    for (const area of CONFORMANCE_AREAS) {
      if (!areas.has(area)) continue;
      describe(area, () => {
        for (const check of checks.filter((c) => c.area === area)) {
          const run = async () => {
            await check.run(get());
          };
          if (skip !== undefined) it.skip(`${check.name} [skipped: ${skip.reason}]`, run);
          else it(check.name, run);
        }
      });
    }
  });
}

/**
 * What the suite does with a skip option: 'run' (no skip), 'skip' (tests registered with
 * it.skip and the reason in their names), or 'fail' (the skip is marked ciMustRun and the
 * environment flag SKVQ_REQUIRE_CI_FEATURES is '1': CI must not skip this backend).
 */
export function skipDecision(
  skip: ConformanceSkip | false | undefined,
  requireCiFeatures: string | undefined,
): 'run' | 'skip' | 'fail' {
  if (!skip) return 'run';
  return skip.ciMustRun === true && requireCiFeatures === '1' ? 'fail' : 'skip';
}

/** process.env without assuming Node (the suite may run in a browser test runner). */
function readEnv(key: string): string | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env;
  return env?.[key];
}

/**
 * Inside a suite's describe: the backend's lifecycle (created and initialised before the
 * tests, disposed after; not created when skipped) and its getter. Undefined when CI
 * requires the backend but it is skipped: a failing test says so instead.
 */
export function backendForSuite(
  name: string,
  factory: () => BackendPlugin | Promise<BackendPlugin>,
  skipOption: ConformanceSkip | false | undefined,
): (() => BackendPlugin) | undefined {
  const skip = skipOption || undefined;
  if (skipDecision(skipOption, readEnv(REQUIRE_CI_FEATURES_ENV)) === 'fail') {
    it(`CI requires backend ${name} (${REQUIRE_CI_FEATURES_ENV}=1) but it is skipped: ${skip?.reason}`, () => {
      throw new SkvqError(
        'BACKEND_INIT_FAILED',
        `CI requires backend "${name}" to run (${REQUIRE_CI_FEATURES_ENV}=1), but it was skipped: ${skip?.reason}`,
      );
    });
    return undefined;
  }
  let backend: BackendPlugin | undefined;
  if (skip === undefined) {
    beforeAll(async () => {
      backend = await factory();
      await backend.init?.();
    });
    afterAll(async () => {
      await backend?.dispose?.();
    });
  }
  return () => {
    if (backend === undefined)
      throw new SkvqError('BACKEND_INIT_FAILED', `backend ${name} was not created`);
    return backend;
  };
}
