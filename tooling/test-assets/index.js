// Finds the shared assets (model, tokenizer, held-out text, golden values) for tests and
// benchmarks: $SKVQ_ASSETS if set, else ../shared beside the repository root. They are
// never copied into the repository.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export function assetsRoot() {
  return process.env.SKVQ_ASSETS
    ? resolve(process.env.SKVQ_ASSETS)
    : resolve(repoRoot, '..', 'shared');
}

/** Absolute path of a shared asset, e.g. assetPath('models/stories260K.bin'). */
export function assetPath(relative) {
  return join(assetsRoot(), relative);
}

/** Like assetPath, but throws a message saying where it looked when the file is absent. */
export function requireAsset(relative) {
  const path = assetPath(relative);
  if (!existsSync(path)) {
    throw new Error(
      `shared asset ${relative} not found at ${path}; set SKVQ_ASSETS to the folder holding models/, data/ and golden/`,
    );
  }
  return path;
}

export const STORIES_MODEL = 'models/stories260K.bin';
export const STORIES_TOKENIZER = 'models/tok512.bin';
export const STORIES_TEXT = 'data/tinystories-valid-head.txt';
export const STORIES_GOLDEN = 'golden/stories260K.json';
