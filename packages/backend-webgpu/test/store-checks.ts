import type { StoreCheck } from './check-common.js';
import {
  attendAcrossArenas,
  attendDecodeStore,
  attendKiviStore,
  attendPrefillStore,
  decodeTransfers,
  GEOMETRIES,
} from './checks-attend.js';
import {
  quantizeBlockExact,
  quantizeErrors,
  quantizeTokensExact,
  TOKEN_CASES,
} from './checks-quantize.js';
import { storageArenas, storageRoundTrip } from './checks-storage.js';

export { ATTENTION_TOLERANCE, maxRelativeError, type StoreCheck } from './check-common.js';

/**
 * The store checks of the WebGPU backend (issue 19): device storage, store quantize and
 * store attention against the CPU reference. Written without a test runner so that the
 * same checks run under vitest in Node on Mesa (store.test.ts) and on a page in headless
 * Chromium on SwiftShader (store.browser.test.ts, test/browser/store-page.ts).
 */
export function storeChecks(): StoreCheck[] {
  return [
    {
      name: 'storage: write / copy / read round trips, zeroed reuse, typed errors',
      run: storageRoundTrip,
    },
    { name: 'storage: several arenas, cross-arena copies, growth', run: storageArenas },
    ...TOKEN_CASES.map(
      (c): StoreCheck => ({
        name: `store quantizeTokens bit exact: bits ${c.bits}, meta ${c.meta}, x from ${c.source}`,
        run: (b) => quantizeTokensExact(b, c),
      }),
    ),
    {
      name: 'store quantizeBlock bit exact: KIVI 2-bit fp16 meta, x from fp16 rows',
      run: (b) => quantizeBlockExact(b, 2, 'fp16', 'fp16 rows'),
    },
    {
      name: 'store quantizeBlock bit exact: KIVI 4-bit fp8 meta, x from host',
      run: (b) => quantizeBlockExact(b, 4, 'fp8e4m3', 'host'),
    },
    {
      name: 'store quantize errors: non-finite device rows, metadata overflow',
      run: quantizeErrors,
    },
    ...GEOMETRIES.map(
      ({ name, geometry }): StoreCheck => ({
        name: `store attend decode, ${name}: packed pages (split mid-word), fp32 sinks, fp16 window, sums`,
        run: (b) => attendDecodeStore(b, geometry),
      }),
    ),
    { name: 'store attend decode: KIVI keys (channel blocks), custom scale', run: attendKiviStore },
    {
      name: 'store attend prefill: causal rows with sums; bad jobs rejected',
      run: attendPrefillStore,
    },
    {
      name: 'store attend over streams spread across arenas (device-side gather), pages split mid-word',
      run: attendAcrossArenas,
    },
    {
      name: 'decode step moves the same bytes at 4k and 32k cached tokens; pages read back exact',
      run: decodeTransfers,
    },
  ];
}
