import fc from 'fast-check';
import {
  cacheApiKind,
  cacheOutliersKind,
  calibrationKind,
  savedCacheKind,
} from './kinds-cache.mjs';
import { ggufKind, llama2cKind, tokenizerKind } from './kinds-files.mjs';

/**
 * A self-test kind: case 1 aborts the process, case 2 allocates 1 GiB, case 3 never
 * returns, case 4 throws a TypeError; the rest pass. It proves the runner turns each into a
 * counted failure instead of dying with it.
 */
const selftestKind = {
  name: 'selftest',
  arbitrary: fc.constant(0),
  prepare: () => new Uint8Array(16),
  run(_input, _value, index) {
    if (index === 1) process.abort();
    if (index === 2) return void new Float64Array(2 ** 27);
    if (index === 3) for (;;);
    if (index === 4) throw new TypeError('untyped on purpose');
    return undefined;
  },
};

/** Every kind by name. */
export const KINDS = Object.fromEntries(
  [
    ggufKind,
    llama2cKind,
    tokenizerKind,
    calibrationKind,
    cacheApiKind,
    savedCacheKind,
    cacheOutliersKind,
    selftestKind,
  ].map((k) => [k.name, k]),
);

/** The kinds a full run covers (every input kind of issue 13). */
export const DEFAULT_KINDS = [
  'gguf',
  'llama2c',
  'tokenizer',
  'calibration',
  'cache-api',
  'saved-cache',
  'cache-outliers',
];
