import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reorderCalibrator } from '@skvq/calibrator-reorder';
import {
  applyRope,
  type CalibrationBatch,
  type KvGeometry,
  kvHidden,
  mulberry32,
  queryHidden,
  serializeCalibration,
} from '@skvq/core';
import { afterAll, describe, expect, it } from 'vitest';
import {
  calibrateFromActivations,
  captureMetadata,
  captureTensors,
  openActivations,
  streamActivations,
  type TensorToWrite,
  writeNpy,
  writeSafetensors,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'skvq-interchange-act-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const geometry: KvGeometry = {
  layers: 3,
  queryHeads: 4,
  kvHeads: 2,
  headDim: 8,
  rope: { style: 'half', theta: 10000 },
};
const KW = kvHidden(geometry);
const QW = queryHidden(geometry);
/** Two sequences: positions 0..39 then 0..29. */
const POSITIONS = Int32Array.from([...Array(40).keys(), ...Array(30).keys()]);
const T = POSITIONS.length;

/** Batches as the adapter's onActivations hands them out: one per layer per sequence. */
function syntheticBatches(seed = 7): CalibrationBatch[] {
  const rnd = mulberry32(seed);
  const gauss = () => Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
  const out: CalibrationBatch[] = [];
  for (const [from, to] of [
    [0, 40],
    [40, 70],
  ] as const) {
    for (let layer = 0; layer < geometry.layers; layer++) {
      const n = to - from;
      const scale = (c: number) => (c === 3 + layer ? 12 : 1 + (c % 5) / 2);
      out.push({
        layer,
        count: n,
        q: Float32Array.from({ length: n * QW }, () => gauss()),
        k: Float32Array.from({ length: n * KW }, (_, i) => gauss() * scale(i % KW)),
        v: Float32Array.from({ length: n * KW }, (_, i) => gauss() * scale((i + 5) % KW)),
        positions: POSITIONS.slice(from, to),
      });
    }
  }
  return out;
}

const settings = {
  bits: { k: 2, v: 2 } as const,
  meta: 'fp16' as const,
  groupSize: 4,
  grouping: 'cluster' as const,
  alphaGrid: [0.8, 0.9, 1],
  seed: 3,
};
const MODEL = { name: 'synthetic', fingerprint: 'sha256:test' };

async function direct(batches: readonly CalibrationBatch[]): Promise<string> {
  const session = reorderCalibrator.createSession({
    ...settings,
    geometry,
    model: MODEL,
    source: 'unit',
  });
  for (const b of batches) session.observe(b);
  return serializeCalibration(await session.finish());
}

async function fromFiles(paths: string[], overrides = {}): Promise<string> {
  const plan = openActivations(paths, overrides);
  return serializeCalibration(
    await calibrateFromActivations(plan, { ...settings, calibrator: reorderCalibrator }),
  );
}

const META = captureMetadata({ geometry, model: MODEL, source: 'unit' });

describe('calibration from activation files equals calibration from the batches', () => {
  const batches = syntheticBatches();

  it('safetensors F32 (q, k, v, positions) gives a byte-identical artifact', async () => {
    const f = join(dir, 'cap.safetensors');
    writeSafetensors(f, captureTensors(batches), META);
    expect(await fromFiles([f])).toBe(await direct(batches));
  });

  it('a folder of .npy files with metadata.json, and layers sharded over two safetensors files', async () => {
    const folder = join(dir, 'npy');
    mkdirSync(folder);
    for (const t of captureTensors(batches)) writeNpy(join(folder, `${t.name}.npy`), t);
    writeFileSync(join(folder, 'metadata.json'), JSON.stringify(META));
    const expected = await direct(batches);
    expect(await fromFiles([folder])).toBe(expected);
    const all = captureTensors(batches);
    const pos = all.find((t) => t.name === 'positions')!;
    const a = join(dir, 'shard-a.safetensors');
    const b = join(dir, 'shard-b.safetensors');
    writeSafetensors(a, [...all.filter((t) => /^layers\.[01]\./.test(t.name)), pos], META);
    writeSafetensors(b, [...all.filter((t) => /^layers\.2\./.test(t.name)), pos], META);
    expect(await fromFiles([a, b])).toBe(expected);
  });

  it('batches never join two sequences, whatever the chunking', () => {
    const f = join(dir, 'cap.safetensors');
    const seen: Array<[number, number]> = [];
    streamActivations(openActivations([f]), (b) => seen.push([b.positions[0]!, b.count]));
    expect(seen).toEqual(
      [...Array(geometry.layers)].flatMap(() => [
        [0, 40],
        [0, 30],
      ]),
    );
  });

  it('post-RoPE keys and queries are rotated back: same groups and alphas as pre-RoPE', async () => {
    const rotated = batches.map((b) => {
      const q = b.q.slice();
      const k = b.k.slice();
      for (let t = 0; t < b.count; t++) {
        applyRope(q, t * QW, geometry.queryHeads, geometry.headDim, geometry.rope, b.positions[t]!);
        applyRope(k, t * KW, geometry.kvHeads, geometry.headDim, geometry.rope, b.positions[t]!);
      }
      return { ...b, q, k };
    });
    const f = join(dir, 'post.safetensors');
    writeSafetensors(f, captureTensors(rotated), { ...META, keys: 'post-rope' });
    const pre = JSON.parse(await direct(batches));
    const post = JSON.parse(await fromFiles([f]));
    for (let l = 0; l < geometry.layers; l++) {
      for (const s of ['k', 'v'] as const) {
        expect(post.layers[l][s].perm).toEqual(pre.layers[l][s].perm);
        expect(post.layers[l][s].groupOffsets).toEqual(pre.layers[l][s].groupOffsets);
        expect(post.layers[l][s].alpha).toBe(pre.layers[l][s].alpha);
        post.layers[l][s].alphaSearch.errors.forEach((e: number, i: number) => {
          expect(e).toBeCloseTo(pre.layers[l][s].alphaSearch.errors[i], 5);
        });
      }
    }
    // calibrating the rotated keys as if they were pre-RoPE does change the statistics
    const asIs = JSON.parse(
      await fromFiles([f], { keys: 'pre-rope' }).catch((e) => JSON.stringify({ error: String(e) })),
    );
    expect(asIs.error).toMatch(/--keys pre-rope disagrees with metadata keys/);
  });

  it('without queries the keys stand in for them; geometry comes from 3-D shapes and flags', async () => {
    const kv = captureTensors(batches, { queries: false, dtype: 'BF16' }).map(
      (t): TensorToWrite =>
        t.name === 'positions' ? t : { ...t, shape: [T, geometry.kvHeads, geometry.headDim] },
    );
    const f = join(dir, 'kv-only.safetensors');
    writeSafetensors(f, kv);
    const plan = openActivations([f], { queryHeads: 4, ropeStyle: 'half', ropeTheta: 10000 });
    expect(plan.geometry).toEqual(geometry);
    expect(plan.hasQueries).toBe(false);
    const artifact = await calibrateFromActivations(plan, {
      ...settings,
      calibrator: reorderCalibrator,
    });
    expect(artifact.data.tokens).toBe(T);
    expect(artifact.model.fingerprint).toMatch(/unknown/);
    // the outlier channel of each layer's keys is alone in its group
    artifact.layers.forEach((l, i) => {
      const j = l.k.perm.indexOf(3 + i);
      const g = l.k.groupOffsets.findIndex((o, x) => o <= j && j < l.k.groupOffsets[x + 1]!);
      expect(l.k.groupOffsets[g + 1]! - l.k.groupOffsets[g]!).toBe(1);
    });
  });
});

describe('bad captures are typed errors naming the file, the tensor and what was expected', () => {
  const batches = syntheticBatches(11);
  const base = captureTensors(batches);
  const write = (name: string, tensors: TensorToWrite[], meta: Record<string, string> = META) => {
    const f = join(dir, name);
    writeSafetensors(f, tensors, meta);
    return f;
  };
  const replace = (name: string, t: Partial<TensorToWrite>) =>
    base.map((x) => (x.name === name ? { ...x, ...t } : x));
  const failure = async (f: string, overrides = {}) => {
    try {
      await fromFiles([f], overrides);
    } catch (e) {
      return e as { code: string; message: string; details: Record<string, unknown> };
    }
    throw new Error('expected a failure');
  };

  it('wrong dtype', async () => {
    const f = write(
      'dtype.safetensors',
      replace('layers.1.v', { dtype: 'I32', data: new Int32Array(T * KW) }),
    );
    const e = await failure(f);
    expect(e).toMatchObject({
      code: 'FILE_UNSUPPORTED_TYPE',
      details: { file: f, tensor: 'layers.1.v' },
    });
    expect(e.message).toMatch(/dtype I32; expected one of F32, F16, BF16/);
  });

  it('wrong shape', async () => {
    const f = write('shape.safetensors', replace('layers.0.k', { shape: [T * 2, KW / 2] }));
    const e = await failure(f);
    expect(e).toMatchObject({ code: 'SHAPE_MISMATCH', details: { file: f, tensor: 'layers.0.k' } });
    expect(e.message).toMatch(/shape \[140, 8\]; expected \[tokens, 16\] or \[tokens, 2, 8\]/);
  });

  it('missing layers', async () => {
    const f = write(
      'missing.safetensors',
      base.filter((t) => !t.name.startsWith('layers.1.')),
    );
    const e = await failure(f);
    expect(e).toMatchObject({
      code: 'FILE_MISSING_KEY',
      details: { tensor: 'layers.1.k', expected: 3 },
    });
    const g = write(
      'missing-v.safetensors',
      base.filter((t) => t.name !== 'layers.2.v'),
    );
    expect(await failure(g)).toMatchObject({
      code: 'FILE_MISSING_KEY',
      details: { file: g, tensor: 'layers.2.v' },
    });
  });

  it('NaN and Inf, found while streaming', async () => {
    const k = new Float32Array(T * KW);
    k[45 * KW + 3] = Number.NaN;
    const f = write('nan.safetensors', replace('layers.2.k', { data: k }));
    const e = await failure(f);
    expect(e).toMatchObject({
      code: 'NON_FINITE_INPUT',
      details: { file: f, tensor: 'layers.2.k', row: 45, column: 3 },
    });
    const v = new Float32Array(T * KW);
    v[7] = Number.POSITIVE_INFINITY;
    const g = write('inf.safetensors', replace('layers.0.v', { dtype: 'F16', data: v }));
    expect(await failure(g)).toMatchObject({
      code: 'NON_FINITE_INPUT',
      details: { tensor: 'layers.0.v', row: 0, column: 7 },
    });
  });

  it('mismatched K/V token counts, and positions of another length', async () => {
    const f = write(
      'tokens.safetensors',
      replace('layers.1.v', { shape: [T - 1, KW], data: new Float32Array((T - 1) * KW) }),
    );
    const e = await failure(f);
    expect(e).toMatchObject({
      code: 'SHAPE_MISMATCH',
      details: { file: f, tensor: 'layers.1.v', expected: T, actual: T - 1 },
    });
    const g = write(
      'positions.safetensors',
      replace('positions', { shape: [5], data: new Int32Array(5) }),
    );
    expect(await failure(g)).toMatchObject({
      code: 'SHAPE_MISMATCH',
      details: { tensor: 'positions', expected: [T] },
    });
  });

  it('geometry that is unknown or that a flag contradicts', async () => {
    const f = write('nometa.safetensors', base, {});
    expect((await failure(f)).message).toMatch(
      /KV heads and head dim .* are unknown: pass --kv-heads/,
    );
    const e = await failure(write('meta.safetensors', base), { kvHeads: 4 });
    expect(e.message).toMatch(
      /--kv-heads 4 disagrees with metadata kv_heads of .*meta\.safetensors \(2\)/,
    );
    expect((await failure(f, { kvHeads: 2, headDim: 8 })).message).toMatch(
      /RoPE style .* is unknown/,
    );
  });
});
