import { describeError, SkvqError } from '@skvq/core';
import { BUFFER_USAGE, MAP_MODE_READ, MAX_WORKGROUP_SIZE } from './constants.js';

/** Host data a kernel binds: typed arrays are uploaded, padded to 4 bytes. */
export type BindingData = Uint32Array | Float32Array | Int32Array | Uint8Array;

/**
 * One GPUDevice with a pipeline cache and the plumbing of a compute dispatch: upload,
 * bind, dispatch, read back. Buffers of one call are destroyed when the call ends, so
 * nothing outlives a kernel except cached pipelines (dropped by dispose()).
 */
export class GpuContext {
  readonly device: GPUDevice;
  /** Power-of-two workgroup size the device allows (Mesa's GLES path: 128). */
  readonly workgroupSize: number;
  /** Largest buffer one binding may hold: the device's limits, or a smaller cap. */
  readonly maxBindingBytes: number;
  /**
   * Bytes this context moved between host and device, cumulative: every upload (kernel
   * inputs, uniforms, store writes) and every readback (results, store reads).
   */
  readonly transfers = { bytesToDevice: 0, bytesFromDevice: 0 };
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly ownsDevice: boolean;

  constructor(device: GPUDevice, ownsDevice: boolean, maxBindingBytes = Number.POSITIVE_INFINITY) {
    this.device = device;
    this.ownsDevice = ownsDevice;
    this.maxBindingBytes = Math.min(
      maxBindingBytes,
      device.limits.maxStorageBufferBindingSize,
      device.limits.maxBufferSize,
    );
    const limit = Math.min(
      MAX_WORKGROUP_SIZE,
      device.limits.maxComputeInvocationsPerWorkgroup,
      device.limits.maxComputeWorkgroupSizeX,
    );
    this.workgroupSize = 2 ** Math.floor(Math.log2(limit));
  }

  /** A compute pipeline for WGSL `code` (entry point `main`), compiled once per key. */
  pipeline(key: string, code: () => string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (p === undefined) {
      const module = this.device.createShaderModule({ code: code(), label: key });
      p = this.device.createComputePipeline({
        layout: 'auto',
        compute: { module, entryPoint: 'main' },
        label: key,
      });
      this.pipelines.set(key, p);
    }
    return p;
  }

  /** A storage buffer holding `data` (at least 4 bytes, padded to a multiple of 4). */
  storage(data: BindingData, extraUsage = 0): GPUBuffer {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const size = Math.max(4, Math.ceil(bytes.byteLength / 4) * 4);
    const buffer = this.device.createBuffer({
      size,
      usage: BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_DST | BUFFER_USAGE.COPY_SRC | extraUsage,
      mappedAtCreation: true,
    });
    new Uint8Array(buffer.getMappedRange()).set(bytes);
    buffer.unmap();
    this.transfers.bytesToDevice += size;
    return buffer;
  }

  /** A zero-filled storage buffer of `bytes` bytes (rounded up to 4). */
  output(bytes: number): GPUBuffer {
    return this.device.createBuffer({
      size: Math.max(4, Math.ceil(bytes / 4) * 4),
      usage: BUFFER_USAGE.STORAGE | BUFFER_USAGE.COPY_SRC | BUFFER_USAGE.COPY_DST,
    });
  }

  uniform(words: Uint32Array): GPUBuffer {
    const size = Math.max(16, Math.ceil(words.byteLength / 16) * 16);
    const buffer = this.device.createBuffer({
      size,
      usage: BUFFER_USAGE.UNIFORM | BUFFER_USAGE.COPY_DST,
      mappedAtCreation: true,
    });
    new Uint32Array(buffer.getMappedRange()).set(words);
    buffer.unmap();
    this.transfers.bytesToDevice += size;
    return buffer;
  }

  /** Records one dispatch of `pipeline` with `buffers` bound at 0, 1, 2, ... */
  dispatch(
    encoder: GPUCommandEncoder,
    pipeline: GPUComputePipeline,
    buffers: readonly GPUBuffer[],
    groups: readonly [number, number?, number?],
  ): void {
    const maxDim = this.device.limits.maxComputeWorkgroupsPerDimension;
    for (const g of groups) {
      if (g !== undefined && g > maxDim) {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `webgpu: dispatch of ${g} workgroups exceeds this device's limit ${maxDim} per dimension`,
          { details: { groups, maxDim } },
        );
      }
    }
    const bindGroup = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(groups[0], groups[1] ?? 1, groups[2] ?? 1);
    pass.end();
  }

  /**
   * Submits `record`'s commands, then reads `bytes` bytes of `source` back from byte
   * `sourceOffset` (a multiple of 4). `source` may be a function: a buffer that `record`
   * makes.
   */
  async run(
    record: (encoder: GPUCommandEncoder) => void,
    source: GPUBuffer | (() => GPUBuffer),
    bytes: number,
    sourceOffset = 0,
  ): Promise<ArrayBuffer> {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const readback = this.device.createBuffer({
      size,
      usage: BUFFER_USAGE.MAP_READ | BUFFER_USAGE.COPY_DST,
    });
    // Validation errors of this call's commands are caught by the scope, which is popped
    // on every path (a throw while recording must not leave it pushed).
    this.device.pushErrorScope('validation');
    let recordError: unknown;
    try {
      const encoder = this.device.createCommandEncoder();
      record(encoder);
      const from = typeof source === 'function' ? source() : source;
      encoder.copyBufferToBuffer(from, sourceOffset, readback, 0, size);
      this.device.queue.submit([encoder.finish()]);
    } catch (error) {
      recordError = error;
    }
    try {
      const gpuError = await this.device.popErrorScope();
      if (recordError !== undefined) throw recordError;
      if (gpuError !== null) {
        throw new SkvqError('BACKEND_DEVICE_ERROR', `webgpu: ${gpuError.message}`);
      }
      await readback.mapAsync(MAP_MODE_READ);
      this.transfers.bytesFromDevice += size;
      return readback.getMappedRange().slice(0);
    } catch (error) {
      if (error instanceof SkvqError) throw error;
      throw new SkvqError('BACKEND_DEVICE_ERROR', `webgpu: ${describeError(error)}`, {
        cause: error,
      });
    } finally {
      readback.destroy();
    }
  }

  dispose(): void {
    this.pipelines.clear();
    if (this.ownsDevice) this.device.destroy();
  }
}

/** Destroys every buffer of a call (GPU memory is released at once, not at GC). */
export function destroyAll(buffers: readonly GPUBuffer[]): void {
  for (const b of buffers) b.destroy();
}
