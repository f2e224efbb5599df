import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fingerprintFile, loadLlama2c } from '@skvq/adapter-llama';
import { writeTransformersModel } from '@skvq/adapter-transformers/export';
import { parseCalibration } from '@skvq/core';
import { requireAsset, STORIES_MODEL, STORIES_TEXT, STORIES_TOKENIZER } from '@skvq/test-assets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferIo } from '../src/io.js';
import { main } from '../src/main.js';

let root: string;
let dir: string;

async function run(argv: string[]) {
  const io = bufferIo({});
  const code = await main(argv, { io });
  return { code, out: io.out(), err: io.err() };
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'skvq-cli-transformers-'));
  dir = join(root, 'stories260K');
  const model = await loadLlama2c(new Uint8Array(readFileSync(requireAsset(STORIES_MODEL))), {
    tokenizer: new Uint8Array(readFileSync(requireAsset(STORIES_TOKENIZER))),
    name: 'stories260K',
  });
  writeTransformersModel(model, dir);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('skvq calibrate --runtime transformers', () => {
  it('calibrates a transformers.js folder and writes a valid post-RoPE artifact', async () => {
    const out = join(root, 'calib.json');
    const r = await run([
      'calibrate',
      '--runtime',
      'transformers',
      '--model',
      dir,
      '--text',
      requireAsset(STORIES_TEXT),
      '--tokens',
      '2048',
      '--out',
      out,
      '--json',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out).runtime).toBe('transformers');
    const artifact = parseCalibration(JSON.parse(readFileSync(out, 'utf8')));
    expect(artifact.geometry).toMatchObject({ layers: 5, queryHeads: 8, kvHeads: 4, headDim: 8 });
    expect(artifact.geometry.rope.style).toBe('none');
    expect(artifact.model.fingerprint).toBe(await fingerprintFile(join(dir, 'onnx', 'model.onnx')));
    expect(artifact.data.tokens).toBe(2048);
    expect(artifact.layers[0]!.v.bits).toBe(1.5);
  });

  it('usage errors: llama2c-only flags, a folder that is not a model, an unknown runtime', async () => {
    const flag = await run([
      'calibrate',
      '--runtime',
      'transformers',
      '--model',
      dir,
      '--tokenizer',
      'x',
      '-o',
      'c.json',
    ]);
    expect(flag.code).toBe(2);
    expect(flag.err).toContain('--tokenizer applies to the llama2c runtime');
    const folder = await run([
      'calibrate',
      '--runtime',
      'transformers',
      '--model',
      root,
      '-o',
      'c.json',
    ]);
    expect(folder.code).toBe(2);
    expect(folder.err).toContain('is not a transformers.js model folder');
    const unknown = await run(['calibrate', '--runtime', 'onnx', '-o', 'c.json']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('llama2c, transformers');
  });
});
