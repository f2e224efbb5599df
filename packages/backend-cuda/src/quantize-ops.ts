import type { CudaDevice } from './device.js';
import type { DeviceLayout } from './device-layout.js';
import { SEGMENT_KIND } from './layout-codes.js';
import { type DevicePointer, KernelArgs } from './params.js';

/** Threads per block of the quantize kernels. */
const QUANTIZE_THREADS = 256;
/** Threads per block of the element-wise kernels (dequantize, pack). */
const ELEMENTWISE_THREADS = 256;

function at(buffer: DevicePointer, byteOffset: number): bigint {
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
  x: DevicePointer,
  count: number,
  codes: DevicePointer,
  codesOffset: number,
  meta: DevicePointer,
  metaOffset: number,
  errorWord: DevicePointer,
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
  x: DevicePointer,
  scratch: DevicePointer,
  codes: DevicePointer,
  codesOffset: number,
  meta: DevicePointer,
  metaOffset: number,
  errorWord: DevicePointer,
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

/** Blocks of the grid-stride conversion kernel (enough to fill an H200; any count works). */
const CONVERT_MAX_BLOCKS = 1024;

/** Enqueues the exact widening of `n` fp16 values at `src` to float32 at `dst`. */
export function enqueueHalfToFloat(
  device: CudaDevice,
  src: DevicePointer,
  n: number,
  dst: DevicePointer,
): void {
  if (n === 0) return;
  const blocks = Math.min(CONVERT_MAX_BLOCKS, Math.ceil(n / ELEMENTWISE_THREADS));
  device.launch(
    'quantize',
    'skvq_half_to_float',
    { grid: [blocks], block: [ELEMENTWISE_THREADS] },
    new KernelArgs().ptr(src).i64(n).ptr(dst),
  );
}

/**
 * Enqueues reconstruction of tokens first .. first+count-1 of a page into
 * out = [count, channels] (original channel order).
 */
export function enqueueDequantize(
  device: CudaDevice,
  layout: DeviceLayout,
  codes: DevicePointer,
  meta: DevicePointer,
  first: number,
  count: number,
  out: DevicePointer,
  errorWord: DevicePointer,
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
