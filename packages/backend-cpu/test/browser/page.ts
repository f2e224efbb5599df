// The page of threads.browser.test.ts: a decode on the threaded cpu backend (Web Workers)
// and on one thread, in the browser; posts the comparison to window.__result.
import { backendStorage, type KvSegment, LLAMA2_7B_LAYER, mulberry32 } from '@skvq/core';
import { createCpuBackend } from '../../src/index.js';

interface PageResult {
  crossOriginIsolated: boolean;
  label: string;
  sharedStorage: boolean;
  promise: boolean;
  relErr: number;
  error?: string;
}

async function main(): Promise<PageResult> {
  const geometry = { ...LLAMA2_7B_LAYER, queryHeads: 8, kvHeads: 4 };
  const channels = geometry.kvHeads * geometry.headDim;
  const threaded = createCpuBackend({
    threads: 2,
    minWorkPerThread: 1,
    workerUrl: new URL('./cpu-worker.js', location.href),
  });
  const single = createCpuBackend({ threads: 1 });
  await threaded.init?.();
  await single.init?.();
  // Segments in the threaded backend's storage: shared memory where the page is isolated.
  const storage = backendStorage(threaded);
  const random = mulberry32(7);
  const length = 777;
  const floats = (n: number) => {
    const bytes = storage.allocate(4 * n, 'fp').host as Uint8Array;
    const out = new Float32Array(bytes.buffer, bytes.byteOffset, n);
    for (let i = 0; i < n; i++) out[i] = random() * 2 - 1;
    return out;
  };
  const positions = Int32Array.from({ length }, (_, i) => i);
  const cut = 401;
  const segs = (data: Float32Array): KvSegment[] => [
    {
      kind: 'fp',
      precision: 'fp32',
      count: cut,
      data: data.subarray(0, cut * channels),
      positions: positions.subarray(0, cut),
    },
    {
      kind: 'fp',
      precision: 'fp32',
      count: length - cut,
      data: data.subarray(cut * channels),
      positions: positions.subarray(cut),
    },
  ];
  const job = {
    q: floats(geometry.queryHeads * geometry.headDim),
    start: length,
    rows: 1,
    causal: false,
    keys: segs(floats(length * channels)),
    values: segs(floats(length * channels)),
    length,
  };
  const attrs = { geometry, keysPreRope: true };
  const want = single.kernels.attend?.(job, attrs) as Float32Array;
  const pending = threaded.kernels.attend?.(job, attrs);
  const got = (await pending) as Float32Array;
  let d = 0;
  let s = 0;
  for (let i = 0; i < want.length; i++) {
    d = Math.max(d, Math.abs((got[i] as number) - (want[i] as number)));
    s = Math.max(s, Math.abs(want[i] as number));
  }
  const result = {
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    label: threaded.label?.() ?? '',
    sharedStorage: threaded.storage !== undefined && job.q.buffer instanceof SharedArrayBuffer,
    promise: pending instanceof Promise,
    relErr: d / s,
  };
  await threaded.dispose?.();
  return result;
}

const w = window as unknown as { __result?: PageResult };
main().then(
  (result) => {
    w.__result = result;
  },
  (error: unknown) => {
    w.__result = {
      crossOriginIsolated: false,
      label: '',
      sharedStorage: false,
      promise: false,
      relErr: Number.NaN,
      error: String(error instanceof Error ? error.stack : error),
    };
  },
);
