import { ByteReader } from './byte-reader.js';
import { fail } from './errors.js';

/** SentencePiece token types as GGUF stores them (llama.cpp llama_token_type). */
export const TOKEN_TYPE = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

/** The SentencePiece space marker (U+2581) that GGUF vocabularies keep in token text. */
export const SPACE_MARKER = '\u2581';

/**
 * A SentencePiece-BPE vocabulary (llama2.c tokenizer.bin, or GGUF `llama` vocab).
 * Pieces are kept as "binary strings": one char per byte (latin1), spaces as ' ', so the
 * merge loop compares bytes exactly as llama2.c's run.c does.
 */
export interface Tokenizer {
  /** pieces[id]: token bytes as a binary string (byte tokens stay "<0xNN>"). */
  readonly pieces: readonly string[];
  readonly scores: Float32Array;
  /** TOKEN_TYPE per id. */
  readonly types: Uint8Array;
  readonly bosId: number;
  readonly eosId: number;
  readonly unkId: number;
  readonly vocabSize: number;
  encode(text: string, options?: { bos?: boolean; eos?: boolean }): Int32Array;
  /** Text of `ids` (BOS/EOS dropped, the dummy-prefix space after BOS removed). */
  decode(ids: ArrayLike<number>): string;
  /** Bytes that token `id` adds after `prev` (run.c decode rule), for streaming. */
  decodeTokenBytes(prev: number, id: number): Uint8Array;
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

export interface VocabularyParts {
  pieces: string[];
  scores: Float32Array;
  types: Uint8Array;
  bosId: number;
  eosId: number;
  unkId: number;
}

function utf8ToBinary(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i] as number);
  return out;
}

/** Splits a binary string into UTF-8 code points (as binary strings), as run.c does. */
function codepoints(binary: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < binary.length) {
    const b = binary.charCodeAt(i);
    let len = 1;
    if (b >= 0xf0) len = 4;
    else if (b >= 0xe0) len = 3;
    else if (b >= 0xc0) len = 2;
    // a malformed sequence: take the lead byte alone (run.c would also fall back per byte)
    let ok = i + len <= binary.length;
    for (let j = 1; ok && j < len; j++) ok = (binary.charCodeAt(i + j) & 0xc0) === 0x80;
    if (!ok) len = 1;
    out.push(binary.slice(i, i + len));
    i += len;
  }
  return out;
}

export function createTokenizer(parts: VocabularyParts): Tokenizer {
  const { pieces, scores, types, bosId, eosId, unkId } = parts;
  const lookup = new Map<string, number>();
  // first id wins for duplicate pieces, as run.c's sorted bsearch finds one of them
  for (let id = 0; id < pieces.length; id++) {
    const piece = pieces[id] as string;
    if (!lookup.has(piece)) lookup.set(piece, id);
  }
  const byteIds = new Int32Array(256).fill(-1);
  const pieceBytes: Uint8Array[] = pieces.map((piece, id) => {
    const m = BYTE_PIECE.exec(piece);
    if (m && (types[id] === TOKEN_TYPE.byte || types[id] === 0)) {
      const value = Number.parseInt(m[1] as string, 16);
      if (byteIds[value] === -1) byteIds[value] = id;
      return Uint8Array.of(value);
    }
    const out = new Uint8Array(piece.length);
    for (let i = 0; i < piece.length; i++) out[i] = piece.charCodeAt(i);
    return out;
  });
  const dummy = lookup.get(' ');

  function encode(text: string, options: { bos?: boolean; eos?: boolean } = {}): Int32Array {
    const work: number[] = [];
    for (const cp of codepoints(utf8ToBinary(text))) {
      const id = lookup.get(cp);
      if (id !== undefined) {
        work.push(id);
        continue;
      }
      for (let i = 0; i < cp.length; i++) {
        const byteId = byteIds[cp.charCodeAt(i)] as number;
        if (byteId < 0) {
          fail(
            'TOKENIZER_MISMATCH',
            `the vocabulary has no byte-fallback token for byte 0x${cp.charCodeAt(i).toString(16)}`,
          );
        }
        work.push(byteId);
      }
    }
    // run.c: a dummy-prefix space for non-empty text; it takes part in the merges
    const seq = text.length > 0 && dummy !== undefined ? [dummy, ...work] : work;
    // repeatedly merge the adjacent pair whose concatenation scores highest (first wins ties)
    for (;;) {
      let bestScore = Number.NEGATIVE_INFINITY;
      let bestId = -1;
      let bestAt = -1;
      for (let i = 0; i + 1 < seq.length; i++) {
        const merged =
          (pieces[seq[i] as number] as string) + (pieces[seq[i + 1] as number] as string);
        const id = lookup.get(merged);
        if (id !== undefined && (scores[id] as number) > bestScore) {
          bestScore = scores[id] as number;
          bestId = id;
          bestAt = i;
        }
      }
      if (bestAt < 0) break;
      seq.splice(bestAt, 2, bestId);
    }
    const out: number[] = (options.bos ?? true) ? [bosId] : [];
    out.push(...seq);
    if (options.eos) out.push(eosId);
    return Int32Array.from(out);
  }

  function decodeTokenBytes(prev: number, id: number): Uint8Array {
    if (id < 0 || id >= pieces.length) {
      fail(
        'TOKENIZER_MISMATCH',
        `token id ${id} is outside the vocabulary 0..${pieces.length - 1}`,
        { id },
      );
    }
    if (types[id] === TOKEN_TYPE.control || id === bosId || id === eosId) return new Uint8Array(0);
    const bytes = pieceBytes[id] as Uint8Array;
    // run.c: after BOS, a leading space (the dummy prefix) is dropped
    if (prev === bosId && bytes[0] === 0x20) return bytes.subarray(1);
    return bytes;
  }

  function decode(ids: ArrayLike<number>): string {
    const chunks: Uint8Array[] = [];
    let total = 0;
    let prev = -1;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as number;
      const b = decodeTokenBytes(prev, id);
      chunks.push(b);
      total += b.length;
      prev = id;
    }
    const all = new Uint8Array(total);
    let o = 0;
    for (const c of chunks) {
      all.set(c, o);
      o += c.length;
    }
    return new TextDecoder().decode(all);
  }

  return {
    pieces,
    scores,
    types,
    bosId,
    eosId,
    unkId,
    vocabSize: pieces.length,
    encode,
    decode,
    decodeTokenBytes,
  };
}

/** llama2.c export: ids 0 unk, 1 BOS ("\n<s>\n"), 2 EOS ("\n</s>\n"), then <0xNN> bytes. */
const LLAMA2C_UNK = 0;
const LLAMA2C_BOS = 1;
const LLAMA2C_EOS = 2;

/**
 * Parses llama2.c's tokenizer.bin: int32 max_token_length, then per token
 * {float32 score, int32 length, bytes}. `vocabSize` comes from the model header (the file
 * does not store it); a file too short or too long for it is TOKENIZER_MISMATCH.
 */
export function parseLlama2cTokenizer(
  bytes: Uint8Array,
  vocabSize: number,
  what = 'tokenizer.bin',
): Tokenizer {
  if (!Number.isInteger(vocabSize) || vocabSize <= 0) {
    fail(
      'INVALID_ARGUMENT',
      `parseLlama2cTokenizer: vocabSize is ${String(vocabSize)}; expected a positive integer`,
      { vocabSize: typeof vocabSize === 'number' ? vocabSize : typeof vocabSize },
    );
  }
  // each token takes at least 8 bytes (score, length): refuse before sizing arrays from it
  if (4 + 8 * vocabSize > bytes.byteLength) {
    const tokens = Math.max(0, Math.floor((bytes.byteLength - 4) / 8));
    fail(
      'TOKENIZER_MISMATCH',
      `${what} (${bytes.byteLength} bytes) holds at most ${tokens} tokens but the model's vocabulary has ${vocabSize}`,
      { maxTokens: tokens, vocabSize },
    );
  }
  const r = new ByteReader(bytes, what);
  r.i32('max_token_length');
  const pieces: string[] = [];
  const scores = new Float32Array(vocabSize);
  const types = new Uint8Array(vocabSize);
  for (let id = 0; id < vocabSize; id++) {
    if (r.offset + 8 > bytes.byteLength) {
      fail(
        'TOKENIZER_MISMATCH',
        `${what} holds ${id} tokens but the model's vocabulary has ${vocabSize}`,
        { tokens: id, vocabSize },
      );
    }
    const score = r.f32(`score[${id}]`);
    if (Number.isNaN(score)) {
      fail('FILE_CORRUPTED', `${what}: token ${id} has score NaN`, { id });
    }
    scores[id] = score;
    const len = r.i32(`length[${id}]`);
    if (len < 0 || len > 1 << 16)
      fail('FILE_CORRUPTED', `${what}: token ${id} has length ${len}`, { id, len });
    const raw = r.bytesOf(len, `token[${id}]`);
    let piece = '';
    for (let i = 0; i < raw.length; i++) piece += String.fromCharCode(raw[i] as number);
    pieces.push(piece);
    types[id] = BYTE_PIECE.test(piece)
      ? TOKEN_TYPE.byte
      : id === LLAMA2C_UNK
        ? TOKEN_TYPE.unknown
        : id === LLAMA2C_BOS || id === LLAMA2C_EOS
          ? TOKEN_TYPE.control
          : TOKEN_TYPE.normal;
  }
  if (r.offset !== bytes.byteLength) {
    fail(
      'TOKENIZER_MISMATCH',
      `${what} has ${bytes.byteLength - r.offset} bytes after token ${vocabSize - 1}: it is for a larger vocabulary than the model's ${vocabSize}`,
      { vocabSize, trailingBytes: bytes.byteLength - r.offset },
    );
  }
  return createTokenizer({
    pieces,
    scores,
    types,
    bosId: LLAMA2C_BOS,
    eosId: LLAMA2C_EOS,
    unkId: LLAMA2C_UNK,
  });
}

/** GGUF token text -> binary-string piece: UTF-8 bytes with U+2581 turned back into ' '. */
export function pieceFromGguf(text: string): string {
  return utf8ToBinary(text.split(SPACE_MARKER).join(' '));
}

/** Binary-string piece -> GGUF token text (UTF-8, ' ' as U+2581). */
export function pieceToGguf(piece: string): string {
  const bytes = new Uint8Array(piece.length);
  for (let i = 0; i < piece.length; i++) bytes[i] = piece.charCodeAt(i);
  return new TextDecoder().decode(bytes).split(' ').join(SPACE_MARKER);
}
