import { expect, it } from 'vitest';
import { describeChromium, runPage } from './browser/harness.js';

// The threaded backend in headless Chromium: Web Workers over shared memory where the page
// is cross-origin isolated, one thread (and the reason in label()) where it is not.
describeChromium('threaded cpu backend in headless Chromium', () => {
  it('cross-origin isolated: runs on 2 threads (Web Workers) and matches one thread', async () => {
    const result = await runPage(true);
    expect(result.error).toBeUndefined();
    expect(result.crossOriginIsolated).toBe(true);
    expect(result.label).toBe('cpu (WebAssembly SIMD decode, 2 threads)');
    expect(result.sharedStorage).toBe(true);
    expect(result.promise).toBe(true);
    expect(result.relErr).toBeLessThan(1e-5);
  });

  it('not isolated: one thread, synchronous, and label() says why', async () => {
    const result = await runPage(false);
    expect(result.error).toBeUndefined();
    expect(result.crossOriginIsolated).toBe(false);
    expect(result.label).toMatch(
      /^cpu \(WebAssembly SIMD decode, 1 thread: the page is not cross-origin isolated/,
    );
    expect(result.sharedStorage).toBe(false);
    expect(result.promise).toBe(false);
    expect(result.relErr).toBe(0);
  });
});
