import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Every source file the given entry reaches through relative imports. */
function reachable(entry: string): Map<string, string> {
  const seen = new Map<string, string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    const text = readFileSync(file, 'utf8');
    seen.set(file, text);
    for (const m of text.matchAll(/from '(\.[^']+)\.js'/g)) {
      visit(resolve(dirname(file), `${m[1]}.ts`));
    }
  };
  visit(entry);
  return seen;
}

describe('entry points', () => {
  const src = join(import.meta.dirname, '..', 'src');

  it('the main entry never imports vitest (a browser page imports it)', () => {
    const files = reachable(join(src, 'index.ts'));
    expect(files.size).toBeGreaterThan(5);
    for (const [file, text] of files) {
      expect(text, file).not.toMatch(/from 'vitest'/);
    }
  });

  it('the ./vitest subpath holds describeBackend', () => {
    const files = reachable(join(src, 'vitest.ts'));
    expect([...files.values()].some((text) => text.includes("from 'vitest'"))).toBe(true);
  });
});
