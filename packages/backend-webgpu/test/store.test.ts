import { expect, test } from 'vitest';
import { describeWebgpu, probeWebgpu } from './helpers.js';
import { storeChecks } from './store-checks.js';

// Device storage and the store kernels (issue 19) against the CPU reference, on Mesa in
// Node; the same checks run in headless Chromium (store.browser.test.ts).
const probe = await probeWebgpu();

describeWebgpu('webgpu device storage and store kernels', probe, (backend) => {
  for (const check of storeChecks()) {
    test(check.name, async () => {
      const line = await check.run(backend);
      console.log(`${check.name}: ${line}`);
      expect(line).toBeTypeOf('string');
    }, 120_000);
  }
});
