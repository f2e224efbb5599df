// Store quantize kernels, bit for bit the reference quantizers, and their errors.
import {
  type BitWidth,
  type ChannelBlockLayout,
  type MetaFormat,
  metaBytesPerUnit,
  rowCodeBytes,
  type StoreView,
} from '@skvq/core';
import { quantizeBlockReference, quantizeTokensReference } from '@skvq/formats';
import type { WebgpuBackend } from '../src/index.js';
import { expectBytes, expectCode, fail, fp16Bits, fp16Round, tokenLayout } from './check-common.js';
import { activations, rng } from './random-data.js';
import { bytesOf, place } from './store-fixture.js';

/** A page buffer pre-filled with junk, and its host mirror. */
export function page(
  backend: WebgpuBackend,
  bytes: number,
  fill: number,
): { view: StoreView; host: Uint8Array } {
  const host = new Uint8Array(bytes).fill(fill);
  const view = place(backend.storage, host, 4);
  return { view, host };
}

export async function readAll(backend: WebgpuBackend, view: StoreView): Promise<Uint8Array> {
  return backend.storage.read(view);
}

export function sub(view: StoreView, byteOffset: number, byteLength: number): StoreView {
  return { buffer: view.buffer, byteOffset: view.byteOffset + byteOffset, byteLength };
}

export type Source = 'host' | 'fp32 rows' | 'fp16 rows';

export function xFor(backend: WebgpuBackend, x: Float32Array, source: Source) {
  if (source === 'host') return { x, want: x };
  if (source === 'fp32 rows') {
    return {
      x: { view: place(backend.storage, bytesOf(x), 20), precision: 'fp32' as const },
      want: x,
    };
  }
  return {
    x: { view: place(backend.storage, bytesOf(fp16Bits(x)), 22), precision: 'fp16' as const },
    want: fp16Round(x),
  };
}

export const TOKEN_CASES: { bits: BitWidth; meta: MetaFormat; source: Source }[] = [
  { bits: 3, meta: 'fp8e4m3', source: 'fp16 rows' },
  { bits: 1.5, meta: 'fp16', source: 'fp32 rows' },
  { bits: 2, meta: 'fp32', source: 'host' },
  { bits: 4, meta: 'fp8e4m3', source: 'fp32 rows' },
];

export async function quantizeTokensExact(
  backend: WebgpuBackend,
  c: (typeof TOKEN_CASES)[number],
): Promise<string> {
  const C = 45; // rows of 45 codes are not 4-byte aligned at any bit width
  const random = rng(200 + C + c.bits * 10 + c.meta.length);
  const layout = tokenLayout(C, c.bits, c.meta, random);
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  const T = 12;
  const codes = page(backend, T * rowBytes + 8, 0x3c);
  const meta = page(backend, T * metaBytes + 8, 0x77);
  // Two batches: tokens 1..5 then 6..10, at row offsets inside the page (mid-word).
  let done = 1;
  for (const n of [5, 5]) {
    const x = activations(random, n, C);
    const { x: xs, want } = xFor(backend, x, c.source);
    quantizeTokensReference(
      layout,
      want,
      n,
      codes.host,
      done * rowBytes,
      meta.host,
      done * metaBytes,
    );
    await backend.storage.kernels.quantizeTokens?.({
      layout,
      x: xs,
      count: n,
      codes: sub(codes.view, done * rowBytes, n * rowBytes),
      meta: sub(meta.view, done * metaBytes, n * metaBytes),
    });
    done += n;
  }
  expectBytes(await readAll(backend, codes.view), codes.host, 'codes page');
  expectBytes(await readAll(backend, meta.view), meta.host, 'meta page');
  return `${done - 1} tokens, rows of ${rowBytes} B, bit exact`;
}

export async function quantizeBlockExact(
  backend: WebgpuBackend,
  bits: BitWidth,
  meta: MetaFormat,
  source: Source,
): Promise<string> {
  const random = rng(300 + bits * 7 + meta.length);
  const layout: ChannelBlockLayout = {
    kind: 'channel-block',
    channels: 37,
    bits,
    meta,
    blockTokens: 8,
    alpha: 1,
  };
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  const codes = page(backend, 2 * 8 * rowBytes + 6, 0x11);
  const metas = page(backend, 2 * metaBytes + 6, 0x22);
  for (let blk = 0; blk < 2; blk++) {
    const x = activations(random, 8, 37);
    const { x: xs, want } = xFor(backend, x, source);
    quantizeBlockReference(
      layout,
      want,
      0,
      codes.host,
      2 + blk * 8 * rowBytes,
      metas.host,
      2 + blk * metaBytes,
    );
    await backend.storage.kernels.quantizeBlock?.({
      layout,
      x: xs,
      codes: sub(codes.view, 2 + blk * 8 * rowBytes, 8 * rowBytes),
      meta: sub(metas.view, 2 + blk * metaBytes, metaBytes),
    });
  }
  expectBytes(await readAll(backend, codes.view), codes.host, 'block codes');
  expectBytes(await readAll(backend, metas.view), metas.host, 'block meta');
  return `2 blocks of 8 x 37, bit exact`;
}

export async function quantizeErrors(backend: WebgpuBackend): Promise<string> {
  const random = rng(400);
  const C = 32;
  const layout = tokenLayout(C, 2, 'fp8e4m3', random);
  const rowBytes = rowCodeBytes(layout);
  const metaBytes = metaBytesPerUnit(layout);
  const codes = page(backend, 4 * rowBytes, 0x5a);
  const meta = page(backend, 4 * metaBytes, 0x5a);
  // Non-finite rows already on the device: nothing is written.
  const x = activations(random, 3, C);
  x[C + 3] = Number.POSITIVE_INFINITY;
  const rows = { view: place(backend.storage, bytesOf(x)), precision: 'fp32' as const };
  await expectCode(
    backend.storage.kernels.quantizeTokens?.({
      layout,
      x: rows,
      count: 3,
      codes: codes.view,
      meta: meta.view,
    }),
    'NON_FINITE_INPUT',
    'an Infinity in device rows',
  );
  expectBytes(await readAll(backend, codes.view), codes.host, 'codes after a rejected batch');
  // Beyond fp8's range at token 1: like the reference, token 0 is written, then it throws.
  const big = activations(random, 3, C);
  for (let ch = 0; ch < C; ch++) big[C + ch] = 1e6 * (ch % 2 === 0 ? 1 : -1);
  let refCode: string | undefined;
  try {
    quantizeTokensReference(layout, big, 3, codes.host, 0, meta.host, 0);
  } catch (e) {
    refCode = (e as { code?: string }).code;
  }
  if (refCode === undefined) fail('the reference accepted out-of-range activations');
  await expectCode(
    backend.storage.kernels.quantizeTokens?.({
      layout,
      x: { view: place(backend.storage, bytesOf(big)), precision: 'fp32' },
      count: 3,
      codes: codes.view,
      meta: meta.view,
    }),
    refCode,
    'a scale beyond fp8',
  );
  expectBytes(await readAll(backend, codes.view), codes.host, 'codes after a range error');
  expectBytes(await readAll(backend, meta.view), meta.host, 'meta after a range error');
  return `non-finite rows: NON_FINITE_INPUT, nothing written; fp8 overflow: ${refCode}, earlier tokens written`;
}
