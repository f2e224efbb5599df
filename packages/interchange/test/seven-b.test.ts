import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reorderCalibrator } from '@skvq/calibrator-reorder';
import {
  type CalibrationArtifact,
  type KvGeometry,
  kvHidden,
  mulberry32,
  parseCalibration,
  serializeCalibration,
} from '@skvq/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  calibrateFromActivations,
  captureMetadata,
  openActivations,
  readCalibrationExport,
  type TensorToWrite,
  toHalfBits,
  writeCalibrationExports,
  writeSafetensors,
} from '../src/index.js';

/**
 * The geometry the paper cares about: Llama-2-7B's KV (32 layers, 32 KV heads x head dim
 * 128 = 4096 channels per layer), 4096 captured tokens in F16 without queries: a 2 GiB
 * safetensors file written and streamed by this test. Each layer's K and V have a few
 * outlier channels (about 15x the others' range), which SKVQ's reordering must isolate.
 */
const geometry: KvGeometry = {
  layers: 32,
  queryHeads: 32,
  kvHeads: 32,
  headDim: 128,
  rope: { style: 'half', theta: 10000 },
};
const C = kvHidden(geometry);
const TOKENS = 4096;
const OUTLIERS_PER_LAYER = 4;
const ROWS_PER_CHUNK = 256;

/** 65,536 float16 bit patterns of N(0, scale^2) (+ offset), indexed by 16 random bits. */
function gaussianHalves(seed: number, scale: number, offset: number): Uint16Array {
  const rnd = mulberry32(seed);
  return Uint16Array.from({ length: 65536 }, () => {
    const g = Math.sqrt(-2 * Math.log(rnd() + 1e-12)) * Math.cos(2 * Math.PI * rnd());
    return toHalfBits(g * scale + offset);
  });
}
const NORMAL = gaussianHalves(1, 1, 0);
const OUTLIER = gaussianHalves(2, 15, 0);
const SHIFTED = gaussianHalves(3, 4, 40);

/** Distinct outlier channels of (layer, stream), spread over heads. */
function outlierChannels(layer: number, stream: 'k' | 'v'): number[] {
  const rnd = mulberry32(1000 + 2 * layer + (stream === 'v' ? 1 : 0));
  const set = new Set<number>();
  while (set.size < OUTLIERS_PER_LAYER) set.add(Math.floor(rnd() * C));
  return [...set].sort((a, b) => a - b);
}

function tensorFor(layer: number, stream: 'k' | 'v'): TensorToWrite {
  const outliers = outlierChannels(layer, stream);
  return {
    name: `layers.${layer}.${stream}`,
    dtype: 'F16',
    shape: [TOKENS, C],
    data: (emit) => {
      let x = (layer * 7919 + (stream === 'v' ? 104729 : 0) + 1) >>> 0;
      const chunk = new Uint16Array(ROWS_PER_CHUNK * C);
      for (let t0 = 0; t0 < TOKENS; t0 += ROWS_PER_CHUNK) {
        // one tight loop for the normal channels, then the few outlier columns on top
        for (let i = 0; i < chunk.length; i++) {
          x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
          chunk[i] = NORMAL[x >>> 16]!;
        }
        for (let r = 0; r < ROWS_PER_CHUNK; r++) {
          outliers.forEach((c, i) => {
            x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
            chunk[r * C + c] = (i === 0 ? SHIFTED : OUTLIER)[x >>> 16]!;
          });
        }
        emit(chunk);
      }
    },
  };
}

describe('a synthetic Llama-2-7B-geometry capture (32 x 4096 channels, 4096 tokens, F16)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skvq-7b-'));
  const file = join(dir, 'capture-7b.safetensors');
  let artifact: CalibrationArtifact;
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  beforeAll(async () => {
    const tensors: TensorToWrite[] = [];
    for (let l = 0; l < geometry.layers; l++) tensors.push(tensorFor(l, 'k'), tensorFor(l, 'v'));
    writeSafetensors(file, tensors, captureMetadata({ geometry, source: 'synthetic 7B geometry' }));
    const plan = openActivations([file]);
    expect(plan.hasQueries).toBe(false);
    artifact = await calibrateFromActivations(plan, {
      calibrator: reorderCalibrator,
      bits: { k: 2, v: 2 },
      meta: 'fp16',
      groupSize: 128,
      grouping: 'cluster',
      alphaGrid: [0.9, 1],
      seed: 0,
      restarts: 1,
      // the clip search's attention costs tokens^2 x 4096 per layer and grid value
      extra: { sampleTokens: 32 },
    });
  }, 900_000);

  it('is over 1 GiB on disk and every token was counted', () => {
    expect(statSync(file).size).toBeGreaterThan(2 * TOKENS * C * 2 * geometry.layers);
    expect(artifact.data).toEqual({ source: 'synthetic 7B geometry', tokens: TOKENS });
  });

  it('puts the outlier channels of every layer in their own small groups', () => {
    const failures: string[] = [];
    artifact.layers.forEach((layer, l) => {
      for (const stream of ['k', 'v'] as const) {
        const outliers = new Set(outlierChannels(l, stream));
        const { perm, groupOffsets } = layer[stream];
        for (let g = 0; g + 1 < groupOffsets.length; g++) {
          const members = perm.slice(groupOffsets[g], groupOffsets[g + 1]);
          const hits = members.filter((c) => outliers.has(c)).length;
          if (hits > 0 && hits !== members.length) {
            failures.push(
              `layer ${l} ${stream} group ${g}: ${hits} outliers among ${members.length} channels`,
            );
          }
        }
      }
    });
    expect(failures).toEqual([]);
    // the normal channels fill the other ~31 groups (nominal size 128)
    expect(artifact.layers[0]!.k.groupOffsets.length - 1).toBeGreaterThan(20);
  });

  it('round-trips through parseCalibration and through the safetensors / .npy exports', () => {
    const text = serializeCalibration(artifact);
    const parsed = parseCalibration(text, { geometry });
    expect(serializeCalibration(parsed)).toBe(text);
    const json = join(dir, 'calib.json');
    const [st, npy] = writeCalibrationExports(artifact, json, ['safetensors', 'npy']);
    for (const path of [st!, npy!]) {
      const ex = readCalibrationExport(path);
      expect(ex.metadata).toMatchObject({
        layers: '32',
        kv_heads: '32',
        head_dim: '128',
        group_size: '128',
      });
      const perm = ex.tensors.get('v.perm')!;
      expect(perm.shape).toEqual([32, C]);
      expect(Array.from(perm.data.subarray(31 * C, 32 * C))).toEqual(artifact.layers[31]!.v.perm);
      const offsets = ex.tensors.get('k.group_offsets')!;
      const counts = ex.tensors.get('k.group_count')!.data;
      const width = offsets.shape[1]!;
      artifact.layers.forEach((l, i) => {
        expect(counts[i]).toBe(l.k.groupOffsets.length - 1);
        expect(Array.from(offsets.data.subarray(i * width, i * width + counts[i]! + 1))).toEqual(
          l.k.groupOffsets,
        );
      });
      expect(Array.from(ex.tensors.get('k.alpha')!.data)).toEqual(
        artifact.layers.map((l) => l.k.alpha),
      );
    }
  });
});
