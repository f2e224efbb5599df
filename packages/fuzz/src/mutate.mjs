import fc from 'fast-check';

/**
 * Byte-level mutations of a binary file: bit flips, boundary integers written as u32 / u64,
 * hostile floats, truncation, extension, copied regions. Positions favour the first `hot`
 * bytes (headers: counts, sizes, offsets) where one edit reaches the most code.
 */

const U32_EDGES = [0, 1, 2, 3, 255, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
const U64_EDGES = [
  0n,
  1n,
  2n ** 31n,
  2n ** 32n,
  2n ** 32n + 1n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 63n,
  2n ** 64n - 1n,
];
const F32_EDGES = [
  Number.NaN,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  0,
  -0,
  1e38,
  -3.4e38,
  1e-45,
  65504,
  1e5,
  -1,
];

function position(length, hot) {
  const max = Math.max(0, length - 1);
  return fc.oneof(fc.nat({ max: Math.min(max, Math.max(0, hot - 1)) }), fc.nat({ max }));
}

function op(length, hot) {
  const at = position(length, hot);
  return fc.oneof(
    { weight: 3, arbitrary: fc.record({ op: fc.constant('flip'), at, bit: fc.nat({ max: 7 }) }) },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('u32'),
        at,
        value: fc.oneof(fc.constantFrom(...U32_EDGES), fc.nat({ max: 0xffffffff })),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        op: fc.constant('u64'),
        at,
        value: fc.oneof(fc.constantFrom(...U64_EDGES), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant('f32'), at, value: fc.constantFrom(...F32_EDGES) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant('truncate'), length: fc.nat({ max: length }) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({ op: fc.constant('extend'), bytes: fc.uint8Array({ maxLength: 64 }) }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        op: fc.constant('copy'),
        from: at,
        to: at,
        length: fc.nat({ max: 64 }),
      }),
    },
  );
}

/** 1..4 mutations of a file of `length` bytes. */
export function byteMutations(length, hot) {
  return fc.array(op(length, hot), { minLength: 1, maxLength: 4 });
}

export function applyByteMutations(source, mutations) {
  let bytes = source.slice();
  for (const m of mutations) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const fits = (n) => m.at !== undefined && m.at + n <= bytes.length;
    switch (m.op) {
      case 'flip':
        if (fits(1)) bytes[m.at] ^= 1 << m.bit;
        break;
      case 'u32':
        if (fits(4)) view.setUint32(m.at, m.value, true);
        break;
      case 'u64':
        if (fits(8)) view.setBigUint64(m.at, m.value, true);
        break;
      case 'f32':
        if (fits(4)) view.setFloat32(m.at, m.value, true);
        break;
      case 'truncate':
        bytes = bytes.slice(0, m.length);
        break;
      case 'extend': {
        const next = new Uint8Array(bytes.length + m.bytes.length);
        next.set(bytes);
        next.set(m.bytes, bytes.length);
        bytes = next;
        break;
      }
      case 'copy':
        if (m.from < bytes.length && m.to < bytes.length) {
          bytes.copyWithin(m.to, m.from, Math.min(bytes.length, m.from + m.length));
        }
        break;
    }
  }
  return bytes;
}

/** Hostile JSON-ish values: boundary numbers, wrong types, long strings, deep nesting. */
export function hostileValue({ objectMode }) {
  const deep = fc.integer({ min: 1, max: 200_000 }).map((depth) => ({ deep: depth }));
  const numbers = fc.constantFrom(
    0,
    -1,
    1.5,
    0.5,
    2 ** 31,
    2 ** 32,
    2 ** 53,
    1e9,
    1e308,
    -1e308,
    Number.MAX_SAFE_INTEGER,
    ...(objectMode ? [Number.NaN, Number.POSITIVE_INFINITY] : []),
  );
  const strings = fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.integer({ min: 1000, max: 2_000_000 }).map((n) => ({ long: n })),
  );
  const others = fc.constantFrom(null, true, false, {}, [], [1, 2, 3], ['a'], { a: 1 });
  const arrays = fc.array(fc.oneof(numbers, fc.integer({ min: -3, max: 20 })), { maxLength: 40 });
  const list = [numbers, fc.integer({ min: -3, max: 40 }), strings, others, deep, arrays];
  if (objectMode) list.push(fc.constantFrom({ sparse: 2 ** 32 - 1 }, { sparse: 1e7 }));
  return fc.oneof(...list);
}

/** Materialises a hostileValue description (deep arrays and long strings are built lazily). */
export function realise(value) {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    if (typeof value.deep === 'number' && Object.keys(value).length === 1) {
      let v = 0;
      for (let i = 0; i < value.deep; i++) v = [v];
      return v;
    }
    if (typeof value.long === 'number' && Object.keys(value).length === 1)
      return 'x'.repeat(value.long);
    if (typeof value.sparse === 'number' && Object.keys(value).length === 1) {
      const sparse = [];
      sparse.length = value.sparse; // no constructor call: costs nothing until filled
      return sparse;
    }
  }
  return value;
}
