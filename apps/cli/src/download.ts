import { createHash } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SkvqError } from '@skvq/core';

/** A file of the default model: where it lives upstream and what it must hash to. */
export interface RemoteAsset {
  /** File name in the cache folder. */
  name: string;
  /** Path appended to the base URL. */
  path: string;
  /** Lower-case hex SHA-256 (shared/models/PROVENANCE.md). */
  sha256: string;
  bytes: number;
}

/** Canonical public location of stories260K (huggingface.co/karpathy/tinyllamas). */
export const DEFAULT_ASSET_BASE_URL = 'https://huggingface.co/karpathy/tinyllamas/resolve/main';

/** stories260K and its 512-token vocabulary; hashes and sizes from PROVENANCE.md. */
export const STORIES260K_ASSETS: readonly RemoteAsset[] = [
  {
    name: 'stories260K.bin',
    path: 'stories260K/stories260K.bin',
    sha256: 'b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696',
    bytes: 1_056_540,
  },
  {
    name: 'tok512.bin',
    path: 'stories260K/tok512.bin',
    sha256: '037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312',
    bytes: 6_227,
  },
];

/** Downloads stop after this long without completing (the model is 1 MB). */
export const DOWNLOAD_TIMEOUT_MS = 120_000;

export interface DownloadOptions {
  baseUrl?: string;
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
  onProgress?: (line: string) => void;
}

/**
 * Fetches `asset` from `baseUrl` into `target`, refusing anything whose size or SHA-256
 * differs from the recorded one; the file appears only once verified (written to a
 * temporary name, then renamed).
 */
export async function downloadAsset(
  asset: RemoteAsset,
  target: string,
  options: DownloadOptions = {},
): Promise<void> {
  const base = (options.baseUrl ?? DEFAULT_ASSET_BASE_URL).replace(/\/+$/, '');
  const url = `${base}/${asset.path}`;
  const doFetch = options.fetchImpl ?? fetch;
  options.onProgress?.(`downloading ${url}`);
  let body: Uint8Array;
  try {
    const response = await doFetch(url, {
      signal: AbortSignal.timeout(options.timeoutMs ?? DOWNLOAD_TIMEOUT_MS),
    });
    if (!response.ok) {
      throw new SkvqError('IO_ERROR', `download of ${url} failed: HTTP ${response.status}`, {
        details: { url, status: response.status },
      });
    }
    body = new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    if (error instanceof SkvqError) throw error;
    throw new SkvqError('IO_ERROR', `download of ${url} failed: ${(error as Error).message}`, {
      details: { url },
      cause: error,
    });
  }
  const digest = createHash('sha256').update(body).digest('hex');
  if (body.byteLength !== asset.bytes || digest !== asset.sha256) {
    throw new SkvqError(
      'FILE_CORRUPTED',
      `download of ${url} gave ${body.byteLength} bytes with sha256 ${digest}; expected ${asset.bytes} bytes with sha256 ${asset.sha256}`,
      { details: { url, sha256: digest, expected: asset.sha256 } },
    );
  }
  mkdirSync(dirname(target), { recursive: true });
  const partial = `${target}.partial-${process.pid}`;
  try {
    writeFileSync(partial, body);
    renameSync(partial, target);
  } finally {
    rmSync(partial, { force: true });
  }
}
