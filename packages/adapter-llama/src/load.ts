import type { ModelSource } from '@skvq/core';
import { checkTokenizer, createLlamaModel } from './create-model.js';
import { fail } from './errors.js';
import { fingerprintBytes, fingerprintFile } from './fingerprint.js';
import { checkTensorLayout, readChunked } from './gguf-layout.js';
import { ggufConfig, ggufTokenizer, ggufWeights } from './gguf-model.js';
import { parseGgufHeader } from './gguf-read.js';
import { GGUF_MAGIC, type GgufHeader } from './gguf-types.js';
import { parseLlama2c } from './llama2c.js';
import type { LlamaModel } from './model.js';
import { parseLlama2cTokenizer, type Tokenizer } from './tokenizer.js';

/** Where a tokenizer comes from: a llama2.c tokenizer.bin (bytes or path), or a parsed one. */
export type TokenizerSource = Uint8Array | ArrayBuffer | { path: string } | Tokenizer;

export interface LoadOptions {
  /** Model name recorded in model.identity (default: the file name or the format). */
  name?: string;
  /** llama2.c checkpoints carry no vocabulary: give tokenizer.bin here. */
  tokenizer?: TokenizerSource;
  /** GGUF from a path: bytes read first for the header, doubled until it fits (default 1 MiB). */
  headerProbeBytes?: number;
}

/** First bytes read from a path to parse a GGUF header; doubled until the header fits. */
const GGUF_HEADER_PROBE_BYTES = 1 << 20;

function asBytes(source: Uint8Array | ArrayBuffer): Uint8Array {
  return source instanceof Uint8Array ? source : new Uint8Array(source);
}

async function readPath(path: string): Promise<Uint8Array> {
  const { readFile } = await import('node:fs/promises');
  try {
    return new Uint8Array(await readFile(path));
  } catch (error) {
    return fail('IO_ERROR', `cannot read ${path}: ${(error as Error).message}`, { path });
  }
}

function baseName(path: string): string {
  return (
    path
      .split(/[\\/]/)
      .pop()
      ?.replace(/\.(bin|gguf)$/i, '') ?? path
  );
}

async function resolveTokenizer(source: TokenizerSource, vocabSize: number): Promise<Tokenizer> {
  if (typeof source === 'object' && 'encode' in source) return source;
  const bytes = 'path' in source ? await readPath(source.path) : asBytes(source);
  return parseLlama2cTokenizer(bytes, vocabSize, 'path' in source ? source.path : 'tokenizer.bin');
}

/** Loads a llama2.c checkpoint (v0, v1, v2); a tokenizer is optional. */
export async function loadLlama2c(
  source: ModelSource,
  options: LoadOptions = {},
): Promise<LlamaModel> {
  const isPath = typeof source === 'object' && 'path' in source;
  const bytes = isPath ? await readPath(source.path) : asBytes(source as Uint8Array | ArrayBuffer);
  const what = isPath ? source.path : 'llama2.c checkpoint';
  const checkpoint = parseLlama2c(bytes, what);
  const tokenizer = options.tokenizer
    ? await resolveTokenizer(options.tokenizer, checkpoint.config.vocabSize)
    : undefined;
  if (tokenizer) checkTokenizer(checkpoint.config, tokenizer, 'the tokenizer');
  return createLlamaModel({
    format: 'llama2c',
    name: options.name ?? (isPath ? baseName(source.path) : 'llama2c-model'),
    fingerprint: await fingerprintBytes(bytes),
    config: checkpoint.config,
    weights: checkpoint.weights,
    tokenizer,
  });
}

async function headerFromFile(
  path: string,
  probeBytes: number,
): Promise<{
  header: GgufHeader;
  size: number;
  read: (offset: number, size: number) => Promise<Uint8Array>;
  close: () => Promise<void>;
}> {
  const { open } = await import('node:fs/promises');
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    return fail('IO_ERROR', `cannot open ${path}: ${(error as Error).message}`, { path });
  }
  const size = (await handle.stat()).size;
  const read = async (offset: number, length: number): Promise<Uint8Array> => {
    // callers pass ranges inside the file (checkTensorLayout), read in int32-sized pieces
    if (!(offset >= 0 && length >= 0 && offset + length <= size)) {
      fail(
        'FILE_TRUNCATED',
        `${path} is truncated: needs ${length} bytes at offset ${offset}, file has ${size}`,
        { offset, length, fileSize: size },
      );
    }
    const { bytes: buf, bytesRead } = await readChunked(
      async (b, o, l, p) => (await handle.read(b, o, l, p)).bytesRead,
      offset,
      length,
    );
    if (bytesRead < length) {
      fail(
        'FILE_TRUNCATED',
        `${path} is truncated: needs ${length} bytes at offset ${offset}, file has ${size}`,
        { offset, length, fileSize: size },
      );
    }
    return buf;
  };
  try {
    let probe = Math.min(probeBytes, size);
    for (;;) {
      const prefix = await read(0, probe);
      try {
        const header = parseGgufHeader(prefix, path);
        return { header, size, read, close: () => handle.close() };
      } catch (error) {
        // the header runs past the probe: read more (a truncated whole file still throws)
        if ((error as { code?: string }).code !== 'FILE_TRUNCATED' || probe >= size) throw error;
        probe = Math.min(probe * 2, size);
      }
    }
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * Loads a GGUF `llama` model: from bytes, or from a path by reading the header first and
 * then each tensor by offset through a file handle (the file is never held whole).
 */
export async function loadGguf(
  source: ModelSource,
  options: LoadOptions = {},
): Promise<LlamaModel> {
  if (typeof source === 'object' && 'path' in source) {
    const probe = options.headerProbeBytes;
    if (probe !== undefined && !(Number.isInteger(probe) && probe > 0)) {
      fail('INVALID_ARGUMENT', `headerProbeBytes must be a positive integer, got ${String(probe)}`);
    }
    const { header, size, read, close } = await headerFromFile(
      source.path,
      options.headerProbeBytes ?? GGUF_HEADER_PROBE_BYTES,
    );
    try {
      checkTensorLayout(header, size, source.path);
      const config = ggufConfig(header, source.path);
      const tokenizer = options.tokenizer
        ? await resolveTokenizer(options.tokenizer, config.vocabSize)
        : ggufTokenizer(header, source.path);
      const weights = await ggufWeights(
        header,
        config,
        (info) => read(header.dataOffset + info.offset, info.bytes),
        source.path,
      );
      return createLlamaModel({
        format: 'gguf',
        name: options.name ?? ggufName(header) ?? baseName(source.path),
        fingerprint: await fingerprintFile(source.path),
        config,
        weights,
        tokenizer,
      });
    } finally {
      await close();
    }
  }
  const bytes = asBytes(source);
  const what = 'GGUF file';
  const header = parseGgufHeader(bytes, what);
  checkTensorLayout(header, bytes.byteLength, what);
  const config = ggufConfig(header, what);
  const tokenizer = options.tokenizer
    ? await resolveTokenizer(options.tokenizer, config.vocabSize)
    : ggufTokenizer(header, what);
  const weights = await ggufWeights(
    header,
    config,
    async (info) => {
      const start = header.dataOffset + info.offset;
      if (start + info.bytes > bytes.byteLength) {
        fail(
          'FILE_TRUNCATED',
          `${what} is truncated: tensor "${info.name}" needs bytes ${start}..${start + info.bytes}, the file has ${bytes.byteLength}`,
          {
            tensor: info.name,
            fileSize: bytes.byteLength,
          },
        );
      }
      return bytes.subarray(start, start + info.bytes);
    },
    what,
  );
  return createLlamaModel({
    format: 'gguf',
    name: options.name ?? ggufName(header) ?? 'gguf-model',
    fingerprint: await fingerprintBytes(bytes),
    config,
    weights,
    tokenizer,
  });
}

function ggufName(header: GgufHeader): string | undefined {
  const v = header.metadata.get('general.name');
  return v && typeof v.value === 'string' ? v.value : undefined;
}

/** True when the bytes start with the GGUF magic. */
export function sniffGguf(header: Uint8Array): boolean {
  return (
    header.byteLength >= 4 &&
    new DataView(header.buffer, header.byteOffset, 4).getUint32(0, true) === GGUF_MAGIC
  );
}
