import {
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBackend } from '@skvq/backend-cpu';
import { parseCalibration } from '@skvq/core';
import { captureMetadata, captureTensors, writeSafetensors } from '@skvq/interchange';
import { requireAsset, STORIES_MODEL, STORIES_TEXT } from '@skvq/test-assets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureActivations } from '../src/calibration-run.js';
import { bufferIo } from '../src/io.js';
import { main } from '../src/main.js';
import { loadModel } from '../src/model-lookup.js';
import { createCliRegistry } from '../src/registry.js';
import { CALIBRATION_STORIES, readStories, resolveText } from '../src/text.js';

const MODEL = requireAsset(STORIES_MODEL);
const TEXT = requireAsset(STORIES_TEXT);
const TOKENS = 1500;
/** Fixed createdAt, so two runs can be compared byte for byte. */
const ENV = { ...process.env, SOURCE_DATE_EPOCH: '1700000000' };

async function run(argv: string[]) {
  const io = bufferIo({ env: ENV });
  const code = await main(argv, { io });
  return { code, out: io.out(), err: io.err() };
}

const SETTINGS = ['--bits', 'K2V1.5', '--alpha-grid', '0.85,0.95,1', '--seed', '3', '--quiet'];

describe('calibrate --activations: stories260K captured with the adapter, written to safetensors', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'skvq-cli-act-'));
  const capture = join(tmp, 'stories260K-kv.safetensors');
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  beforeAll(async () => {
    // The same tokens `skvq calibrate --model` uses: the text's last stories, cut at TOKENS.
    const registry = createCliRegistry();
    const model = await loadModel(registry, {
      modelPath: MODEL,
      tokenizerPath: join(MODEL, '..', 'tok512.bin'),
      source: 'test',
    });
    const textPath = resolveText(TEXT, ENV, process.cwd());
    const stories = readStories(textPath);
    const last = stories.slice(Math.max(0, stories.length - CALIBRATION_STORIES));
    const captured = await captureActivations(cpuBackend, model, last, TOKENS, 'x');
    writeSafetensors(
      capture,
      captureTensors(captured.batches),
      captureMetadata({
        geometry: model.geometry,
        model: model.identity,
        source: `${textPath} (last ${last.length} stories)`,
      }),
    );
  }, 120_000);

  it('writes a byte-identical artifact (and exports) to calibrating the model directly', async () => {
    const direct = join(tmp, 'direct.json');
    const fromFile = join(tmp, 'from-file.json');
    const a = await run([
      'calibrate',
      '--model',
      MODEL,
      '--text',
      TEXT,
      '--tokens',
      String(TOKENS),
      '--out',
      direct,
      '--export',
      'all',
      ...SETTINGS,
    ]);
    expect(a.err).toBe('');
    expect(a.code).toBe(0);
    const b = await run([
      'calibrate',
      '--activations',
      capture,
      '--out',
      fromFile,
      '--export',
      'all',
      ...SETTINGS,
    ]);
    expect(b.err).toBe('');
    expect(b.code).toBe(0);
    const text = readFileSync(fromFile, 'utf8');
    expect(text).toBe(readFileSync(direct, 'utf8'));
    expect(parseCalibration(text).data.tokens).toBe(TOKENS);
    expect(readFileSync(join(tmp, 'from-file.safetensors'))).toEqual(
      readFileSync(join(tmp, 'direct.safetensors')),
    );
    expect(readdirSync(join(tmp, 'from-file-npy')).sort()).toContain('k.perm.npy');
  }, 120_000);

  it('inspect describes the capture and the exports', async () => {
    const cap = await run(['inspect', capture]);
    expect(cap.code).toBe(0);
    expect(cap.out).toMatch(/captured activations .* of stories260K/);
    expect(cap.out).toMatch(
      new RegExp(
        `${TOKENS} tokens x 5 layers; 4 KV heads x head dim 8, 8 query heads, RoPE pairwise`,
      ),
    );
    expect(cap.out).toContain('keys pre-rope; queries captured');
    for (const path of [join(tmp, 'from-file.safetensors'), join(tmp, 'from-file-npy')]) {
      const ex = await run(['inspect', path]);
      expect(ex.err).toBe('');
      expect(ex.out).toContain('SKVQ calibration export');
      expect(ex.out).toMatch(/K groups\s+\|?\s*K smallest/);
      const json = await run(['inspect', path, '--json']);
      const parsed = JSON.parse(json.out);
      expect(parsed.type).toBe('calibration-export');
      expect(parsed.tensors['k.perm']).toEqual([5, 32]);
    }
  }, 60_000);

  it('a bad capture fails with the file and tensor named and writes nothing', async () => {
    const cut = join(tmp, 'cut.safetensors');
    writeSafetensors(
      cut,
      captureTensors([
        {
          layer: 0,
          count: 2,
          q: new Float32Array(128),
          k: new Float32Array(64),
          v: new Float32Array(64),
          positions: Int32Array.of(0, 1),
        },
      ]),
      {
        ...captureMetadata({
          geometry: {
            layers: 1,
            queryHeads: 8,
            kvHeads: 4,
            headDim: 8,
            rope: { style: 'pairwise', theta: 10000 },
          },
        }),
      },
    );
    const size = statSync(cut).size;
    truncateSync(cut, size - 300);
    const out = join(tmp, 'never', 'calib.json');
    const r = await run(['calibrate', '--activations', cut, '--out', out, '--export', 'all']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      new RegExp(
        `cut\\.safetensors: tensor "layers\\.0\\.\\w": data is declared to end at byte \\d+ but the file has ${size - 300} bytes`,
      ),
    );
    expect(existsSync(join(tmp, 'never'))).toBe(false);
    // NaN is found while streaming, after the headers passed: an existing artifact is kept
    const nan = join(tmp, 'nan.safetensors');
    const k = new Float32Array(64);
    k[37] = Number.NaN;
    const geometry = {
      layers: 1,
      queryHeads: 8,
      kvHeads: 4,
      headDim: 8,
      rope: { style: 'pairwise' as const, theta: 10000 },
    };
    writeSafetensors(
      nan,
      captureTensors([
        {
          layer: 0,
          count: 2,
          q: new Float32Array(128),
          k,
          v: new Float32Array(64),
          positions: Int32Array.of(0, 1),
        },
      ]),
      captureMetadata({ geometry }),
    );
    const kept = join(tmp, 'kept.json');
    writeFileSync(kept, 'previous artifact');
    const n = await run(['calibrate', '--activations', nan, '--out', kept, '--export', 'all']);
    expect(n.code).toBe(1);
    expect(n.err).toMatch(
      /nan\.safetensors: tensor "layers\.0\.k": element \[1, 5\] is NaN; expected finite values/,
    );
    expect(readFileSync(kept, 'utf8')).toBe('previous artifact');
    expect(readdirSync(tmp).filter((f) => f.startsWith('kept') || f.startsWith('.kept'))).toEqual([
      'kept.json',
    ]);
    const flag = await run([
      'calibrate',
      '--activations',
      capture,
      '--out',
      out,
      '--kv-heads',
      '2',
    ]);
    expect(flag.code).toBe(1);
    expect(flag.err).toMatch(/--kv-heads 2 disagrees with metadata kv_heads/);
    expect(existsSync(out)).toBe(false);
  });
});
