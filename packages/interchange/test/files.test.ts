import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  FileReaders,
  halfToFloat,
  readNpyHeader,
  readSafetensorsHeader,
  toBfloat16Bits,
  toHalfBits,
  writeNpy,
  writeSafetensors,
} from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'skvq-interchange-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('float16 / bfloat16 codecs', () => {
  it('round-trips every finite float16 bit pattern', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      if ((h & 0x7c00) === 0x7c00) continue;
      if (toHalfBits(halfToFloat(h)) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it('rounds to nearest even, overflows to Inf, and keeps bf16 as the top half of f32', () => {
    expect(toHalfBits(1 + 2 ** -11)).toBe(0x3c00); // tie -> even (1.0)
    expect(toHalfBits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie -> even (upwards)
    expect(toHalfBits(65520)).toBe(0x7c00);
    expect(toHalfBits(2 ** -24)).toBe(1);
    expect(toBfloat16Bits(1)).toBe(0x3f80);
    expect(toBfloat16Bits(-2.5)).toBe(0xc020);
  });
});

describe('safetensors and .npy round trips', () => {
  const data = Float32Array.from({ length: 24 }, (_, i) => (i - 11) / 4);

  it.each(['F32', 'F16', 'BF16'] as const)('safetensors %s', (dtype) => {
    const file = join(dir, `rt-${dtype}.safetensors`);
    writeSafetensors(
      file,
      [{ name: 'x', dtype, shape: [4, 6], data: [data.subarray(0, 12), data.subarray(12)] }],
      { a: 'b' },
    );
    const h = readSafetensorsHeader(file);
    expect(h.metadata).toEqual({ a: 'b' });
    expect(h.tensors[0]).toMatchObject({ name: 'x', dtype, shape: [4, 6] });
    // the header is padded so the data starts 8-byte aligned
    expect(h.tensors[0]!.offset % 8).toBe(0);
    const out = new Float32Array(12);
    const r = new FileReaders();
    r.readFloatRows(h.tensors[0]!, 2, 2, out);
    r.close();
    // quarter steps are exact in every dtype
    expect(Array.from(out)).toEqual(Array.from(data.subarray(12)));
  });

  it('.npy F32 / F16 / I32 and a producer that streams chunks', () => {
    const f = join(dir, 'layers.0.k.npy');
    writeNpy(f, {
      name: 'layers.0.k',
      dtype: 'F16',
      shape: [4, 6],
      data: (emit) => {
        for (let t = 0; t < 4; t++) emit(data.subarray(t * 6, t * 6 + 6));
      },
    });
    const e = readNpyHeader(f);
    expect(e).toMatchObject({ name: 'layers.0.k', dtype: 'F16', shape: [4, 6] });
    expect(e.offset % 64).toBe(0);
    const out = new Float32Array(24);
    const r = new FileReaders();
    r.readFloatRows(e, 0, 4, out);
    const p = join(dir, 'positions.npy');
    writeNpy(p, { name: 'positions', dtype: 'I32', shape: [3], data: Int32Array.of(0, 1, 7) });
    expect(Array.from(r.readInts(readNpyHeader(p)))).toEqual([0, 1, 7]);
    r.close();
    expect(Array.from(out)).toEqual(Array.from(data));
  });

  it('a writer given the wrong element count writes nothing', () => {
    const file = join(dir, 'short.safetensors');
    expect(() =>
      writeSafetensors(file, [
        { name: 'x', dtype: 'F32', shape: [3, 3], data: new Float32Array(8) },
      ]),
    ).toThrow(/tensor "x": 8 elements were given; shape \[3, 3\] needs 9/);
    expect(() => readSafetensorsHeader(file)).toThrow(/cannot open/);
  });

  const python = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  it.skipIf(python.status !== 0)(
    'numpy reads what we write and we read what numpy writes (skipped when python3 + numpy are absent)',
    () => {
      const ours = join(dir, 'ours.npy');
      writeNpy(ours, {
        name: 'ours',
        dtype: 'F32',
        shape: [2, 3],
        data: Float32Array.of(1, 2, 3, 4, 5, 6.5),
      });
      const theirs = join(dir, 'theirs.npy');
      const st = join(dir, 'ours.safetensors');
      writeSafetensors(st, [
        { name: 'w', dtype: 'F16', shape: [2, 2], data: Float32Array.of(0.5, -1, 2, 3) },
      ]);
      const script = [
        'import numpy as np, json, struct, sys',
        `a = np.load(${JSON.stringify(ours)}); assert a.dtype == np.float32 and a.shape == (2, 3), a`,
        'assert a.tolist() == [[1, 2, 3], [4, 5, 6.5]]',
        `np.save(${JSON.stringify(theirs)}, np.arange(12, dtype=np.float16).reshape(3, 4) / 4)`,
        `b = open(${JSON.stringify(st)}, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8+n])`,
        'o = h["w"]["data_offsets"]; w = np.frombuffer(b[8+n+o[0]:8+n+o[1]], dtype="<f2").reshape(h["w"]["shape"])',
        'assert w.tolist() == [[0.5, -1], [2, 3]], w',
      ].join('\n');
      const res = spawnSync('python3', ['-c', script], { encoding: 'utf8' });
      expect(res.stderr).toBe('');
      expect(res.status).toBe(0);
      const e = readNpyHeader(theirs);
      expect(e).toMatchObject({ dtype: 'F16', shape: [3, 4] });
      const out = new Float32Array(12);
      const r = new FileReaders();
      r.readFloatRows(e, 0, 3, out);
      r.close();
      expect(Array.from(out)).toEqual(Array.from({ length: 12 }, (_, i) => i / 4));
    },
  );
});

describe('malformed files are typed errors naming the file and tensor', () => {
  const bad = (name: string, bytes: Uint8Array | string) => {
    const f = join(dir, name);
    writeFileSync(f, bytes);
    return f;
  };
  const header = (obj: unknown, dataBytes = 0) => {
    const json = Buffer.from(JSON.stringify(obj));
    const out = Buffer.alloc(8 + json.length + dataBytes);
    out.writeBigUInt64LE(BigInt(json.length));
    json.copy(out, 8);
    return new Uint8Array(out);
  };

  it('too short for the length field, header past the end, bad JSON', () => {
    expect(() => readSafetensorsHeader(bad('a.safetensors', 'abc'))).toThrow(
      expect.objectContaining({ code: 'FILE_TRUNCATED' }),
    );
    const past = header({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }).subarray(0, 20);
    expect(() => readSafetensorsHeader(bad('b.safetensors', past))).toThrow(
      /header declares \d+ bytes/,
    );
    const garbage = new Uint8Array(16);
    garbage[0] = 8;
    expect(() => readSafetensorsHeader(bad('c.safetensors', garbage))).toThrow(
      expect.objectContaining({ code: 'FILE_CORRUPTED' }),
    );
  });

  it('a tensor whose declared data runs past the end of the file', () => {
    const f = bad(
      'd.safetensors',
      header({ 'layers.0.k': { dtype: 'F32', shape: [4, 2], data_offsets: [0, 32] } }, 16),
    );
    let err: unknown;
    try {
      readSafetensorsHeader(f);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: 'FILE_TRUNCATED',
      details: { file: f, tensor: 'layers.0.k' },
    });
    expect(String(err)).toMatch(
      /tensor "layers.0.k": data is declared to end at byte \d+ but the file has \d+ bytes/,
    );
  });

  it('offsets that disagree with the shape, unknown dtypes, a .npy in Fortran order or of float64', () => {
    const f = bad(
      'e.safetensors',
      header({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 8] } }, 8),
    );
    expect(() => readSafetensorsHeader(f)).toThrow(/shape \[4\] of F32 needs 16/);
    const g = bad(
      'f.safetensors',
      header({ x: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, 1),
    );
    expect(() => readSafetensorsHeader(g)).toThrow(
      expect.objectContaining({ code: 'FILE_UNSUPPORTED_TYPE' }),
    );
    const npy = (dict: string) => {
      const text = `${dict}\n`;
      const out = Buffer.alloc(10 + text.length + 64);
      out.write('\x93NUMPY', 0, 'latin1');
      out[6] = 1;
      out.writeUInt16LE(text.length, 8);
      out.write(text, 10, 'latin1');
      return new Uint8Array(out);
    };
    expect(() =>
      readNpyHeader(
        bad('g.npy', npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }")),
      ),
    ).toThrow(/fortran_order is True/);
    expect(() =>
      readNpyHeader(
        bad('h.npy', npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }")),
      ),
    ).toThrow(
      expect.objectContaining({
        code: 'FILE_UNSUPPORTED_TYPE',
        details: expect.objectContaining({ actual: '<f8' }),
      }),
    );
    expect(() =>
      readNpyHeader(
        bad('i.npy', npy("{'descr': '<f4', 'fortran_order': False, 'shape': (100, 2), }")),
      ),
    ).toThrow(expect.objectContaining({ code: 'FILE_TRUNCATED' }));
    expect(() => readNpyHeader(bad('j.npy', 'PK\x03\x04not numpy'))).toThrow(
      expect.objectContaining({ code: 'FILE_BAD_MAGIC' }),
    );
  });
});
