import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  addonPath,
  KERNEL_MODULES,
  KERNEL_SIGNATURES,
  kernelImagePath,
  nativeBuildDir,
  PTX_PARAM_TYPE,
} from '../src/internal.js';

// CI runs `pnpm --filter @skvq/backend-cuda build:native` before the tests and sets
// SKVQ_REQUIRE_CI_FEATURES=1: there a missing build fails instead of skipping.
const required = process.env.SKVQ_REQUIRE_CI_FEATURES === '1';
const ptxPath = (module: string) => join(nativeBuildDir(), 'kernels', `${module}.ptx`);
const built =
  existsSync(addonPath()) &&
  KERNEL_MODULES.every((m) => existsSync(kernelImagePath(m)) && existsSync(ptxPath(m)));
const skip = !built && !required;
const why = skip
  ? ' (skipped: native build absent; run pnpm --filter @skvq/backend-cuda build:native)'
  : '';

/** A CUDA fat binary starts with the magic 0xBA55ED50 (little-endian). */
const FATBIN_MAGIC = 0xba55ed50;

/** `.entry name( .param .TYPE name_param_0, ... )` of a PTX file: name -> param types. */
function ptxEntries(ptx: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const entry = /\.entry\s+(\w+)\s*\(([^)]*)\)/g;
  for (const match of ptx.matchAll(entry)) {
    const params = [...match[2]!.matchAll(/\.param\s+\.(\w+)/g)].map((m) => m[1]!);
    out.set(match[1]!, params);
  }
  return out;
}

describe('native build (nvcc + node-gyp; needs no GPU)', () => {
  it.skipIf(skip)(`built the addon${why}`, () => {
    expect(existsSync(addonPath())).toBe(true);
  });

  for (const module of KERNEL_MODULES) {
    it.skipIf(skip)(`compiled src/cuda/${module}.cu to a fatbin and sm_90 PTX${why}`, () => {
      const image = readFileSync(kernelImagePath(module));
      expect(image.length).toBeGreaterThan(1024);
      expect(image.readUInt32LE(0)).toBe(FATBIN_MAGIC);
      expect(readFileSync(ptxPath(module), 'utf8')).toMatch(/^\.target sm_90/m);
    });
  }

  it.skipIf(skip)(`every kernel's PTX parameters match the launch signature table${why}`, () => {
    const entries = new Map<string, string[]>();
    for (const module of KERNEL_MODULES) {
      for (const [name, params] of ptxEntries(readFileSync(ptxPath(module), 'utf8'))) {
        entries.set(name, params);
      }
    }
    expect([...entries.keys()].sort()).toEqual(Object.keys(KERNEL_SIGNATURES).sort());
    for (const [name, types] of Object.entries(KERNEL_SIGNATURES)) {
      expect(entries.get(name), name).toEqual(types.map((t) => PTX_PARAM_TYPE[t]));
    }
  });

  it.skipIf(skip)(`the addon loads without a driver and its probe gives a reason${why}`, () => {
    const require = createRequire(import.meta.url);
    const addon = require(addonPath()) as {
      probe(): { available: boolean; reason?: string };
      alloc(bytes: number): bigint;
    };
    const probe = addon.probe();
    expect(typeof probe.available).toBe('boolean');
    if (!probe.available) {
      expect(probe.reason).toMatch(/\S/);
      // Without init() every device call is refused with a clear message, never a crash.
      expect(() => addon.alloc(16)).toThrow(/not initialised/);
    }
  });
});
