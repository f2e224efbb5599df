import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadGguf, loadLlama2c, parseLlama2cTokenizer, writeGguf } from '@skvq/adapter-llama';
import fc from 'fast-check';
import {
  TINY_KEYS,
  tinyGguf,
  tinyLlama2c,
  tinyMetadata,
  tinyTensorShapes,
  tinyTokenizerBin,
} from './fixtures.mjs';
import { applyByteMutations, byteMutations } from './mutate.mjs';

/** Fuzz kinds of the model-file parsers: GGUF, llama2.c checkpoints, tokenizer.bin. */

let dir;
let files = 0;
/** Writes `bytes` to a scratch file (path-mode loads); removed at exit. */
function onDisk(bytes) {
  if (dir === undefined) {
    dir = mkdtempSync(join(tmpdir(), 'skvq-fuzz-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  const path = join(dir, `case-${files++ % 4}.bin`);
  writeFileSync(path, bytes);
  return { path };
}

const INT_TYPES = ['u8', 'i8', 'u16', 'i16', 'u32', 'i32'];
const ggufValue = fc.oneof(
  fc.record({
    type: fc.constantFrom(...INT_TYPES),
    value: fc.oneof(fc.constantFrom(0, 1, 2, 3, 8, 16, 127), fc.integer({ min: -5, max: 300 })),
  }),
  fc.record({
    type: fc.constantFrom('u32'),
    value: fc.constantFrom(0, 1, 0x7fffffff, 0x80000000, 0xffffffff),
  }),
  fc.record({
    type: fc.constantFrom('u64', 'i64'),
    value: fc.constantFrom(0, 1, 2 ** 31, 2 ** 32, 2 ** 40, 2 ** 53 - 1),
  }),
  fc.record({
    type: fc.constantFrom('f32', 'f64'),
    value: fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, 0, -1, 1.5, 1e-5, 8, 1e30),
  }),
  fc.record({ type: fc.constant('string'), value: fc.string({ maxLength: 12 }) }),
  fc.record({ type: fc.constant('bool'), value: fc.boolean() }),
  fc.record({
    type: fc.constant('array'),
    itemType: fc.constant('i32'),
    value: fc.array(fc.integer({ min: -3, max: 300 }), { maxLength: 12 }),
  }),
  fc.record({
    type: fc.constant('array'),
    itemType: fc.constant('string'),
    value: fc.array(fc.string({ maxLength: 4 }), { maxLength: 12 }),
  }),
);

const U64_EDGE = [0, 1, 8, 16, 32, 2 ** 23, 2 ** 25, 2 ** 31, 2 ** 32, 2 ** 53 - 1];
const tensorInfo = fc.record({
  name: fc.oneof(
    fc.constantFrom(...tinyTensorShapes().map(([n]) => n)),
    fc.string({ maxLength: 6 }),
  ),
  dims: fc.array(fc.oneof(fc.constantFrom(...U64_EDGE), fc.nat({ max: 64 })), {
    minLength: 0,
    maxLength: 5,
  }),
  type: fc.constantFrom(0, 1, 2, 8, 12, 99),
  offset: fc.oneof(
    fc.constantFrom(...U64_EDGE, 2 ** 53 - 64, 4),
    fc.nat({ max: 64 }).map((n) => n * 32),
  ),
});

/** A GGUF v3 whose tensor infos are written as declared (no matching data needed). */
function rawGguf(tensors, dataBytes) {
  const head = writeGguf(tinyMetadata(), []);
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  // the tensor infos go where writeGguf's metadata ends (before its alignment padding)
  const parts = [];
  const u32 = (v) => {
    for (let i = 0; i < 4; i++) parts.push((v >>> (8 * i)) & 0xff);
  };
  const u64 = (v) => {
    let b = BigInt(v);
    for (let i = 0; i < 8; i++) {
      parts.push(Number(b & 0xffn));
      b >>= 8n;
    }
  };
  for (const t of tensors) {
    const name = new TextEncoder().encode(t.name);
    u64(name.length);
    parts.push(...name);
    u32(t.dims.length);
    for (const d of t.dims) u64(d);
    u32(t.type);
    u64(t.offset);
  }
  const end = metadataEnd(view);
  const dataOffset = Math.ceil((end + parts.length) / 32) * 32;
  const out = new Uint8Array(dataOffset + dataBytes);
  out.set(head.subarray(0, end));
  out.set(parts, end);
  new DataView(out.buffer).setBigUint64(8, BigInt(tensors.length), true);
  return out;
}

const SCALAR_BYTES = { 0: 1, 1: 1, 7: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 10: 8, 11: 8, 12: 8 };
function metadataEnd(view) {
  const kv = Number(view.getBigUint64(16, true));
  let o = 24;
  const str = () => {
    o += 8 + Number(view.getBigUint64(o, true));
  };
  const scalar = (type) => {
    if (type === 8) str();
    else o += SCALAR_BYTES[type];
  };
  for (let i = 0; i < kv; i++) {
    str();
    const type = view.getUint32(o, true);
    o += 4;
    if (type === 9) {
      const item = view.getUint32(o, true);
      const count = Number(view.getBigUint64(o + 4, true));
      o += 12;
      for (let j = 0; j < count; j++) scalar(item);
    } else scalar(type);
  }
  return o;
}

const GGUF_BASE = { F32: tinyGguf(), Q8_0: tinyGguf(undefined, 'Q8_0') };
const GGUF_HOT = 1200;

export const ggufKind = {
  name: 'gguf',
  arbitrary: fc.record({
    path: fc.nat({ max: 3 }).map((n) => n === 0),
    input: fc.oneof(
      {
        weight: 5,
        arbitrary: fc.record({
          mode: fc.constant('bytes'),
          base: fc.constantFrom('F32', 'Q8_0'),
          mutations: byteMutations(GGUF_BASE.F32.length, GGUF_HOT),
        }),
      },
      {
        weight: 3,
        arbitrary: fc.record({
          mode: fc.constant('metadata'),
          edits: fc.array(
            fc.record({
              key: fc.constantFrom(...TINY_KEYS, 'x'),
              value: ggufValue,
              dup: fc.boolean(),
            }),
            { minLength: 1, maxLength: 3 },
          ),
        }),
      },
      {
        weight: 2,
        arbitrary: fc.record({
          mode: fc.constant('tensors'),
          infos: fc.array(tensorInfo, { minLength: 1, maxLength: 4 }),
          dataBytes: fc.nat({ max: 4096 }),
        }),
      },
    ),
  }),
  prepare({ input }) {
    if (input.mode === 'bytes') return applyByteMutations(GGUF_BASE[input.base], input.mutations);
    if (input.mode === 'tensors') return rawGguf(input.infos, input.dataBytes);
    let metadata = tinyMetadata();
    for (const { key, value, dup } of input.edits) {
      if (!dup) metadata = metadata.filter(([k]) => k !== key);
      metadata.push([key, value]);
    }
    return tinyGguf(metadata);
  },
  async run(bytes, { path }) {
    await loadGguf(path ? onDisk(bytes) : bytes);
  },
};

const LLAMA2C_BASE = { 0: tinyLlama2c(0), 1: tinyLlama2c(1) };
const TOKENIZER = tinyTokenizerBin();

export const llama2cKind = {
  name: 'llama2c',
  arbitrary: fc.record({
    path: fc.nat({ max: 3 }).map((n) => n === 0),
    version: fc.constantFrom(0, 1),
    withTokenizer: fc.boolean(),
    mutations: byteMutations(LLAMA2C_BASE[0].length, 256),
  }),
  prepare: ({ version, mutations }) => applyByteMutations(LLAMA2C_BASE[version], mutations),
  async run(bytes, { path, withTokenizer }) {
    await loadLlama2c(path ? onDisk(bytes) : bytes, withTokenizer ? { tokenizer: TOKENIZER } : {});
  },
};

export const tokenizerKind = {
  name: 'tokenizer',
  arbitrary: fc.record({
    vocab: fc.oneof(
      { weight: 6, arbitrary: fc.constant(8) },
      {
        weight: 1,
        arbitrary: fc.constantFrom(
          7,
          9,
          0,
          -1,
          1.5,
          Number.NaN,
          1e9,
          2 ** 31,
          Number.POSITIVE_INFINITY,
        ),
      },
    ),
    mutations: byteMutations(TOKENIZER.length, 64),
  }),
  prepare: ({ mutations }) => applyByteMutations(TOKENIZER, mutations),
  run(bytes, { vocab }) {
    const t = parseLlama2cTokenizer(bytes, vocab);
    // an accepted vocabulary must encode and decode without an untyped failure
    t.decode(t.encode('a ab b'));
  },
};
