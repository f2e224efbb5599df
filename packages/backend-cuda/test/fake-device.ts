import {
  assertSignature,
  type CudaDevice,
  type KernelArgs,
  type LaunchConfig,
} from '../src/internal.js';

export interface RecordedLaunch {
  module: string;
  name: string;
  config: LaunchConfig;
  args: KernelArgs;
}

/**
 * A stand-in for CudaDevice that runs no kernel: it hands out fake buffers and records
 * each launch after checking its arguments against the kernel signature table, so the
 * host-side orchestration (argument packing, grids, shared memory) is tested without a GPU.
 */
export function fakeDevice(multiprocessors = 132, maxSharedBytesPerBlock = 227 * 1024) {
  const launches: RecordedLaunch[] = [];
  let next = 0x10000n;
  const buffer = (bytes: number) => {
    const ptr = next;
    next += BigInt(Math.ceil(Math.max(bytes, 1) / 256) * 256);
    const b = {
      ptr,
      bytes,
      upload: () => b,
      download: <T>(out: T) => out,
      fill: () => b,
      dispose: () => {},
    };
    return b;
  };
  const device = {
    info: {
      name: 'fake',
      computeCapability: '9.0',
      multiprocessors,
      maxSharedBytesPerBlock,
      totalBytes: 0,
      freeBytes: 0,
    },
    alloc: (bytes: number) => buffer(bytes),
    upload: (data: ArrayBufferView) => buffer(data.byteLength),
    launch(module: string, name: string, config: LaunchConfig, args: KernelArgs) {
      assertSignature(name, args);
      launches.push({ module, name, config, args });
    },
    synchronize() {},
  };
  return { device: device as unknown as CudaDevice, launches };
}
