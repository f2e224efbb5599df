import { expect, test } from 'vitest';
import { withHandWrittenSections } from '../src/hand-written.js';

test('a rerun replaces the generated sections and keeps the hand-written ones', () => {
  const previous = [
    '# Benchmarks',
    'old figures',
    '## 2. Decode',
    'old table',
    '## Analysis (written by hand after the run above)',
    'why',
    '## gpu.js backend (issue 8; run separately)',
    'table',
  ].join('\n');
  const out = withHandWrittenSections('# Benchmarks\nnew figures\n', previous);
  expect(out).toContain('new figures');
  expect(out).not.toContain('old figures');
  expect(out).not.toContain('old table');
  expect(out.endsWith('## gpu.js backend (issue 8; run separately)\ntable')).toBe(true);
  expect(out).toContain('## Analysis (written by hand after the run above)\nwhy');
});

test('without hand-written sections the report is written as generated', () => {
  expect(withHandWrittenSections('# new\n', '# old\n## 1. Memory\n')).toBe('# new\n');
  expect(withHandWrittenSections('# new\n', '')).toBe('# new\n');
});
