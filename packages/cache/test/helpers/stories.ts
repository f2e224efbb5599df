// A tiny llama2.c "v0" reader for the layer-0 projections of stories260K (format in the
// shared PROVENANCE.md): real K/V activations for the cache tests, no runtime needed. Layer
// 0's k, v and q of a token depend only on its embedding: k = Wk . rmsnorm(x), etc.
import { readFileSync } from 'node:fs';
import type { KvGeometry } from '@skvq/core';
import { requireAsset, STORIES_GOLDEN, STORIES_MODEL } from '@skvq/test-assets';

/** RMSNorm epsilon of llama2.c (PROVENANCE.md). */
const RMS_EPS = 1e-5;

export interface Layer0 {
  geometry: KvGeometry;
  /** [n, kvHidden] pre-RoPE keys, [n, kvHidden] values, [n, dim] pre-RoPE queries. */
  project(ids: readonly number[]): { k: Float32Array; v: Float32Array; q: Float32Array };
}

export function loadStoriesLayer0(): Layer0 {
  const buf = readFileSync(requireAsset(STORIES_MODEL));
  const header = new Int32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + 28));
  const [dim, , layers, heads, kvHeads, vocab] = Array.from(header) as number[];
  const weights = new Float32Array(
    buf.buffer.slice(buf.byteOffset + 28, buf.byteOffset + buf.length - ((buf.length - 28) % 4)),
  );
  const headDim = dim! / heads!;
  const kvDim = kvHeads! * headDim;
  let at = 0;
  const take = (n: number) => {
    const out = weights.subarray(at, at + n);
    at += n;
    return out;
  };
  const emb = take(vocab! * dim!);
  const rmsAtt = take(layers! * dim!).subarray(0, dim!);
  const wq = take(layers! * dim! * dim!).subarray(0, dim! * dim!);
  const wk = take(layers! * kvDim * dim!).subarray(0, kvDim * dim!);
  const wv = take(layers! * kvDim * dim!).subarray(0, kvDim * dim!);
  const matvec = (w: Float32Array, rows: number, x: Float64Array, out: Float32Array, o: number) => {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < dim!; c++) s += w[r * dim! + c]! * x[c]!;
      out[o + r] = s;
    }
  };
  return {
    geometry: {
      layers: 1,
      queryHeads: heads!,
      kvHeads: kvHeads!,
      headDim,
      rope: { style: 'pairwise', theta: 10000 },
    },
    project(ids) {
      const n = ids.length;
      const k = new Float32Array(n * kvDim);
      const v = new Float32Array(n * kvDim);
      const q = new Float32Array(n * dim!);
      const xn = new Float64Array(dim!);
      ids.forEach((id, t) => {
        const x = emb.subarray(id * dim!, (id + 1) * dim!);
        let ss = 0;
        for (let c = 0; c < dim!; c++) ss += x[c]! * x[c]!;
        const inv = 1 / Math.sqrt(ss / dim! + RMS_EPS);
        for (let c = 0; c < dim!; c++) xn[c] = x[c]! * inv * rmsAtt[c]!;
        matvec(wk, kvDim, xn, k, t * kvDim);
        matvec(wv, kvDim, xn, v, t * kvDim);
        matvec(wq, dim!, xn, q, t * dim!);
      });
      return { k, v, q };
    },
  };
}

/** Golden token ids (greedy continuation from BOS) and the golden layer-0 K/V at position 0. */
export function storiesGolden(): { ids: number[]; k0: number[]; v0: number[] } {
  const golden = JSON.parse(readFileSync(requireAsset(STORIES_GOLDEN), 'utf8'));
  const sample = golden.kv_samples.layer0_pos0;
  return { ids: golden.greedy_from_bos.ids, k0: sample.k.flat(), v0: sample.v.flat() };
}
