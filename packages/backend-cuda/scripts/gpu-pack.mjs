#!/usr/bin/env node
// Prepares what scripts/gpu-check.sh needs on a GPU machine that reaches no registry (the
// device machines of this project: the working tree travels, node_modules and Node do not).
// Run it on a machine with the workspace installed and built (no GPU needed):
//   node packages/backend-cuda/scripts/gpu-pack.mjs [--out .gpu-carry]
// It writes, into the folder (ignored by git through .git/info/exclude, so it can be carried):
//   node.tar.xz     this Node binary (bin/node) and its headers (include/node, without
//                   OpenSSL's) so node-gyp can rebuild the addon there;
//   modules.tar.xz  the node_modules the check runs: vitest and its dependencies, node-gyp
//                   and node-addon-api, the webgpu package (Dawn, linux-x64 binary only),
//                   and the workspace's symlink farms (packages/*/node_modules);
//   built.tar.xz    dist/ of @skvq/core, formats, backend-cuda and backend-webgpu, and the
//                   addon and kernels built here (used when the rebuild there fails);
//   manifest.json   what was packed, from which commit, with the hash of the CUDA sources.
// Archives are xz tarballs; gpu-check.sh unpacks them with python3 (always there).
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { nativeSourceHash } from './native-source-hash.mjs';

const PKG = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ROOT = resolve(PKG, '..', '..');
const { values: opts } = parseArgs({
  options: { out: { type: 'string', default: join(ROOT, '.gpu-carry') } },
});
const OUT = resolve(opts.out);
const PNPM = join(ROOT, 'node_modules', '.pnpm');
/** Carry limit of the device tool (working tree plus carried paths). */
const CARRY_LIMIT = 64 * 2 ** 20;

/** Packages whose node_modules link the check's entry points. */
const STARTS = [
  join(ROOT, 'node_modules', 'vitest'),
  join(PKG, 'node_modules', 'node-gyp'),
  join(PKG, 'node_modules', 'node-addon-api'),
  join(ROOT, 'packages', 'backend-webgpu', 'node_modules', 'webgpu'),
];

/** The .pnpm entry (folder name) a real path lies in, or null outside the store. */
function entryOf(path) {
  const rel = relative(PNPM, path);
  if (rel.startsWith('..') || rel === '') return null;
  return rel.split(sep)[0];
}

/** Every .pnpm entry reachable from STARTS through the entries' node_modules links. */
function closure() {
  const seen = new Set();
  const queue = STARTS.filter((p) => existsSync(p)).map((p) => entryOf(realpathSync(p)));
  for (const missing of STARTS.filter((p) => !existsSync(p))) {
    console.warn(`gpu-pack: ${relative(ROOT, missing)} is not installed; skipped`);
  }
  while (queue.length > 0) {
    const entry = queue.pop();
    if (entry === null || seen.has(entry)) continue;
    seen.add(entry);
    const modules = join(PNPM, entry, 'node_modules');
    const names = [];
    for (const name of readdirSync(modules)) {
      if (name.startsWith('@')) {
        for (const sub of readdirSync(join(modules, name))) names.push(join(name, sub));
      } else if (name !== '.bin') names.push(name);
    }
    for (const name of names) {
      const link = join(modules, name);
      if (!existsSync(link)) continue;
      queue.push(entryOf(realpathSync(link)));
    }
  }
  return [...seen].sort();
}

/** Writes a tar.xz of `members` (paths relative to `base`), excluding what `skip` matches. */
function tarXz(file, base, members, skip = []) {
  const script = `
import sys, tarfile, re
out, base, skips = sys.argv[1], sys.argv[2], [re.compile(s) for s in sys.argv[3].split('\\n') if s]
members = sys.stdin.read().split('\\n')
def keep(info):
    return None if any(s.search(info.name) for s in skips) else info
with tarfile.open(out, 'w:xz', preset=6) as tar:
    for m in members:
        if m:
            tar.add(base + '/' + m, arcname=m, recursive=True, filter=keep)
`;
  execFileSync('python3', ['-c', script, file, base, skip.join('\n')], {
    input: members.join('\n'),
    stdio: ['pipe', 'inherit', 'inherit'],
  });
  return statSync(file).size;
}

mkdirSync(OUT, { recursive: true });
const sizes = {};

// 1. Node: the binary running this script and its headers.
const nodeStage = join(OUT, '.node-stage');
mkdirSync(join(nodeStage, 'bin'), { recursive: true });
execFileSync('cp', [process.execPath, join(nodeStage, 'bin', 'node')]);
const headers = [
  '/usr/include/node',
  join(dirname(process.execPath), '..', 'include', 'node'),
].find((d) => existsSync(join(d, 'node_api.h')));
if (headers) {
  mkdirSync(join(nodeStage, 'include'), { recursive: true });
  execFileSync('cp', ['-r', headers, join(nodeStage, 'include', 'node')]);
} else {
  console.warn(
    'gpu-pack: no Node headers found; the addon cannot be rebuilt there (prebuilt used)',
  );
}
sizes['node.tar.xz'] = tarXz(
  join(OUT, 'node.tar.xz'),
  nodeStage,
  ['bin', 'include'],
  ['^include/node/openssl'],
);
execFileSync('rm', ['-rf', nodeStage]);

// 2. node_modules: the closure, plus the symlink farms that point into it.
const entries = closure();
const farms = [];
for (const area of ['packages', 'tooling']) {
  for (const name of readdirSync(join(ROOT, area))) {
    const nm = join(area, name, 'node_modules');
    if (existsSync(join(ROOT, nm))) farms.push(nm);
  }
}
const rootLinks = readdirSync(join(ROOT, 'node_modules'))
  .filter((n) => n !== '.pnpm' && n !== '.bin')
  .map((n) => join('node_modules', n))
  .filter((p) => lstatSync(join(ROOT, p)).isSymbolicLink() || p.includes('@'));
sizes['modules.tar.xz'] = tarXz(
  join(OUT, 'modules.tar.xz'),
  ROOT,
  [...entries.map((e) => join('node_modules', '.pnpm', e)), ...farms, ...rootLinks],
  // Dawn ships every platform's binary; the device machine is linux x64.
  ['webgpu/dist/(darwin|win32|linux-arm64)', '/\\.cache/', '\\.map$'],
);

// 3. Built outputs made here.
const built = [
  'packages/core/dist',
  'packages/formats/dist',
  'packages/backend-cuda/dist',
  'packages/backend-webgpu/dist',
  'packages/backend-cuda/build/kernels',
  'packages/backend-cuda/native/build/Release/skvq_cuda.node',
  'packages/backend-cuda/native/build/Release/skvq_cuda_emu.node',
].filter((p) => existsSync(join(ROOT, p)));
sizes['built.tar.xz'] = tarXz(join(OUT, 'built.tar.xz'), ROOT, built);

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
} catch {}
writeFileSync(
  join(OUT, 'manifest.json'),
  `${JSON.stringify(
    {
      commit,
      node: process.version,
      nativeSourceHash: nativeSourceHash(),
      entries: entries.length,
      built,
      sizes,
    },
    null,
    2,
  )}\n`,
);

// The folder must be ignored by git to be carried (the tool carries ignored paths it names).
try {
  const exclude = execFileSync('git', ['rev-parse', '--git-path', 'info/exclude'], {
    cwd: ROOT,
    encoding: 'utf8',
  }).trim();
  const excludePath = resolve(ROOT, exclude);
  const line = `/${relative(ROOT, OUT)}/`;
  const current = existsSync(excludePath) ? readFileSync(excludePath, 'utf8') : '';
  if (!current.split('\n').includes(line)) {
    mkdirSync(dirname(excludePath), { recursive: true });
    writeFileSync(
      excludePath,
      `${current}${current.endsWith('\n') || !current ? '' : '\n'}${line}\n`,
    );
  }
} catch {
  console.warn('gpu-pack: not a git checkout; make sure the folder is ignored before carrying it');
}

const total = Object.values(sizes).reduce((a, b) => a + b, 0);
for (const [name, size] of Object.entries(sizes)) {
  console.log(`${name}: ${(size / 2 ** 20).toFixed(1)} MiB`);
}
console.log(
  `gpu-pack: ${(total / 2 ** 20).toFixed(1)} MiB in ${relative(ROOT, OUT)}/ (${entries.length} packages)` +
    (total > CARRY_LIMIT * 0.85 ? ' — close to the 64 MiB carry limit with the working tree' : ''),
);
console.log(
  `carry it: run(command: "bash packages/backend-cuda/scripts/gpu-check.sh", carry: ["${relative(ROOT, OUT)}"], timeout_s: 540)`,
);
