import { describe, expect, it } from 'vitest';
import {
  type BackendStorage,
  backendStorage,
  hostBytes,
  hostStorage,
  isSkvqError,
  transferStatsOf,
} from '../src/index.js';

describe('hostStorage', () => {
  it('allocates zeroed buffers and writes, copies and reads them in place', async () => {
    const storage = hostStorage();
    const a = storage.allocate(16, 'codes');
    const b = storage.allocate(8, 'fp');
    expect([...a.host!]).toEqual(new Array(16).fill(0));
    storage.write(a, 4, new Uint8Array([1, 2, 3, 4]));
    storage.copy({ buffer: a, byteOffset: 4, byteLength: 4 }, b, 2);
    expect([...(await storage.read({ buffer: b, byteOffset: 0, byteLength: 8 }))]).toEqual([
      0, 0, 1, 2, 3, 4, 0, 0,
    ]);
    expect(storage.transferStats()).toEqual({ bytesToDevice: 0, bytesFromDevice: 0 });
  });

  it('reads return copies, so later writes do not change them', async () => {
    const storage = hostStorage();
    const a = storage.allocate(4, 'meta');
    const read = await storage.read({ buffer: a, byteOffset: 0, byteLength: 4 });
    storage.write(a, 0, new Uint8Array([9, 9, 9, 9]));
    expect([...read]).toEqual([0, 0, 0, 0]);
  });

  it('shared buffers are backed by SharedArrayBuffer', () => {
    const buffer = hostStorage({ shared: true }).allocate(8, 'fp');
    expect(buffer.host!.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('rejects byte lengths that are not non-negative multiples of 4, naming them', () => {
    const storage = hostStorage();
    for (const bad of [-4, 3, 1.5, Number.NaN]) {
      expect(() => storage.allocate(bad, 'codes')).toThrow(/multiple of 4/);
    }
  });

  it('hostBytes refuses a device view with a typed error', () => {
    const device = { byteLength: 8 };
    try {
      hostBytes({ buffer: device, byteOffset: 0, byteLength: 8 });
      expect.unreachable();
    } catch (error) {
      expect(isSkvqError(error) && error.code).toBe('INVALID_ARGUMENT');
    }
  });
});

describe('backendStorage and transferStatsOf', () => {
  it('default to host memory and zero transfers', () => {
    expect(backendStorage({}).residence).toBe('host');
    expect(transferStatsOf({})).toEqual({ bytesToDevice: 0, bytesFromDevice: 0 });
  });

  it('refuse a device storage without kernels', () => {
    const storage = { ...hostStorage(), residence: 'device' } as BackendStorage;
    expect(() => backendStorage({ storage })).toThrow(/must provide kernels/);
  });

  it('report what the backend reports', () => {
    const backend = { transferStats: () => ({ bytesToDevice: 12, bytesFromDevice: 4 }) };
    expect(transferStatsOf(backend)).toEqual({ bytesToDevice: 12, bytesFromDevice: 4 });
  });
});
