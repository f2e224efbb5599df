import { createCpuBackend } from '@skvq/backend-cpu';
// The tests import @skvq/backend-cpu from its TypeScript sources: its workers run a bundle
// of those sources (there is no built cpu-worker.js next to them).
import { workerUrlFromSources } from '../../backend-cpu/test/worker-from-sources.js';
import { describeBackend } from '../src/vitest.js';

// The threaded cpu backend: minWorkPerThread 1 sends every attention job of the suite to
// the threads (its lengths are mostly not multiples of 2 or 3, and its segments straddle
// the cuts), and copyUnshared lets the suite's plain-ArrayBuffer segments go there (as
// copies); threads 1 is the synchronous single-thread path through the same factory.
for (const threads of [1, 2, 3]) {
  for (const fused of [true, false]) {
    describeBackend(`cpu (threads: ${threads}${fused ? '' : ', fused: false'})`, () =>
      createCpuBackend({
        threads,
        fused,
        minWorkPerThread: 1,
        copyUnshared: true,
        workerUrl: workerUrlFromSources(),
      }),
    );
  }
}
