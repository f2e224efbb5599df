import { readFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { fileURLToPath } from 'node:url';

/** The first characters of the code at a profiled line (names anonymous functions). */
function codeAt(url: string, line: number): string {
  if (!url.startsWith('file:')) return '';
  try {
    const text = readFileSync(fileURLToPath(url), 'utf8').split('\n')[line] ?? '';
    return text.trim().slice(0, 70);
  } catch {
    return '';
  }
}

export interface ProfileEntry {
  fn: string;
  /** The code at that line of the built file. */
  code: string;
  ms: number;
  share: number;
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/**
 * Runs `work` under the V8 CPU profiler (what `node --cpu-prof` records) and returns the
 * functions with the most self time: where a missed target's time goes.
 */
export async function profileTop(work: () => Promise<void>, top = 8): Promise<ProfileEntry[]> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  await work();
  const { profile } = (await session.post('Profiler.stop')) as unknown as {
    profile: { nodes: CpuProfileNode[]; samples: number[]; timeDeltas: number[] };
  };
  session.disconnect();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const code = new Map<string, string>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)!;
    const file = node.callFrame.url.split('/').slice(-3).join('/');
    const name = `${node.callFrame.functionName || '(anonymous)'} (${file || 'native'}:${node.callFrame.lineNumber + 1})`;
    const dt = profile.timeDeltas[i] ?? 0;
    if (!code.has(name)) code.set(name, codeAt(node.callFrame.url, node.callFrame.lineNumber));
    self.set(name, (self.get(name) ?? 0) + dt);
    total += dt;
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, us]) => ({ fn, code: code.get(fn) ?? '', ms: us / 1000, share: us / total }));
}
