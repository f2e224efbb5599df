// Shared vitest preset: every package's tests import the other @skvq packages from their
// TypeScript sources, so a test run never depends on a stale dist. Tests that check the
// built output import `../dist/...` explicitly; `pnpm test` builds before it tests.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Maps every workspace package name to its `src/index.ts`. */
export function sourceAliases() {
  const aliases = [];
  for (const area of ['packages', 'apps']) {
    const dir = join(repoRoot, area);
    if (!existsSync(dir)) continue;
    for (const entry of readdirSync(dir)) {
      const manifest = join(dir, entry, 'package.json');
      const entrySource = join(dir, entry, 'src', 'index.ts');
      if (!existsSync(manifest) || !existsSync(entrySource)) continue;
      const { name, exports } = JSON.parse(readFileSync(manifest, 'utf8'));
      aliases.push({ find: new RegExp(`^${name.replace('/', '\\/')}$`), replacement: entrySource });
      // Subpath exports ("./vitest") whose source is src/<subpath>.ts resolve to it as well.
      for (const key of Object.keys(exports ?? {})) {
        const source = join(dir, entry, 'src', `${key.slice(2)}.ts`);
        if (key === '.' || key === './package.json' || !existsSync(source)) continue;
        const subpath = `${name}/${key.slice(2)}`.replace(/\//g, '\\/');
        aliases.push({ find: new RegExp(`^${subpath}$`), replacement: source });
      }
    }
  }
  return aliases;
}

/**
 * The vitest project config of one package directory.
 * @param {string} packageDir absolute path of the package
 * @param {{ name?: string, environment?: string, testTimeout?: number }} [options]
 */
export function packageProject(packageDir, options = {}) {
  const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
  return {
    resolve: { alias: sourceAliases() },
    test: {
      name: options.name ?? manifest.name,
      root: packageDir,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      exclude: ['**/node_modules/**', '**/dist/**'],
      environment: options.environment ?? 'node',
      testTimeout: options.testTimeout ?? 60_000,
    },
  };
}
