import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGgufAdapter, createLlama2cAdapter, type LlamaModel } from '@skvq/adapter-llama';
import { type Registry, SkvqError } from '@skvq/core';
import { type DownloadOptions, downloadAsset, STORIES260K_ASSETS } from './download.js';

export const DEFAULT_MODEL_FILE = 'stories260K.bin';
export const DEFAULT_TOKENIZER_FILE = 'tok512.bin';
/** Bytes read to recognise a model file (both magics fit). */
const SNIFF_BYTES = 64;

export interface LookupOptions {
  model?: string;
  tokenizer?: string;
  env: Record<string, string | undefined>;
  cwd: string;
  /** Allow the download fallback (default true). */
  download?: boolean;
  downloadOptions?: DownloadOptions;
  log?: (line: string) => void;
  /** Replaces the default search folders (tests). */
  searchDirs?: Array<{ dir: string; source: string }>;
}

export interface ResolvedModel {
  modelPath: string;
  tokenizerPath: string | undefined;
  /** How it was found: flag, SKVQ_ASSETS, shared folder, cache, download. */
  source: string;
}

/** Folder of the repository holding this file (the one with pnpm-workspace.yaml), if any. */
function repoRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return dir;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

/** $XDG_CACHE_HOME/skvq, else ~/.cache/skvq. */
export function userCacheDir(env: Record<string, string | undefined>): string {
  const base = env.XDG_CACHE_HOME ? env.XDG_CACHE_HOME : join(env.HOME ?? homedir(), '.cache');
  return join(base, 'skvq');
}

/** Folders that may hold stories260K.bin + tok512.bin, in lookup order. */
export function candidateModelDirs(
  env: Record<string, string | undefined>,
  cwd: string,
): Array<{ dir: string; source: string }> {
  const out: Array<{ dir: string; source: string }> = [];
  if (env.SKVQ_ASSETS)
    out.push({ dir: resolve(cwd, env.SKVQ_ASSETS, 'models'), source: 'SKVQ_ASSETS' });
  const root = repoRoot();
  if (root)
    out.push({
      dir: resolve(root, '..', 'shared', 'models'),
      source: '../shared beside the repository',
    });
  out.push({
    dir: resolve(cwd, '..', 'shared', 'models'),
    source: '../shared beside the current directory',
  });
  out.push({ dir: userCacheDir(env), source: 'user cache' });
  return out;
}

/**
 * Finds the model: --model; else stories260K in $SKVQ_ASSETS/models, ../shared/models
 * (beside the repository, then beside the current directory), the user cache folder; else
 * downloads it into the user cache (sha256-verified). The tokenizer: --tokenizer, else
 * tok512.bin beside the model (llama2.c files carry no vocabulary).
 */
export async function resolveModel(options: LookupOptions): Promise<ResolvedModel> {
  const besideTokenizer = (modelPath: string) => {
    if (options.tokenizer) return resolve(options.cwd, options.tokenizer);
    const t = join(dirname(modelPath), DEFAULT_TOKENIZER_FILE);
    return existsSync(t) ? t : undefined;
  };
  if (options.tokenizer && !existsSync(resolve(options.cwd, options.tokenizer))) {
    throw new SkvqError(
      'IO_ERROR',
      `tokenizer file ${resolve(options.cwd, options.tokenizer)} does not exist`,
    );
  }
  if (options.model) {
    const modelPath = resolve(options.cwd, options.model);
    if (!existsSync(modelPath)) {
      throw new SkvqError('IO_ERROR', `model file ${modelPath} does not exist`, {
        details: { path: modelPath },
      });
    }
    return { modelPath, tokenizerPath: besideTokenizer(modelPath), source: '--model' };
  }
  const dirs = options.searchDirs ?? candidateModelDirs(options.env, options.cwd);
  for (const { dir, source } of dirs) {
    const modelPath = join(dir, DEFAULT_MODEL_FILE);
    if (existsSync(modelPath) && existsSync(join(dir, DEFAULT_TOKENIZER_FILE))) {
      return { modelPath, tokenizerPath: besideTokenizer(modelPath), source };
    }
  }
  const looked = dirs.map((d) => d.dir).join(', ');
  if (options.download === false) {
    throw new SkvqError(
      'IO_ERROR',
      `no model given and ${DEFAULT_MODEL_FILE} was not found in ${looked}; pass --model or set SKVQ_ASSETS`,
    );
  }
  const cacheDir = userCacheDir(options.env);
  options.log?.(`${DEFAULT_MODEL_FILE} not found in ${looked}; downloading it into ${cacheDir}`);
  for (const asset of STORIES260K_ASSETS) {
    const target = join(cacheDir, asset.name);
    if (!existsSync(target)) await downloadAsset(asset, target, options.downloadOptions);
  }
  const modelPath = join(cacheDir, DEFAULT_MODEL_FILE);
  return { modelPath, tokenizerPath: besideTokenizer(modelPath), source: 'download' };
}

export function readHead(path: string, bytes = SNIFF_BYTES): Uint8Array {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new SkvqError('IO_ERROR', `cannot open ${path}: ${(error as Error).message}`);
  }
  try {
    const buf = new Uint8Array(bytes);
    const n = readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/**
 * Loads a model through the registry's adapters: the first whose sniff() accepts the file
 * header, with the tokenizer attached (llama2.c) or read from the file (GGUF).
 */
export async function loadModel(registry: Registry, resolved: ResolvedModel): Promise<LlamaModel> {
  const head = readHead(resolved.modelPath);
  const adapter = registry.list('adapter').find((a) => a.sniff(head));
  if (!adapter) {
    throw new SkvqError(
      'FILE_BAD_MAGIC',
      `${resolved.modelPath} is not a model any registered adapter reads (${registry
        .list('adapter')
        .map((a) => a.name)
        .join(', ')})`,
    );
  }
  const tokenizer = resolved.tokenizerPath ? { path: resolved.tokenizerPath } : undefined;
  // The registry's adapter chose the format; its factory attaches the tokenizer file.
  const configured =
    adapter.name === 'gguf-llama'
      ? createGgufAdapter(tokenizer ? { tokenizer } : {})
      : createLlama2cAdapter(tokenizer ? { tokenizer } : {});
  return (await configured.load({ path: resolved.modelPath })) as LlamaModel;
}
