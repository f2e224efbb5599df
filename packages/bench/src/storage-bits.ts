// Bits per element of the SKVQ cache with backend-owned storage (BENCHMARKS.md, section
// "Backend-owned storage: bits/element"). Two figures, each on the host path (cpuBackend,
// host storage) and on the device path (the opaque-store test backend: device storage
// without host views, the same CPU kernels behind it), which must hold the same bytes:
//   node dist/storage-bits.js layer 4096 32768 131072 1048576 [--device-up-to N]
//   node dist/storage-bits.js stories
// `layer`: one Llama-2-7B layer (core's LLAMA2_7B_LAYER), SKVQ K2 V1.5, group 128, fp8
// e4m3 scale/zero, window 128, sinks 5, fp16 window/sinks, random Gaussian tokens.
// `stories`: stories260K generating from "Once upon a time" with K2 V1.5, group 8, fp8,
// window 32, sinks 5; bytes after 50, 200 and 400 cached tokens.
import { generate, loadLlama2c } from '@skvq/adapter-llama';
import { createOpaqueStoreBackend } from '@skvq/backend-conformance';
import { cpuBackend } from '@skvq/backend-cpu';
import { createQuantizedCache, type QuantizedCache } from '@skvq/cache';
import {
  type BackendPlugin,
  CALIBRATION_FORMAT,
  CALIBRATION_VERSION,
  type CacheBytes,
  type CalibrationArtifact,
  type KvGeometry,
  kvHidden,
  LLAMA2_7B_LAYER,
  mulberry32,
  transferStatsOf,
} from '@skvq/core';
import { slidingWindowPolicy } from '@skvq/policy-sliding-window';
import { groupClipQuantizer } from '@skvq/quantizer-group-clip';
import { requireAsset, STORIES_MODEL, STORIES_TOKENIZER } from '@skvq/test-assets';

/** Identity order, equal groups: the bytes a cache holds do not depend on the permutation. */
function layoutCalibration(geometry: KvGeometry, groupSize: number): CalibrationArtifact {
  const channels = kvHidden(geometry);
  const stream = (bits: 2 | 1.5) => ({
    bits,
    perm: Array.from({ length: channels }, (_, i) => i),
    groupOffsets: Array.from({ length: channels / groupSize + 1 }, (_, g) => g * groupSize),
    alpha: 1,
  });
  return {
    format: CALIBRATION_FORMAT,
    version: CALIBRATION_VERSION,
    model: { name: 'layout only', fingerprint: 'synthetic:layout-only' },
    geometry,
    settings: {
      groupSize,
      grouping: 'equal',
      meta: 'fp8e4m3',
      seed: 0,
      restarts: 1,
      alphaGrid: [1],
    },
    data: { source: 'layout only', tokens: 0 },
    layers: Array.from({ length: geometry.layers }, () => ({ k: stream(2), v: stream(1.5) })),
  };
}

function skvqCache(
  geometry: KvGeometry,
  backend: BackendPlugin,
  groupSize: number,
  window: number,
): QuantizedCache {
  const spec = (bits: 2 | 1.5) => ({
    quantizer: groupClipQuantizer,
    bits,
    meta: 'fp8e4m3' as const,
    groupSize,
  });
  return createQuantizedCache({
    geometry,
    backend,
    keys: spec(2),
    values: spec(1.5),
    policy: slidingWindowPolicy,
    window,
    sinks: 5,
    calibration: layoutCalibration(geometry, groupSize),
    fpPrecision: 'fp16',
  });
}

interface Row {
  bits: number;
  heldBits: number;
  floorBits: number;
  bytes: CacheBytes;
}

/** Bits per element (allocated and held) and the floor: codes+meta per quantized element. */
function rowOf(cache: QuantizedCache): Row {
  const bytes = cache.bytes();
  const d = cache.describe();
  const ch = kvHidden(d.geometry);
  let quantized = 0;
  for (const l of d.layers) quantized += (l.quantized.k + l.quantized.v) * ch;
  return {
    bits: bytes.bitsPerElement,
    heldBits: (8 * (bytes.total - bytes.pageSlack)) / bytes.elements,
    floorBits: (8 * (bytes.codes + bytes.metadata)) / quantized,
    bytes,
  };
}

const PARTS = [
  'codes',
  'metadata',
  'positions',
  'window',
  'sinks',
  'keptFp',
  'permutations',
  'pageSlack',
] as const;

/** Each part's share of the bits per element. */
function breakdown(bytes: CacheBytes): string {
  return PARTS.filter((p) => bytes[p] > 0)
    .map((p) => `${p} ${((8 * bytes[p]) / bytes.elements).toFixed(4)}`)
    .join(', ');
}

function gaussianChunk(tokens: number, channels: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  const out = new Float32Array(tokens * channels);
  for (let i = 0; i < out.length; i += 2) {
    const u = Math.max(rand(), 1e-12);
    const r = Math.sqrt(-2 * Math.log(u));
    const t = 2 * Math.PI * rand();
    out[i] = r * Math.cos(t);
    if (i + 1 < out.length) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

async function layer(tokensList: number[], deviceUpTo: number): Promise<void> {
  const geometry = LLAMA2_7B_LAYER;
  const ch = kvHidden(geometry);
  // 512-token prefill chunks, as the CLI's long-context figure (positions grow the same way)
  const chunk = 512;
  // two chunks of random tokens, alternated (drawing 1M x 4096 Gaussians costs more than
  // quantizing them; the bytes held do not depend on the values)
  const pool = [1, 2].map((s) => ({
    k: gaussianChunk(chunk, ch, 10 * s),
    v: gaussianChunk(chunk, ch, 10 * s + 1),
  }));
  console.log(
    '| tokens | path | bits/element | held (no slack) | floor (codes+meta / quantized element) | breakdown (bits/element) | fill s |',
  );
  console.log('| -----: | ---- | ---: | ---: | ---: | ---- | ---: |');
  for (const tokens of tokensList) {
    const paths: [string, BackendPlugin][] = [['host (cpu)', cpuBackend]];
    if (tokens <= deviceUpTo)
      paths.push(['device (opaque-store)', createOpaqueStoreBackend(cpuBackend)]);
    const rows: Row[] = [];
    for (const [name, backend] of paths) {
      const cache = skvqCache(geometry, backend, 128, 128);
      const started = performance.now();
      for (let done = 0, i = 0; done < tokens; i++) {
        const n = Math.min(chunk, tokens - done);
        const p = pool[i % 2]!;
        await cache.append(0, p.k.subarray(0, n * ch), p.v.subarray(0, n * ch), n);
        done += n;
      }
      const seconds = (performance.now() - started) / 1000;
      const row = rowOf(cache);
      rows.push(row);
      const t = transferStatsOf(backend);
      const moved = t.bytesToDevice > 0 ? ` (uploaded ${t.bytesToDevice} B)` : '';
      console.log(
        `| ${tokens.toLocaleString('en-US')} | ${name}${moved} | ${row.bits.toFixed(4)} | ${row.heldBits.toFixed(4)} | ${row.floorBits.toFixed(4)} | ${breakdown(row.bytes)} | ${seconds.toFixed(1)} |`,
      );
      cache.reset();
    }
    if (rows.length === 2 && JSON.stringify(rows[0]!.bytes) !== JSON.stringify(rows[1]!.bytes)) {
      throw new Error(`host and device caches hold different bytes at ${tokens} tokens`);
    }
  }
}

async function stories(): Promise<void> {
  console.log(
    '| cached tokens | path | bits/element | held (no slack) | floor (codes+meta / quantized element) | breakdown (bits/element) |',
  );
  console.log('| -----: | ---- | ---: | ---: | ---: | ---- |');
  const marks = [50, 200, 400];
  const results: Record<string, Row[]> = {};
  for (const [name, backend] of [
    ['host (cpu)', cpuBackend],
    ['device (opaque-store)', createOpaqueStoreBackend(cpuBackend)],
  ] as const) {
    const model = await loadLlama2c(
      { path: requireAsset(STORIES_MODEL) },
      { tokenizer: { path: requireAsset(STORIES_TOKENIZER) } },
    );
    const geometry = model.geometry;
    const cache = skvqCache(geometry, backend, 8, 32);
    const rows: Row[] = [];
    await generate(model, {
      prompt: 'Once upon a time',
      maxTokens: 400,
      cache,
      stopAtEos: false,
      onToken: () => {
        if (cache.length(0) === marks[rows.length]) rows.push(rowOf(cache));
      },
    });
    results[name] = rows;
    rows.forEach((row, i) => {
      console.log(
        `| ${marks[i]} | ${name} | ${row.bits.toFixed(2)} | ${row.heldBits.toFixed(2)} | ${row.floorBits.toFixed(3)} | ${breakdown(row.bytes)} |`,
      );
    });
  }
  const [a, b] = Object.values(results);
  if (JSON.stringify(a!.map((r) => r.bytes)) !== JSON.stringify(b!.map((r) => r.bytes))) {
    throw new Error('host and device caches hold different bytes');
  }
}

const [mode, ...rest] = process.argv.slice(2);
const upTo = rest.indexOf('--device-up-to');
const deviceUpTo = upTo >= 0 ? Number(rest[upTo + 1]) : Number.POSITIVE_INFINITY;
const tokens = rest.filter((_, i) => upTo < 0 || (i !== upTo && i !== upTo + 1)).map(Number);
if (mode === 'layer') await layer(tokens.length > 0 ? tokens : [4096, 32768], deviceUpTo);
else if (mode === 'stories') await stories();
else {
  console.error('usage: storage-bits layer [tokens ...] [--device-up-to N] | storage-bits stories');
  process.exit(2);
}
