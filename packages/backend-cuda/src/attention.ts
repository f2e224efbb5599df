import {
  type AttentionAttrs,
  applyRope,
  type KvGeometry,
  kvHidden,
  queryHidden,
  ropeInverseFrequencies,
  SkvqError,
} from '@skvq/core';
import type { CudaDevice, DeviceBuffer } from './device.js';
import { throwKernelErrors } from './errors.js';
import { KernelArgs } from './params.js';
import { type DeviceSegmentTable, SEGMENT_DESCRIPTOR_BYTES } from './segments.js';

/** Threads of skvq_attend_partial (SKVQ_ATTN_THREADS in attention.cu). */
export const ATTENTION_THREADS = 256;
/** Output elements each thread keeps in registers (SKVQ_ACC_PER_THREAD in attention.cu). */
export const ACC_PER_THREAD = 32;
/** Largest queryHeads * headDim the fused kernel accepts: 256 threads x 32 registers. */
export const MAX_QUERY_HIDDEN = ATTENTION_THREADS * ACC_PER_THREAD;
/** Most key positions one block stages in shared memory per step. */
export const MAX_TILE_TOKENS = 8;
/**
 * Shared memory the fused kernel aims to stay under: two blocks per SM on an H100/H200
 * (228 KiB per SM) so one block's memory loads overlap the other's arithmetic.
 */
export const ATTENTION_SHARED_BUDGET = 100 * 1024;
/** Blocks per SM the sequence split aims for (flash-decoding: enough to fill the GPU). */
export const BLOCKS_PER_SM = 4;

const ROPE_CODES = { none: 0, pairwise: 1, half: 2 } as const;

/** Dynamic shared memory of skvq_attend_partial (its layout comment in attention.cu). */
export function attendSharedBytes(geometry: KvGeometry, tileTokens: number): number {
  const qh = geometry.queryHeads;
  const d = geometry.headDim;
  const floats =
    qh * d + tileTokens * kvHidden(geometry) + tileTokens * qh + tileTokens * d + 3 * qh;
  return 2 * tileTokens * SEGMENT_DESCRIPTOR_BYTES + 2 * tileTokens * 4 + 4 * floats;
}

/** The largest tile (tokens staged per step) that fits the shared-memory budget. */
export function chooseTileTokens(geometry: KvGeometry, maxShared: number): number {
  const budget = Math.min(maxShared, ATTENTION_SHARED_BUDGET);
  for (let t = MAX_TILE_TOKENS; t >= 1; t--) {
    if (attendSharedBytes(geometry, t) <= budget) return t;
  }
  if (attendSharedBytes(geometry, 1) <= maxShared) return 1;
  throw new SkvqError(
    'UNSUPPORTED_OPTION',
    `cuda attention: geometry ${geometry.queryHeads}x${geometry.headDim} (kvHeads ${geometry.kvHeads}) needs ${attendSharedBytes(geometry, 1)} bytes of shared memory; the device allows ${maxShared}`,
  );
}

/** Chunk length (a multiple of the tile) so that the grid fills the GPU. */
export function chooseChunkLength(
  length: number,
  numQueries: number,
  tileTokens: number,
  multiprocessors: number,
): number {
  const targetChunks = Math.max(1, Math.floor((multiprocessors * BLOCKS_PER_SM) / numQueries));
  const raw = Math.ceil(length / targetChunks);
  return Math.max(tileTokens, Math.ceil(raw / tileTokens) * tileTokens);
}

/** Rotates each query at its own position (queries are given pre-RoPE). */
export function rotateQueries(
  q: Float32Array,
  numQueries: number,
  start: number,
  geometry: KvGeometry,
): Float32Array {
  const out = Float32Array.from(q.subarray(0, numQueries * queryHidden(geometry)));
  if (geometry.rope.style === 'none') return out;
  const inv = ropeInverseFrequencies(geometry.headDim, geometry.rope.theta);
  for (let i = 0; i < numQueries; i++) {
    applyRope(
      out,
      i * queryHidden(geometry),
      geometry.queryHeads,
      geometry.headDim,
      geometry.rope,
      start + i,
      inv,
    );
  }
  return out;
}

export interface AttentionRunnerOptions {
  maxQueries: number;
  maxLength: number;
  /** Keep raw scores so attentionSums can be computed (costs length*QH floats per query). */
  withSums?: boolean;
}

export interface AttentionCall {
  /** Rotated queries on the device, [numQueries, queryHeads*headDim]. */
  q: DeviceBuffer;
  numQueries: number;
  /** Position of query 0; query i is at start + i. */
  start: number;
  /** Prefill: query i sees keys at positions <= start + i. Decode: every position. */
  causal: boolean;
  length: number;
  keys: DeviceSegmentTable;
  values: DeviceSegmentTable;
}

/**
 * Device-resident fused attention: owns the scratch (partials, output, error word) for
 * calls up to maxQueries x maxLength and enqueues skvq_attend_partial + skvq_attend_reduce.
 */
export class AttentionRunner {
  readonly tileTokens: number;
  private readonly invFreq: DeviceBuffer;
  private readonly partM: DeviceBuffer;
  private readonly partL: DeviceBuffer;
  private readonly partAcc: DeviceBuffer;
  readonly out: DeviceBuffer;
  private readonly finalM: DeviceBuffer;
  private readonly finalL: DeviceBuffer;
  private readonly scores: DeviceBuffer | null;
  private readonly sums: DeviceBuffer | null;
  readonly errorWord: DeviceBuffer;
  private readonly scale: number;

  constructor(
    private readonly device: CudaDevice,
    private readonly geometry: KvGeometry,
    private readonly attrs: Pick<AttentionAttrs, 'keysPreRope' | 'scale'>,
    private readonly options: AttentionRunnerOptions,
  ) {
    const qh = geometry.queryHeads;
    const hidden = queryHidden(geometry);
    if (hidden > MAX_QUERY_HIDDEN) {
      throw new SkvqError(
        'UNSUPPORTED_OPTION',
        `cuda attention: queryHeads * headDim = ${hidden}; the fused kernel supports at most ${MAX_QUERY_HIDDEN}`,
      );
    }
    this.tileTokens = chooseTileTokens(geometry, device.info.maxSharedBytesPerBlock);
    this.scale = Math.fround(attrs.scale ?? 1 / Math.sqrt(geometry.headDim));
    const half = Math.max(1, geometry.headDim / 2);
    const inv =
      geometry.rope.style === 'none'
        ? new Float64Array(half)
        : ropeInverseFrequencies(geometry.headDim, geometry.rope.theta);
    this.invFreq = device.upload(inv);
    // numQueries * chunks <= max(numQueries, SMs * BLOCKS_PER_SM) (chooseChunkLength).
    const parts = Math.max(options.maxQueries, device.info.multiprocessors * BLOCKS_PER_SM);
    this.partM = device.alloc(4 * parts * qh);
    this.partL = device.alloc(4 * parts * qh);
    this.partAcc = device.alloc(4 * parts * hidden);
    this.out = device.alloc(4 * options.maxQueries * hidden);
    this.finalM = device.alloc(4 * options.maxQueries * qh);
    this.finalL = device.alloc(4 * options.maxQueries * qh);
    this.scores = options.withSums
      ? device.alloc(4 * options.maxQueries * options.maxLength * qh)
      : null;
    this.sums = options.withSums ? device.alloc(4 * options.maxLength) : null;
    this.errorWord = device.alloc(4).fill(0);
  }

  /** Enqueues one attention (asynchronous: read results after device.synchronize()). */
  enqueue(call: AttentionCall): { chunkLength: number; chunks: number } {
    const { geometry, device } = this;
    if (call.numQueries > this.options.maxQueries || call.length > this.options.maxLength) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `AttentionRunner: ${call.numQueries} queries over ${call.length} positions exceed its capacity (${this.options.maxQueries} x ${this.options.maxLength})`,
      );
    }
    const chunkLength = chooseChunkLength(
      call.length,
      call.numQueries,
      this.tileTokens,
      device.info.multiprocessors,
    );
    const chunks = Math.ceil(call.length / chunkLength);
    const partial = new KernelArgs()
      .ptr(call.q)
      .ptr(call.keys.descriptors)
      .ptr(call.keys.locations)
      .ptr(call.values.descriptors)
      .ptr(call.values.locations)
      .i32(call.length)
      .i32(call.start)
      .i32(call.causal ? 1 : 0)
      .i32(geometry.queryHeads)
      .i32(geometry.kvHeads)
      .i32(geometry.headDim)
      .i32(ROPE_CODES[geometry.rope.style])
      .i32(this.attrs.keysPreRope ? 1 : 0)
      .ptr(this.invFreq)
      .f32(this.scale)
      .i32(chunkLength)
      .i32(this.tileTokens)
      .ptr(this.partM)
      .ptr(this.partL)
      .ptr(this.partAcc)
      .ptr(this.scores)
      .ptr(this.errorWord);
    device.launch(
      'attention',
      'skvq_attend_partial',
      {
        grid: [chunks, call.numQueries],
        block: [ATTENTION_THREADS],
        sharedBytes: attendSharedBytes(geometry, this.tileTokens),
      },
      partial,
    );
    const reduce = new KernelArgs()
      .ptr(this.partM)
      .ptr(this.partL)
      .ptr(this.partAcc)
      .i32(chunks)
      .i32(geometry.queryHeads)
      .i32(geometry.headDim)
      .ptr(this.out)
      .ptr(this.finalM)
      .ptr(this.finalL);
    device.launch(
      'attention',
      'skvq_attend_reduce',
      { grid: [geometry.queryHeads, call.numQueries], block: [Math.min(geometry.headDim, 128)] },
      reduce,
    );
    if (this.scores && this.sums) {
      const sums = new KernelArgs()
        .ptr(this.scores)
        .ptr(this.finalM)
        .ptr(this.finalL)
        .i32(call.numQueries)
        .i32(call.length)
        .i32(call.start)
        .i32(call.causal ? 1 : 0)
        .i32(geometry.queryHeads)
        .ptr(this.sums);
      device.launch(
        'attention',
        'skvq_attention_sums',
        { grid: [Math.ceil(call.length / 256)], block: [256] },
        sums,
      );
    }
    return { chunkLength, chunks };
  }

  /** Synchronizes, checks the kernels' error word and downloads the output. */
  finish(numQueries: number): Float32Array {
    this.device.synchronize();
    const word = this.errorWord.download(new Uint32Array(1))[0]!;
    if (word !== 0) {
      this.errorWord.fill(0);
      throwKernelErrors(word, 'cuda attention');
    }
    return this.out.download(new Float32Array(numQueries * queryHidden(this.geometry)));
  }

  /** The attention sums of the last call (withSums only), [length]. */
  readSums(length: number): Float32Array {
    if (!this.sums) {
      throw new SkvqError('INVALID_ARGUMENT', 'AttentionRunner: created without withSums');
    }
    return this.sums.download(new Float32Array(length));
  }

  dispose(): void {
    for (const b of [
      this.invFreq,
      this.partM,
      this.partL,
      this.partAcc,
      this.out,
      this.finalM,
      this.finalL,
      this.scores,
      this.sums,
      this.errorWord,
    ]) {
      b?.dispose();
    }
  }
}
