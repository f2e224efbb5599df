// Hash of the sources the native build reads (kernels, addon, emulator): gpu-pack.mjs
// records it beside the prebuilt addon and kernels it packs, and gpu-check.sh compares it
// with the working tree's before falling back to them, so a stale build is never used
// silently. Usage: node scripts/native-source-hash.mjs  (prints the hex digest)
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const PKG = resolve(dirname(fileURLToPath(import.meta.url)), '..');

export function nativeSourceHash(pkg = PKG) {
  const hash = createHash('sha256');
  const files = [
    ...readdirSync(join(pkg, 'src', 'cuda')).map((f) => join('src', 'cuda', f)),
    join('native', 'cuda_addon.cc'),
    join('native', 'binding.gyp'),
    ...readdirSync(join(pkg, 'native', 'emu')).map((f) => join('native', 'emu', f)),
  ].sort();
  for (const f of files) hash.update(f).update(readFileSync(join(pkg, f)));
  return hash.digest('hex');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  console.log(nativeSourceHash());
}
