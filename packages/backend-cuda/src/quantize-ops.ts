import type { CudaDevice, DeviceBuffer } from './device.js';
import type { DeviceLayout } from './device-layout.js';
import { SEGMENT_KIND } from './layout-codes.js';
import { KernelArgs } from './params.js';

/** Threads per block of the quantize kernels. */
const QUANTIZE_THREADS = 256;
/** Threads per block of the element-wise kernels (dequantize, pack). */
const ELEMENTWISE_THREADS = 256;

function at(buffer: DeviceBuffer, byteOffset: number): bigint {
  return buffer.ptr + BigInt(byteOffset);
}

/**
 * Enqueues quantize-and-append of `count` tokens x = [count, channels] (original channel
 * order, on the device) with a token-group layout: gather by permutation, clip, quantize,
 * pack, write metadata. Kernel errors are ORed into `errorWord`.
 */
export function enqueueQuantizeTokens(
  device: CudaDevice,
  layout: DeviceLayout,
  x: DeviceBuffer,
  count: number,
  codes: DeviceBuffer,
  codesOffset: number,
  meta: DeviceBuffer,
  metaOffset: number,
  errorWord: DeviceBuffer,
): void {
  if (layout.layout.kind !== 'token-group' || count === 0) return;
  const n = layout.numbers;
  const channels = layout.layout.channels;
  const args = new KernelArgs()
    .ptr(x)
    .i32(count)
    .i32(channels)
    .ptr(layout.perm)
    .ptr(layout.groupOffsets)
    .i32(n.groups)
    .i32(n.bitsCode)
    .i32(n.metaCode)
    .f32(Math.fround(layout.layout.alpha))
    .ptr(at(codes, codesOffset))
    .ptr(at(meta, metaOffset))
    .i32(n.rowBytes)
    .i32(n.metaBytes)
    .ptr(errorWord);
  device.launch(
    'quantize',
    'skvq_quantize_tokens',
    { grid: [count], block: [QUANTIZE_THREADS], sharedBytes: 8 * n.groups + channels },
    args,
  );
}

/**
 * Enqueues quantization of one block [blockTokens, channels] with a channel-block layout
 * (KIVI keys). `scratch` holds blockTokens * channels bytes.
 */
export function enqueueQuantizeBlock(
  device: CudaDevice,
  layout: DeviceLayout,
  x: DeviceBuffer,
  scratch: DeviceBuffer,
  codes: DeviceBuffer,
  codesOffset: number,
  meta: DeviceBuffer,
  metaOffset: number,
  errorWord: DeviceBuffer,
): void {
  if (layout.layout.kind !== 'channel-block') return;
  const n = layout.numbers;
  const { channels, blockTokens } = layout.layout;
  device.launch(
    'quantize',
    'skvq_quantize_block_codes',
    { grid: [Math.ceil(channels / 128)], block: [128] },
    new KernelArgs()
      .ptr(x)
      .i32(blockTokens)
      .i32(channels)
      .i32(n.bitsCode)
      .i32(n.metaCode)
      .f32(Math.fround(layout.layout.alpha))
      .ptr(scratch)
      .ptr(at(meta, metaOffset))
      .ptr(errorWord),
  );
  const total = blockTokens * n.rowBytes;
  device.launch(
    'quantize',
    'skvq_pack_rows',
    { grid: [Math.ceil(total / ELEMENTWISE_THREADS)], block: [ELEMENTWISE_THREADS] },
    new KernelArgs()
      .ptr(scratch)
      .i32(blockTokens)
      .i32(channels)
      .i32(n.bitsCode)
      .ptr(at(codes, codesOffset))
      .i32(n.rowBytes),
  );
}

/**
 * Enqueues reconstruction of tokens first .. first+count-1 of a page into
 * out = [count, channels] (original channel order).
 */
export function enqueueDequantize(
  device: CudaDevice,
  layout: DeviceLayout,
  codes: DeviceBuffer,
  meta: DeviceBuffer,
  first: number,
  count: number,
  out: DeviceBuffer,
  errorWord: DeviceBuffer,
): void {
  const n = layout.numbers;
  const channels = layout.layout.channels;
  const total = count * channels;
  if (total === 0) return;
  device.launch(
    'dequantize',
    'skvq_dequantize',
    { grid: [Math.ceil(total / ELEMENTWISE_THREADS)], block: [ELEMENTWISE_THREADS] },
    new KernelArgs()
      .ptr(codes)
      .ptr(meta)
      .i32(
        layout.layout.kind === 'token-group' ? SEGMENT_KIND.tokenGroup : SEGMENT_KIND.channelBlock,
      )
      .i32(first)
      .i32(count)
      .i32(channels)
      .ptr(layout.perm)
      .ptr(layout.groupOf)
      .i32(n.bitsCode)
      .i32(n.metaCode)
      .i32(n.rowBytes)
      .i32(n.metaBytes)
      .i32(n.blockTokens)
      .ptr(out)
      .ptr(errorWord),
  );
}
