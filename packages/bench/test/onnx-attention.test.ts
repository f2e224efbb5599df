import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { denseAttentionModel } from '../src/onnx-attention.js';
import { randomTokens } from '../src/setup.js';

/** float32 MatMul/Softmax against a float64 reference. */
const TOLERANCE = 1e-5;

describe('the hand-encoded ONNX attention graph', () => {
  it('loads in onnxruntime-node and computes softmax(q kT) v', async () => {
    const H = 3;
    const D = 4;
    const n = 7;
    const q = randomTokens(1, H * D, 1);
    const kT = randomTokens(1, H * D * n, 2);
    const v = randomTokens(1, H * n * D, 3);
    const session = await ort.InferenceSession.create(denseAttentionModel(H, D));
    const out = (
      await session.run({
        q: new ort.Tensor('float32', q, [H, 1, D]),
        kT: new ort.Tensor('float32', kT, [H, D, n]),
        v: new ort.Tensor('float32', v, [H, n, D]),
      })
    ).out!.data as Float32Array;
    await session.release();
    for (let h = 0; h < H; h++) {
      const s = Array.from({ length: n }, (_, t) => {
        let x = 0;
        for (let d = 0; d < D; d++) x += q[h * D + d]! * kT[(h * D + d) * n + t]!;
        return x;
      });
      const mx = Math.max(...s);
      const w = s.map((x) => Math.exp(x - mx));
      const z = w.reduce((a, b) => a + b, 0);
      for (let d = 0; d < D; d++) {
        let want = 0;
        for (let t = 0; t < n; t++) want += (w[t]! / z) * v[(h * n + t) * D + d]!;
        expect(Math.abs(out[h * D + d]! - want)).toBeLessThan(TOLERANCE);
      }
    }
  });
});
