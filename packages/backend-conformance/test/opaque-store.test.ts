import { cpuReferenceBackend } from '@skvq/backend-cpu';
import { type SkvqError, transferStatsOf } from '@skvq/core';
import { describe, expect, it } from 'vitest';
import { createOpaqueStoreBackend } from '../src/index.js';
import { describeStoreBackend } from '../src/vitest.js';

// The store suite on the opaque-store test backend (CPU reference kernels behind device
// storage without host views): the suite itself, exercised on every machine.
describeStoreBackend('opaque-store', () => createOpaqueStoreBackend());
// A store whose reads are asynchronous, like WebGPU's.
describeStoreBackend(
  'opaque-store (async reads)',
  () => createOpaqueStoreBackend(cpuReferenceBackend, { asyncReads: true }),
  { only: ['storage', 'cache'] },
);

describe('opaque-store backend', () => {
  it('buffers have no host view and every byte crossing is counted', async () => {
    const backend = createOpaqueStoreBackend();
    const buffer = backend.storage.allocate(16, 'fp');
    expect(buffer.host).toBeUndefined();
    backend.storage.write(buffer, 4, new Uint8Array([1, 2, 3]));
    expect(await backend.storage.read({ buffer, byteOffset: 3, byteLength: 5 })).toEqual(
      new Uint8Array([0, 1, 2, 3, 0]),
    );
    expect(transferStatsOf(backend)).toEqual({ bytesToDevice: 3, bytesFromDevice: 5 });
    backend.storage.release(buffer);
    expect(backend.liveBuffers()).toBe(0);
  });

  it('refuses views outside their buffer, released buffers and unaligned sizes', () => {
    const { storage } = createOpaqueStoreBackend();
    const code = (call: () => unknown) => {
      try {
        call();
      } catch (error) {
        return (error as SkvqError).code;
      }
      return 'no error';
    };
    const buffer = storage.allocate(8, 'meta');
    expect(code(() => storage.write(buffer, 6, new Uint8Array(3)))).toBe('INVALID_ARGUMENT');
    expect(code(() => storage.allocate(6, 'meta'))).toBe('INVALID_ARGUMENT');
    storage.release(buffer);
    expect(code(() => storage.read({ buffer, byteOffset: 0, byteLength: 4 }))).toBe(
      'INVALID_ARGUMENT',
    );
  });
});
