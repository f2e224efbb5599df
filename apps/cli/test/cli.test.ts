import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { requireAsset, STORIES_MODEL, STORIES_TEXT } from '@skvq/test-assets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferIo } from '../src/io.js';
import { COMMANDS, main } from '../src/main.js';

const here = dirname(fileURLToPath(import.meta.url));
const MODEL = requireAsset(STORIES_MODEL);
const TEXT = requireAsset(STORIES_TEXT);

async function run(argv: string[], cwd?: string) {
  const io = bufferIo(cwd ? { cwd } : {});
  const code = await main(argv, { io });
  return { code, out: io.out(), err: io.err() };
}

describe('skvq --help', () => {
  it('prints the command list and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const name of Object.keys(COMMANDS)) expect(r.out).toContain(name);
  });

  it.each(Object.keys(COMMANDS))('%s --help documents its options', async (name) => {
    const r = await run([name, '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`skvq ${name}`);
    expect(r.out).toContain('--help');
  });

  it('no command is a usage error; an unknown command too', async () => {
    expect((await run([])).code).toBe(2);
    const r = await run(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('unknown command "frobnicate"');
  });
});

describe('skvq end to end (tiny subsets)', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(join(tmpdir(), 'skvq-cli-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('calibrate writes an artifact for the model and prints groups and alphas', async () => {
    const out = join(tmp, 'calib.json');
    const r = await run([
      'calibrate',
      '--model',
      MODEL,
      '--text',
      TEXT,
      '--out',
      out,
      '--bits',
      'K2V1.5',
      '--tokens',
      '600',
      '--alpha-grid',
      '0.85,0.95,1',
      '--quiet',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const artifact = JSON.parse(readFileSync(out, 'utf8'));
    expect(artifact.layers).toHaveLength(5);
    expect(artifact.layers[0].v.bits).toBe(1.5);
    expect([0.85, 0.95, 1]).toContain(artifact.layers[0].k.alpha);
    expect(r.out).toContain('K groups');
    expect(r.out).toMatch(/wrote .*calib\.json/);
  });

  it('eval runs methods on 2 stories and writes JSON, CSV, SVG and PNG', async () => {
    const dir = join(tmp, 'eval');
    const r = await run([
      'eval',
      '--model',
      MODEL,
      '--text',
      TEXT,
      '--stories',
      '2',
      '--methods',
      'fp32,kivi-k2v2,skvq-k2v1.5',
      '--calib',
      join(tmp, 'calib.json'),
      '--attention-stories',
      '1',
      '--out',
      dir,
      '--quiet',
    ]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('skvq-k2v1.5');
    const json = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
    expect(json.rows.map((x: { method: string }) => x.method)).toEqual([
      'fp32',
      'kivi-k2v2',
      'skvq-k2v1.5',
    ]);
    const [fp32, kivi, skvq] = json.rows;
    expect(fp32.deltaPct).toBe(0);
    // real bytes: a quantized cache holds fewer bits per element than fp32 storage (32 + positions)
    expect(skvq.avgBits).toBeLessThan(fp32.avgBits / 2);
    expect(kivi.attentionError).toHaveLength(5);
    expect(skvq.attentionError.every((e: number) => e > 0 && e < 2)).toBe(true);
    for (const f of [
      'results.csv',
      'ppl-vs-bits.svg',
      'ppl-vs-bits.png',
      'bytes-per-token.svg',
      'bytes-per-token.png',
    ]) {
      expect(existsSync(join(dir, f))).toBe(true);
    }
    expect(readFileSync(join(dir, 'results.csv'), 'utf8').split('\n')[0]).toContain('avg_bits');
    // decode is the default protocol, named in the JSON, every row and the plot title
    expect(json.protocol).toBe('decode');
    expect(json.complete).toBe(true);
    expect(json.rows.every((x: { protocol: string }) => x.protocol === 'decode')).toBe(true);
    expect(readFileSync(join(dir, 'ppl-vs-bits.svg'), 'utf8')).toContain('decode protocol');
    // codes+metadata bits: above the codes alone (1.6-2 bits), below the real bits, which add
    // the window, sinks, positions and permutations (the fixed overhead)
    expect(skvq.codesMetaBits).toBeGreaterThan(1.6);
    expect(skvq.codesMetaBits).toBeLessThan(skvq.avgBitsAllocated);
    expect(skvq.overheadBits).toBeGreaterThan(0);
    expect(fp32.codesMetaBits).toBe(32);
    const header = readFileSync(join(dir, 'results.csv'), 'utf8').split('\n')[0];
    expect(header).toContain('codes_meta_bits');
    expect(header).toContain('protocol');
  });

  it('eval --protocol prompt and prefill score differently, and say which they are', async () => {
    const common = ['eval', '--model', MODEL, '--text', TEXT, '--stories', '2'];
    const calib = ['--calib', join(tmp, 'calib.json'), '--attention-stories', '0'];
    const methods = ['--methods', 'fp32,skvq-k2v1.5', '--json', ...calib];
    const prompt = await run([
      ...common,
      ...methods,
      '--protocol',
      'prompt',
      '--prompt-tokens',
      '20',
    ]);
    expect(prompt.code).toBe(0);
    const p = JSON.parse(prompt.out);
    expect(p.protocol).toBe('prompt');
    expect(p.promptTokens).toBe(20);
    const prefill = await run([...common, ...methods, '--protocol', 'prefill']);
    const f = JSON.parse(prefill.out);
    expect(f.protocol).toBe('prefill');
    // the prompt protocol scores only the continuation
    expect(p.rows[0].tokens).toBe(f.rows[0].tokens - 2 * 19);
    const bad = await run([...common, '--protocol', 'decode', '--prompt-tokens', '4']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--prompt-tokens only applies to --protocol prompt');
  });

  it('generate streams text, reports tokens/s and memory, and saves the cache', async () => {
    const saved = join(tmp, 'cache.skvqc');
    const r = await run([
      'generate',
      '--model',
      MODEL,
      '--prompt',
      'Once upon a time',
      '--cache',
      'kivi-k2v2',
      '--max-tokens',
      '6',
      '--window',
      '4',
      '--sinks',
      '1',
      '--save-cache',
      saved,
      '--quiet',
    ]);
    expect(r.code).toBe(0);
    expect(r.out.startsWith('Once upon a time')).toBe(true);
    expect(r.out).toMatch(/tokens\/s/);
    expect(r.out).toMatch(/of fp16/);
    expect(existsSync(saved)).toBe(true);
    const info = await run(['inspect', saved]);
    expect(info.code).toBe(0);
    expect(info.out).toContain('saved quantized KV cache');
    expect(info.out).toContain('keys: kivi 2 bits');
  });

  it('generate --json with an skvq cache and its calibration', async () => {
    const r = await run([
      'generate',
      '--model',
      MODEL,
      '--cache',
      'skvq-k2v1.5',
      '--calib',
      join(tmp, 'calib.json'),
      '--max-tokens',
      '60',
      '--window',
      '8',
      '--sinks',
      '2',
      '--json',
    ]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.out);
    expect(summary.generatedTokens).toBe(60);
    // What this configuration must hold, from its definition: per layer and stream, the
    // 54 tokens outside window (8) and sinks (2) as packed codes (K 2 bits: 8 bytes a
    // 32-channel row; V 1.5 bits: 5 ternary codes a byte, 7 bytes) plus an fp16 scale and
    // zero per calibrated group; window and sinks in fp16; the calibrated permutation and
    // group offsets; one shared Int32 identity of positions (64 in use).
    const calib = JSON.parse(readFileSync(join(tmp, 'calib.json'), 'utf8'));
    const tokens = summary.cacheTokens as number;
    const layers = calib.layers.length as number;
    const ch = 32;
    const quantized = tokens - 8 - 2;
    let groups = 0;
    let permutations = 0;
    for (const l of calib.layers) {
      for (const s of [l.k, l.v]) {
        groups += s.groupOffsets.length - 1;
        permutations += 4 * s.perm.length + 4 * s.groupOffsets.length;
      }
    }
    const codes = layers * quantized * (8 + 7);
    const held =
      codes + quantized * groups * 4 + tokens * 4 + layers * 2 * (8 + 2) * ch * 2 + permutations;
    const fp16 = tokens * layers * 2 * ch * 2;
    expect(summary.fp16Bytes).toBe(fp16);
    expect(summary.bytes.codes).toBe(codes);
    expect(summary.cacheBytes - summary.bytes.pageSlack).toBe(held);
    // Slack is at most the free end of one 16-token page per stream and the identity's
    // unused part (under 64 positions): the whole cache must stay within this ratio.
    const slackBound = 15 * (layers * (8 + 7) + groups * 4) + 63 * 4;
    expect(summary.ratioVsFp16).toBeLessThanOrEqual((held + slackBound) / fp16);
    expect(summary.ratioVsFp16).toBeLessThan(0.6);
  });

  it('generate --backend gpujs runs the cache kernels on gpu.js, names its mode and saves the device cache', async () => {
    const saved = join(tmp, 'gpujs-cache.skvqc');
    const r = await run([
      'generate',
      '--model',
      MODEL,
      '--cache',
      'skvq-k2v1.5',
      '--calib',
      join(tmp, 'calib.json'),
      '--max-tokens',
      '3',
      '--backend',
      'gpujs',
      '--save-cache',
      saved,
    ]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/backend gpujs \((headlessgl|webasm|cpu)\)/);
    expect(r.out).toMatch(/tokens\/s/);
    // the cache lives in gpu.js textures: saving reads it back through the storage
    const info = await run(['inspect', saved, '--calib', join(tmp, 'calib.json')]);
    expect(info.code).toBe(0);
    expect(info.out).toContain('saved quantized KV cache');
  });

  it('inspect describes a model and a calibration artifact', async () => {
    const m = await run(['inspect', MODEL]);
    expect(m.code).toBe(0);
    expect(m.out).toContain('5 layers, 8 query heads, 4 KV heads, head dim 8');
    expect(m.out).toContain('sha256:b0a507e7');
    const c = await run(['inspect', join(tmp, 'calib.json'), '--json']);
    expect(c.code).toBe(0);
    expect(JSON.parse(c.out).groups).toHaveLength(5);
  });

  it('bench --dry-run names the benchmark runner', async () => {
    const r = await run(['bench', '--dry-run', '--quick']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('pnpm --filter @skvq/bench bench');
  });

  it('synthetic measures the frontier on a Llama-2-7B layer', async () => {
    const dir = join(tmp, 'synth');
    const r = await run([
      'synthetic',
      '--tokens',
      '40',
      '--methods',
      'fp16,rtn-k4v4,skvq-k4v4',
      '--out',
      dir,
      '--json',
    ]);
    expect(r.code).toBe(0);
    const rows = JSON.parse(r.out).rows as { method: string; bits: number; error: number }[];
    expect(rows.map((x) => x.method)).toEqual(['fp16', 'rtn-k4v4', 'skvq-k4v4']);
    expect(rows[0]!.error).toBeLessThan(1e-2);
    for (const q of rows.slice(1)) {
      // 4-bit codes + fp16 scale/zero per 128 channels + positions, and on so few tokens the
      // amortised SKVQ permutations (4096 channels per stream) add about 1 bit
      expect(q.bits).toBeGreaterThan(4);
      expect(q.bits).toBeLessThan(6.5);
      expect(q.error).toBeGreaterThan(rows[0]!.error);
    }
    expect(existsSync(join(dir, 'error-vs-bits.png'))).toBe(true);
  });

  it('demo runs on a tiny subset', async () => {
    const r = await run([
      'demo',
      '--model',
      MODEL,
      '--text',
      TEXT,
      '--stories',
      '2',
      '--methods',
      'fp32,skvq-k2v1.5',
      '--calib-tokens',
      '300',
      '--tokens',
      '40',
      '--long-tokens',
      '1024',
      '--quiet',
    ]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('skvq-k2v1.5');
    expect(r.out).toContain('decode protocol');
    expect(r.out).toMatch(/bits\/element \(codes\+metadata/);
    expect(r.out).toMatch(/one Llama-2-7B layer .* 1024 synthetic tokens/);
    expect(r.out).toContain('demo finished');
  }, 240_000);
});

describe('skvq bad input', () => {
  it('a missing model file is a runtime error with a hint, no stack', async () => {
    const r = await run(['eval', '--model', '/nonexistent/model.bin', '--quiet']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('IO_ERROR');
    expect(r.err).toContain('hint:');
    expect(r.err).not.toMatch(/\n\s+at /);
  });

  it('a calibration made for another model is refused', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'skvq-bad-'));
    try {
      const calib = join(tmp, 'c.json');
      expect(
        (
          await run([
            'calibrate',
            '--model',
            MODEL,
            '--text',
            TEXT,
            '--out',
            calib,
            '--tokens',
            '200',
            '--alpha-grid',
            '1',
            '--quiet',
          ])
        ).code,
      ).toBe(0);
      const artifact = JSON.parse(readFileSync(calib, 'utf8'));
      artifact.model.fingerprint = 'sha256:0000';
      writeFileSync(calib, JSON.stringify(artifact));
      const r = await run([
        'eval',
        '--model',
        MODEL,
        '--text',
        TEXT,
        '--stories',
        '1',
        '--methods',
        'skvq-k2v1.5',
        '--calib',
        calib,
        '--quiet',
      ]);
      expect(r.code).toBe(1);
      expect(r.err).toContain('CALIBRATION_MODEL_MISMATCH');
      expect(r.err).toContain('skvq calibrate');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it.each([
    [['eval', '--methods', 'skvq-k2v9'], 'not a bit width'],
    [['eval', '--methods', 'zip-k2v2'], 'unknown method'],
    [['eval', '--methods', 'fp32,,rtn-k2v2'], 'empty entry'],
    [['eval', '--stories', 'ten'], '--stories must be an integer'],
    [['eval', '--bogus'], "Unknown option '--bogus'"],
    [['calibrate', '--bits', 'K2V1.5'], '--out FILE is required'],
    [['generate', '--meta', 'fp4'], '--meta fp4'],
  ])('%j is a usage error (exit 2)', async (argv, text) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err).toContain(text);
    expect(r.err).toContain('--help');
  });

  it('an unknown --backend names the ones there are', async () => {
    const r = await run([
      'generate',
      '--model',
      MODEL,
      '--backend',
      'quantum',
      '--max-tokens',
      '1',
    ]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain('--backend quantum is unknown; expected one of cpu, webgpu, gpujs');
  });

  it('inspect of a file that is none of the known kinds', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'skvq-bad-'));
    try {
      const f = join(tmp, 'x.dat');
      writeFileSync(f, 'garbage that is not a model');
      const r = await run(['inspect', f]);
      expect(r.code).toBe(1);
      expect(r.err).toContain('FILE_BAD_MAGIC');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('the built bin', () => {
  const bin = join(here, '..', 'dist', 'bin.js');
  it('runs through node with exit codes 0 and 2', () => {
    expect(existsSync(bin), `${bin} is missing: run pnpm build in apps/cli first`).toBe(true);
    const ok = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8', timeout: 30_000 });
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('Usage: skvq <command>');
    const bad = spawnSync(process.execPath, [bin, 'eval', '--methods', 'kivi-k3v7'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('valid forms');
  });

  it('runs inspect on the model end to end', () => {
    const r = spawnSync(process.execPath, [bin, 'inspect', MODEL, '--json'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).geometry.kvHeads).toBe(4);
  });
});
