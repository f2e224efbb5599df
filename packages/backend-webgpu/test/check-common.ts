import { cpuReferenceBackend } from '@skvq/backend-cpu';
import {
  type AttentionAttrs,
  type BitWidth,
  contiguousGroupOffsets,
  type KvSegment,
  type MetaFormat,
  type TokenGroupLayout,
  type TransferStats,
} from '@skvq/core';
import { decodeFp16, encodeFp16 } from '@skvq/formats';
import type { WebgpuBackend } from '../src/index.js';
import { permutation } from './random-data.js';

/** Assertions and shared data of the store checks (no test runner: they throw). */

/** One check: throws on a failure, returns a line for the log. */
export interface StoreCheck {
  name: string;
  run(backend: WebgpuBackend): Promise<string>;
}

/** Float32 GPU attention against the float64 reference (the package's tolerance). */
export const ATTENTION_TOLERANCE = 1e-4;

export type AttendReference = (
  inputs: {
    q: Float32Array;
    position?: number;
    start?: number;
    count?: number;
    keys: readonly KvSegment[];
    values: readonly KvSegment[];
    length: number;
    attentionSums?: Float32Array;
  },
  attrs: AttentionAttrs,
) => Float32Array;
export const attendDecodeReference = cpuReferenceBackend.kernels
  .attendDecode as unknown as AttendReference;
export const attendPrefillReference = cpuReferenceBackend.kernels
  .attendPrefill as unknown as AttendReference;

export function fail(message: string): never {
  throw new Error(message);
}

export function expectBytes(got: Uint8Array, want: Uint8Array, what: string): void {
  if (got.length !== want.length) fail(`${what}: ${got.length} bytes, want ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) fail(`${what}: byte ${i} is ${got[i]}, want ${want[i]}`);
  }
}

export function maxRelativeError(got: Float32Array, want: Float32Array): number {
  if (got.length !== want.length) return Number.POSITIVE_INFINITY;
  let scale = 0;
  for (const w of want) scale = Math.max(scale, Math.abs(w));
  let err = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs((got[i] as number) - (want[i] as number));
    err = Number.isNaN(d) ? Number.POSITIVE_INFINITY : Math.max(err, d);
  }
  return err / scale;
}

export function expectClose(got: Float32Array, want: Float32Array, what: string): number {
  const e = maxRelativeError(got, want);
  if (!(e < ATTENTION_TOLERANCE)) fail(`${what}: relative error ${e} >= ${ATTENTION_TOLERANCE}`);
  return e;
}

export async function expectCode(
  p: Promise<unknown> | unknown,
  code: string,
  what: string,
): Promise<void> {
  let error: unknown;
  try {
    await p;
  } catch (e) {
    error = e;
  }
  const got = (error as { code?: string } | undefined)?.code;
  if (got !== code)
    fail(
      `${what}: want a ${code} error, got ${error === undefined ? 'none' : `${got}: ${String(error)}`}`,
    );
}

export function delta(after: TransferStats, before: TransferStats): TransferStats {
  return {
    bytesToDevice: after.bytesToDevice - before.bytesToDevice,
    bytesFromDevice: after.bytesFromDevice - before.bytesFromDevice,
  };
}

export function randomBytes(random: () => number, n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(random() * 256));
}

export const fp16Round = (x: Float32Array) => x.map((v) => decodeFp16(encodeFp16(v)));
export const fp16Bits = (x: Float32Array) => Uint16Array.from(x, (v) => encodeFp16(v));

export function tokenLayout(
  C: number,
  bits: BitWidth,
  meta: MetaFormat,
  random: () => number,
): TokenGroupLayout {
  return {
    kind: 'token-group',
    channels: C,
    bits,
    meta,
    perm: permutation(random, C),
    groupOffsets: C === 45 ? new Uint32Array([0, 5, 19, 20, 33, 45]) : contiguousGroupOffsets(C, 8),
    alpha: 0.9,
  };
}
