import { FUSED_ATTENTION_WASM_BASE64 } from './wasm-bytes.js';

/** The exports of wasm/fused-attention.wat (see that file for what each one does). */
export interface FusedAttentionExports {
  readonly memory: WebAssembly.Memory;
  configureLayout(
    per: number,
    rowBytes: number,
    channels: number,
    table: number,
    groups: number,
    offs: number,
    cbuf: number,
    rbuf: number,
  ): void;
  configureAttention(
    kvHeads: number,
    headDim: number,
    queryHeads: number,
    mode: number,
    q: number,
    codes: number,
    meta: number,
    cos: number,
    sin: number,
    scores: number,
    acc: number,
  ): void;
  configureBlocks(
    cstride: number,
    tbuf: number,
    pairs: number,
    qpair: number,
    headOff: number,
    accS: number,
    kq: number,
  ): void;
  keyRows(count: number): void;
  valueRows(count: number): void;
  packedKeys(blocks: number): number;
  packedValues(blocks: number): number;
  configureRuns(ridx: number, runs: number, groupRuns: number, qs: number, qrun: number): void;
  configureTbuf2(at: number): void;
  packedKeysPost(blocks: number): number;
  metaBlocks(count: number, size: number, raw: number, table: number): void;
  softmax(scores: number, length: number, max: number, sums: number): void;
  configureScores(pos: number, scale: number): void;
}

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

let instance: FusedAttentionExports | null | undefined;

function usable(bytes: Uint8Array<ArrayBuffer>): boolean {
  return typeof WebAssembly === 'object' && WebAssembly.validate(bytes);
}

/**
 * The fused kernel module, or null where WebAssembly or its SIMD proposal is unavailable;
 * the callers then use the pure JavaScript path. Instantiated on first use, synchronously:
 * fine in Node and in workers. A browser's main thread may refuse to compile a module of
 * this size synchronously (Chrome's limit is 4 KB); `prepareFusedAttentionWasm()` (the `cpu`
 * backend's `init()`) compiles it asynchronously first, and until then the JavaScript
 * path is used.
 */
export function fusedAttentionWasm(): FusedAttentionExports | null {
  if (instance !== undefined) return instance;
  const bytes = decodeBase64(FUSED_ATTENTION_WASM_BASE64);
  if (!usable(bytes)) {
    instance = null;
    return instance;
  }
  try {
    const module = new WebAssembly.Module(bytes);
    instance = new WebAssembly.Instance(module, {}).exports as unknown as FusedAttentionExports;
  } catch {
    // Synchronous compilation refused (browser main thread): stay on the JavaScript path
    // until prepareFusedAttentionWasm() has compiled the module asynchronously.
    return null;
  }
  return instance;
}

/** Compiles and instantiates the module asynchronously (allowed everywhere), once. */
export async function prepareFusedAttentionWasm(): Promise<void> {
  if (instance !== undefined) return;
  const bytes = decodeBase64(FUSED_ATTENTION_WASM_BASE64);
  if (!usable(bytes)) {
    instance = null;
    return;
  }
  const { instance: created } = await WebAssembly.instantiate(bytes, {});
  instance = created.exports as unknown as FusedAttentionExports;
}
