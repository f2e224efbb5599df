import {
  type DequantizeInputs,
  metaBytesPerUnit,
  rowCodeBytes,
  SkvqError,
  tokensPerMetaUnit,
} from '@skvq/core';
import { assertSpan, validateLayout } from '@skvq/formats';
import { destroyAll, type GpuContext } from './gpu-context.js';
import { addSegment, BytePool, WordTable } from './segments.js';
import { readerCommonWgsl, segmentReaderWgsl } from './wgsl/segment-reader.js';

function dequantizeWgsl(channels: number, workgroup: number): string {
  return /* wgsl */ `
struct U { first: u32, count: u32, seg: u32, pad: u32 }
@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> pool: array<u32>;
@group(0) @binding(2) var<storage, read> tables: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
${readerCommonWgsl()}
${segmentReaderWgsl('pool', channels)}

@compute @workgroup_size(${workgroup})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let i = gid.x;
  if (i >= u.count * ${channels}u) { return; }
  out[i] = load_pool(u.seg, u.first + i / ${channels}u, i % ${channels}u);
}`;
}

/**
 * dequantize: tokens first .. first+count-1 of a page, [count, channels] in original channel
 * order, through the same segment reader the attention kernels use (so this kernel is
 * also the reader's test against the reference dequantizers).
 */
export async function dequantizeWebgpu(
  ctx: GpuContext,
  inputs: DequantizeInputs,
): Promise<Float32Array> {
  const where = 'dequantize (webgpu)';
  const { layout, codes, meta, first, count } = inputs;
  validateLayout(layout, where);
  for (const [name, v] of [
    ['first', first],
    ['count', count],
  ] as const) {
    if (!Number.isInteger(v) || v < 0) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `${where}: ${name} ${v} must be a non-negative integer`,
        { details: { [name]: v } },
      );
    }
  }
  const end = first + count;
  const unit = tokensPerMetaUnit(layout);
  assertSpan(codes.length, 0, end * rowCodeBytes(layout), 'codes', where);
  assertSpan(meta.length, 0, Math.ceil(end / unit) * metaBytesPerUnit(layout), 'meta', where);
  const C = layout.channels;
  if (count === 0) return new Float32Array(0);
  const pool = new BytePool();
  const tables = new WordTable();
  // A channel-block page is read in whole blocks: round the segment up to one.
  const rows = Math.ceil(end / unit) * unit;
  const entry = addSegment(
    {
      kind: 'packed',
      count: rows,
      layout,
      codes: padTo(codes, rows * rowCodeBytes(layout)),
      meta,
      positions: new Int32Array(0),
    },
    C,
    pool,
    tables,
    where,
  );
  const seg = tables.add(entry);
  const wg = ctx.workgroupSize;
  const pipeline = ctx.pipeline(`dequantize:${C}:${wg}`, () => dequantizeWgsl(C, wg));
  const buffers = [
    ctx.uniform(new Uint32Array([first, count, seg, 0])),
    ctx.storage(pool.build()),
    ctx.storage(tables.build()),
    ctx.output(count * C * 4),
  ];
  try {
    const bytes = await ctx.run(
      (encoder) => ctx.dispatch(encoder, pipeline, buffers, [Math.ceil((count * C) / wg)]),
      buffers[3] as GPUBuffer,
      count * C * 4,
    );
    return new Float32Array(bytes);
  } finally {
    destroyAll(buffers);
  }
}

/** The codes of the rows past `end` in a partly filled block are never read; pad with 0. */
function padTo(bytes: Uint8Array, length: number): Uint8Array {
  if (bytes.length >= length) return bytes;
  const out = new Uint8Array(length);
  out.set(bytes);
  return out;
}
