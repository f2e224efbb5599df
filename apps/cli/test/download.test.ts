import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { requireAsset, STORIES_MODEL, STORIES_TOKENIZER } from '@skvq/test-assets';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadAsset, type RemoteAsset, STORIES260K_ASSETS } from '../src/download.js';
import { resolveModel, userCacheDir } from '../src/model-lookup.js';

/** A bounded local server (127.0.0.1 only) that serves `files` by path and 404 otherwise. */
function serve(
  files: Record<string, Uint8Array>,
): Promise<{ server: Server; base: string; hits: string[] }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    const path = (req.url ?? '').replace(/^\//, '');
    hits.push(path);
    const body = files[path];
    if (!body) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-length': body.byteLength }).end(body);
  });
  server.keepAliveTimeout = 100;
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, base: `http://127.0.0.1:${port}/models`, hits });
    }),
  );
}

describe('download and model lookup', () => {
  let tmp: string;
  let srv: Awaited<ReturnType<typeof serve>>;
  const model = new Uint8Array(readFileSync(requireAsset(STORIES_MODEL)));
  const tokenizer = new Uint8Array(readFileSync(requireAsset(STORIES_TOKENIZER)));
  const small = new TextEncoder().encode('hello skvq');
  const smallAsset: RemoteAsset = {
    name: 'small.bin',
    path: 'x/small.bin',
    sha256: createHash('sha256').update(small).digest('hex'),
    bytes: small.byteLength,
  };

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'skvq-dl-'));
    srv = await serve({
      'models/stories260K/stories260K.bin': model,
      'models/stories260K/tok512.bin': tokenizer,
      'models/x/small.bin': small,
      'models/x/bad.bin': new TextEncoder().encode('tampered!!'),
    });
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => srv.server.close(() => resolve()));
    srv.server.closeAllConnections();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('downloads a file and verifies its sha256', async () => {
    const target = join(tmp, 'a', 'small.bin');
    await downloadAsset(smallAsset, target, { baseUrl: srv.base, timeoutMs: 5000 });
    expect(readFileSync(target, 'utf8')).toBe('hello skvq');
  });

  it('refuses a file whose hash differs and leaves nothing behind', async () => {
    const target = join(tmp, 'b', 'bad.bin');
    await expect(
      downloadAsset({ ...smallAsset, path: 'x/bad.bin' }, target, {
        baseUrl: srv.base,
        timeoutMs: 5000,
      }),
    ).rejects.toMatchObject({ code: 'FILE_CORRUPTED' });
    expect(existsSync(target)).toBe(false);
  });

  it('reports HTTP errors as IO_ERROR', async () => {
    await expect(
      downloadAsset({ ...smallAsset, path: 'x/missing.bin' }, join(tmp, 'c'), {
        baseUrl: srv.base,
        timeoutMs: 5000,
      }),
    ).rejects.toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('HTTP 404') });
  });

  it('falls back to downloading stories260K into the user cache folder', async () => {
    const env = { XDG_CACHE_HOME: join(tmp, 'xdg') };
    const empty = join(tmp, 'empty');
    const resolved = await resolveModel({
      env,
      cwd: tmp,
      searchDirs: [{ dir: empty, source: 'test' }],
      downloadOptions: { baseUrl: srv.base, timeoutMs: 5000 },
    });
    expect(resolved.source).toBe('download');
    expect(resolved.modelPath).toBe(join(userCacheDir(env), 'stories260K.bin'));
    expect(resolved.tokenizerPath).toBe(join(userCacheDir(env), 'tok512.bin'));
    for (const asset of STORIES260K_ASSETS) {
      const bytes = readFileSync(join(userCacheDir(env), asset.name));
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(asset.sha256);
    }
    // a second lookup finds the cached copy without the network
    const before = srv.hits.length;
    const again = await resolveModel({
      env,
      cwd: tmp,
      searchDirs: [{ dir: userCacheDir(env), source: 'user cache' }],
      downloadOptions: { baseUrl: srv.base, timeoutMs: 5000 },
    });
    expect(again.source).toBe('user cache');
    expect(srv.hits.length).toBe(before);
  });

  it('finds the model in $SKVQ_ASSETS/models first', async () => {
    const assets = join(requireAsset(STORIES_MODEL), '..', '..');
    const resolved = await resolveModel({
      env: { SKVQ_ASSETS: assets },
      cwd: tmp,
      download: false,
    });
    expect(resolved.source).toBe('SKVQ_ASSETS');
    expect(resolved.tokenizerPath).toMatch(/tok512\.bin$/);
  });

  it('says where it looked when nothing is found and download is off', async () => {
    await expect(
      resolveModel({
        env: {},
        cwd: tmp,
        download: false,
        searchDirs: [{ dir: join(tmp, 'none'), source: 't' }],
      }),
    ).rejects.toMatchObject({ code: 'IO_ERROR', message: expect.stringContaining('pass --model') });
  });
});
