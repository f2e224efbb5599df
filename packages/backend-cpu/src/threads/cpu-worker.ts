// The worker of the threaded cpu backend (Node worker_threads and browser Web Workers): it
// runs the single-thread kernels on the share of a job it is posted and posts the result.
// Built as its own entry (dist/cpu-worker.js); see pool.ts for how it is found. Named like
// its output so that `new URL('./cpu-worker.js', import.meta.url)` also resolves (to this
// file) for bundlers that read the TypeScript sources (Vite maps .js to .ts).
import { type QuantLayout, SkvqError } from '@skvq/core';
import { checkAttrs } from '@skvq/formats';
import { attendFastPartial, attendJobFast } from '../fast-attention.js';
import { fusedDecodeAvailable, fusedDecodeParts } from '../fused-decode.js';
import { prepareFusedAttentionWasm } from '../wasm-module.js';
import type { PostedSegment, WorkerRequest, WorkerResponse } from './messages.js';

interface Port {
  post(message: WorkerResponse, transfer: ArrayBuffer[]): void;
  listen(handler: (message: WorkerRequest) => void): void;
}

async function connect(): Promise<Port> {
  const nodeProcess = (globalThis as { process?: { versions?: { node?: string } } }).process;
  if (nodeProcess?.versions?.node !== undefined) {
    const { parentPort } = await import('node:worker_threads');
    if (parentPort === null) throw new Error('cpu-worker.js must run as a worker thread');
    return {
      post: (message, transfer) => parentPort.postMessage(message, transfer),
      listen: (handler) => parentPort.on('message', handler),
    };
  }
  const scope = globalThis as unknown as {
    postMessage(message: unknown, transfer: Transferable[]): void;
    addEventListener(type: 'message', handler: (event: MessageEvent) => void): void;
  };
  return {
    post: (message, transfer) => scope.postMessage(message, transfer),
    listen: (handler) =>
      scope.addEventListener('message', (event) => handler(event.data as WorkerRequest)),
  };
}

/** Layouts by the id the main thread gave them (messages.ts, layoutId); bounded. */
const layouts = new Map<number, QuantLayout>();
const MAX_LAYOUTS = 4096;

/** Swaps each packed segment's fresh copy of its layout for the one seen first. */
function knownLayouts(segments: PostedSegment[]): void {
  for (const seg of segments) {
    if (seg.kind !== 'packed' || seg.layoutId === undefined) continue;
    const known = layouts.get(seg.layoutId);
    if (known !== undefined) {
      (seg as { layout: QuantLayout }).layout = known;
    } else {
      if (layouts.size >= MAX_LAYOUTS) layouts.clear();
      layouts.set(seg.layoutId, seg.layout);
    }
  }
}

function run(request: WorkerRequest): { response: WorkerResponse; transfer: ArrayBuffer[] } {
  const attrs = checkAttrs(request.attrs, 'attend (cpu worker)');
  knownLayouts(request.keys);
  knownLayouts(request.values);
  if (request.kind === 'partial') {
    const { q, position, keys, values, length, withScores } = request;
    const parts =
      request.fused && fusedDecodeAvailable(attrs)
        ? fusedDecodeParts(q, position, keys, values, attrs, withScores)
        : attendFastPartial(q, position, keys, values, length, attrs, withScores);
    const transfer = [parts.max.buffer, parts.sums.buffer, parts.acc.buffer] as ArrayBuffer[];
    if (parts.scores !== undefined) transfer.push(parts.scores.buffer as ArrayBuffer);
    return { response: { id: request.id, ok: true, parts }, transfer };
  }
  const { q, start, rows, causal, keys, values, length } = request;
  const sums = request.wantSums ? new Float32Array(length) : undefined;
  const out = attendJobFast(
    { q, start, rows, causal, keys, values, length, attentionSums: sums },
    request.attrs,
    { fused: request.fused },
  );
  const transfer = [out.buffer as ArrayBuffer];
  if (sums !== undefined) transfer.push(sums.buffer);
  return { response: { id: request.id, ok: true, out, sums }, transfer };
}

// Compiles the WebAssembly module before the first job (synchronous compilation would also
// be allowed in a worker; this keeps the first job's time honest).
const ready = prepareFusedAttentionWasm();
void connect().then((port) => {
  port.listen((request) => {
    void ready.then(() => {
      try {
        const { response, transfer } = run(request);
        port.post(response, transfer);
      } catch (error) {
        const code = error instanceof SkvqError ? error.code : undefined;
        const message = error instanceof Error ? error.message : String(error);
        port.post({ id: request.id, ok: false, code, message }, []);
      }
    });
  });
});
