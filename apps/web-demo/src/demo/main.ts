// The demo page: load the model, pick a cache method, generate with streaming output and a
// live view of speed, memory against fp16, token storage classes and perplexity.
import { generateStream, type LlamaModel } from '@skvq/adapter-llama';
import { CPU_BACKEND_NAME } from '@skvq/backend-cpu';
import type { KvCache } from '@skvq/cache';
import {
  type BackendPlugin,
  backendLabel,
  type CacheBytes,
  type CalibrationArtifact,
  describeError,
  SkvqError,
  serializeCalibration,
} from '@skvq/core';
import { type DemoBackendChoice, parseBackendChoice, resolveOptionsFor } from './backend-choice.js';
import {
  cacheFactory,
  calibrateOnTheFly,
  createDemoRegistry,
  loadModel,
  parseCalibrationFor,
  textPerplexity,
} from './engine.js';
import { fp16CacheBytes, type MemoryPoint, memoryChartSvg } from './memory.js';
import { type DemoSettings, parseSettings } from './settings.js';
import { classifyPositions, type TokenClass } from './token-classes.js';

/** What the page exposes for its end-to-end test (and for curious users in devtools). */
export interface DemoState {
  /** Registry name of the active backend (webgpu, gpujs, cpu). */
  backend?: string;
  /** What the page shows for it: the name, with gpu.js's actual mode ("gpujs (webgl2)"). */
  backendLabel?: string;
  model?: string;
  busy: boolean;
  runs: number;
  error?: string;
  text: string;
  bytes?: number;
  fp16Bytes?: number;
  bitsPerElement?: number;
  /** The cache's own accounting (CacheBytes of @skvq/core) at the last token. */
  breakdown?: CacheBytes;
  tokensPerSecond?: number;
  pplFp32?: number;
  pplCache?: number;
  classes: Record<TokenClass, number>;
  /** Milliseconds of the last run's stages. */
  timings?: { calibrateMs: number; generateMs: number; perplexityMs: number };
  /** The last SKVQ calibration used (JSON), so it can be saved and reused. */
  calibrationJson?: string;
}

declare global {
  interface Window {
    __skvqDemo: DemoState;
  }
}

const $ = <T extends HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (el === null) throw new Error(`page is missing #${id}`);
  return el as T;
};

const state: DemoState = {
  busy: false,
  runs: 0,
  text: '',
  classes: { sink: 0, window: 0, quantized: 0, pending: 0, fp: 0 },
};
window.__skvqDemo = state;

const registry = createDemoRegistry();
let backend: BackendPlugin | undefined;
/** The selector value `backend` was resolved for. */
let backendChoice: DemoBackendChoice | undefined;
let model: LlamaModel | undefined;
let uploadedCalibration: CalibrationArtifact | undefined;

function showError(error: unknown): void {
  const message =
    error instanceof SkvqError ? `${error.code}: ${error.message}` : describeError(error);
  state.error = message;
  $('error').textContent = message;
  $('error').hidden = false;
}

function clearError(): void {
  state.error = undefined;
  $('error').hidden = true;
  $('error').textContent = '';
}

/** Runs one user action; an error is shown and the page stays usable. */
async function action(fn: () => Promise<void>): Promise<void> {
  if (state.busy) return;
  state.busy = true;
  document.body.dataset.busy = 'true';
  clearError();
  try {
    await fn();
  } catch (error) {
    showError(error);
  } finally {
    state.busy = false;
    document.body.dataset.busy = 'false';
  }
}

/** The backend of the selector's choice, resolved (and its init() run) on first use. */
async function activeBackend(): Promise<BackendPlugin> {
  const choice = parseBackendChoice(($('backend-choice') as HTMLSelectElement).value);
  if (backend === undefined || choice !== backendChoice) {
    backend = undefined;
    backendChoice = choice;
    state.backend = undefined;
    state.backendLabel = undefined;
    $('backend').textContent = 'resolving…';
    try {
      backend = await registry.resolveBackend(resolveOptionsFor(choice));
    } catch (error) {
      // The choice stays selected; the error says why (e.g. no WebGL2 for gpu.js).
      $('backend').textContent = `${choice}: unavailable`;
      throw error;
    }
    state.backend = backend.name;
    state.backendLabel = backendLabel(backend);
    $('backend').textContent = state.backendLabel;
  }
  return backend;
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) {
    throw new SkvqError('IO_ERROR', `fetching ${url} failed: HTTP ${response.status}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

async function fileBytes(input: HTMLInputElement, what: string): Promise<Uint8Array> {
  const file = input.files?.[0];
  if (file === undefined) throw new SkvqError('INVALID_ARGUMENT', `choose a ${what} file first`);
  return new Uint8Array(await file.arrayBuffer());
}

function setModel(loaded: LlamaModel, source: string): void {
  model = loaded;
  uploadedCalibration = undefined;
  state.model = source;
  const c = loaded.config;
  $('model-status').textContent =
    `${source}: ${c.layers} layers, kv hidden ${loaded.geometry.kvHeads * loaded.geometry.headDim}, vocab ${c.vocabSize}, context ${c.contextLength}`;
}

function formFields(): Record<string, string> {
  const read = (id: string) => ($(id) as HTMLInputElement).value;
  return {
    method: read('method'),
    keyBits: read('key-bits'),
    valueBits: read('value-bits'),
    window: read('window'),
    sinks: read('sinks'),
    groupSize: read('group-size'),
    maxTokens: read('max-tokens'),
    prompt: read('prompt'),
  };
}

function renderClasses(cache: KvCache, spans: HTMLSpanElement[]): void {
  const d = cache.describe().layers[0];
  if (d === undefined) return;
  const classes = classifyPositions({
    tokens: d.tokens,
    sinks: d.sinks,
    window: d.window,
    quantized: d.quantized.k,
    pending: d.pending.k,
    dense: cache.describe().kind === 'dense',
  });
  const counts: Record<TokenClass, number> = {
    sink: 0,
    window: 0,
    quantized: 0,
    pending: 0,
    fp: 0,
  };
  classes.forEach((c, pos) => {
    counts[c]++;
    const span = spans[pos];
    if (span !== undefined) span.className = `tok ${c}`;
  });
  // The newest token is sampled but not yet run through the model: not in the cache yet.
  for (let pos = classes.length; pos < spans.length; pos++) spans[pos]!.className = 'tok uncached';
  state.classes = counts;
}

function renderMemory(cache: KvCache, points: MemoryPoint[]): void {
  const bytes = cache.bytes();
  const fp16 = fp16CacheBytes(cache.geometry, bytes.tokens);
  points.push({ tokens: bytes.tokens, bytes: bytes.total, fp16Bytes: fp16 });
  state.bytes = bytes.total;
  state.fp16Bytes = fp16;
  state.bitsPerElement = bytes.bitsPerElement;
  state.breakdown = bytes;
  $('breakdown').textContent = (
    [
      'codes',
      'metadata',
      'positions',
      'sinks',
      'window',
      'keptFp',
      'permutations',
      'pageSlack',
    ] as const
  )
    .map((k) => `${k} ${bytes[k]}`)
    .join(' · ');
  $('bytes').textContent = `${bytes.total} B`;
  $('fp16-bytes').textContent = `${fp16} B`;
  $('ratio').textContent = `${((100 * bytes.total) / fp16).toFixed(1)} %`;
  $('bits').textContent = bytes.bitsPerElement.toFixed(2);
  $('chart').innerHTML = memoryChartSvg(points);
}

async function calibrationFor(
  settings: DemoSettings,
  loaded: LlamaModel,
): Promise<CalibrationArtifact | undefined> {
  if (settings.method !== 'skvq') return undefined;
  if (uploadedCalibration !== undefined) return uploadedCalibration;
  $('run-status').textContent = 'calibrating SKVQ on a few stories…';
  const stories = new TextDecoder().decode(
    await fetchBytes('/assets/data/tinystories-valid-head.txt'),
  );
  return calibrateOnTheFly(registry, loaded, stories, settings);
}

async function generate(): Promise<void> {
  if (model === undefined) throw new SkvqError('INVALID_ARGUMENT', 'load a model first');
  const loaded = model;
  const settings = parseSettings(formFields());
  const be = await activeBackend();
  const t0 = performance.now();
  const calibration = await calibrationFor(settings, loaded);
  const t1 = performance.now();
  if (calibration !== undefined) state.calibrationJson = serializeCalibration(calibration);
  const factory = cacheFactory(registry, be, loaded, settings, calibration);
  const cache = factory();
  const tokenizer = loaded.tokenizer!;
  const out = $('output');
  out.textContent = '';
  const spans: HTMLSpanElement[] = [];
  const addSpan = (text: string) => {
    const span = document.createElement('span');
    span.textContent = text;
    out.append(span);
    spans.push(span);
  };
  // The prompt's tokens are in the cache too: one span per position, BOS first.
  const promptIds = tokenizer.encode(settings.prompt);
  const utf8 = new TextDecoder();
  addSpan('⟨s⟩');
  for (let i = 1; i < promptIds.length; i++) {
    addSpan(utf8.decode(tokenizer.decodeTokenBytes(promptIds[i - 1]!, promptIds[i]!)));
  }
  const points: MemoryPoint[] = [];
  const generated: number[] = [];
  state.text = '';
  state.pplFp32 = undefined;
  state.pplCache = undefined;
  $('ppl-fp32').textContent = '…';
  $('ppl-cache').textContent = '…';
  $('run-status').textContent = `generating on ${state.backendLabel}…`;
  let started = 0;
  for await (const token of generateStream(loaded, {
    ids: promptIds,
    maxTokens: settings.maxTokens,
    cache,
  })) {
    if (token.index === 0) started = performance.now();
    generated.push(token.id);
    addSpan(token.text);
    state.text += token.text;
    const seconds = (performance.now() - started) / 1000;
    if (token.index > 0) {
      state.tokensPerSecond = token.index / seconds;
      $('tps').textContent = state.tokensPerSecond.toFixed(1);
    }
    renderMemory(cache, points);
    renderClasses(cache, spans);
  }
  const t2 = performance.now();
  $('run-status').textContent = 'scoring perplexity (fp32 vs the chosen cache)…';
  const ids = Int32Array.from([...promptIds, ...generated]);
  // Scoring is a quality measurement, not a speed one: it runs on the CPU backend (whose
  // kernels the conformance suite checks the GPU against), one prefill per cache, which is
  // far faster there than many small GPU dispatches on a software adapter.
  const scorer = registry.get('backend', CPU_BACKEND_NAME);
  const dense = cacheFactory(registry, scorer, loaded, { ...settings, method: 'fp32' }, undefined);
  state.pplFp32 = await textPerplexity(loaded, ids, dense);
  state.pplCache = await textPerplexity(
    loaded,
    ids,
    cacheFactory(registry, scorer, loaded, settings, calibration),
  );
  $('ppl-fp32').textContent = state.pplFp32.toFixed(3);
  $('ppl-cache').textContent = state.pplCache.toFixed(3);
  state.timings = {
    calibrateMs: t1 - t0,
    generateMs: t2 - t1,
    perplexityMs: performance.now() - t2,
  };
  $('run-status').textContent =
    `done: ${generated.length} tokens on ${state.backendLabel} (calibration ${(state.timings.calibrateMs / 1000).toFixed(1)} s, generation ${(state.timings.generateMs / 1000).toFixed(1)} s, perplexity ${(state.timings.perplexityMs / 1000).toFixed(1)} s)`;
  state.runs++;
}

$('load-url').addEventListener('click', () =>
  action(async () => {
    const modelUrl = ($('model-url') as HTMLInputElement).value;
    const tokUrl = ($('tokenizer-url') as HTMLInputElement).value;
    setModel(await loadModel(await fetchBytes(modelUrl), await fetchBytes(tokUrl)), modelUrl);
  }),
);
$('load-files').addEventListener('click', () =>
  action(async () => {
    const modelInput = $('model-file') as HTMLInputElement;
    const bytes = await fileBytes(modelInput, 'model');
    const tok = await fileBytes($('tokenizer-file') as HTMLInputElement, 'tokenizer');
    setModel(await loadModel(bytes, tok), modelInput.files![0]!.name);
  }),
);
$('calibration-file').addEventListener('change', () =>
  action(async () => {
    if (model === undefined)
      throw new SkvqError('INVALID_ARGUMENT', 'load a model before its calibration');
    const text = await (($('calibration-file') as HTMLInputElement).files?.[0]?.text() ?? '');
    uploadedCalibration = undefined;
    uploadedCalibration = parseCalibrationFor(model, text);
    $('calibration-status').textContent =
      `using ${uploadedCalibration.layers.length}-layer calibration from file`;
  }),
);
$('generate').addEventListener('click', () => action(generate));
// Resolves the chosen backend at once, to show it (or why it is unavailable) before a run.
$('backend-choice').addEventListener('change', () =>
  action(async () => {
    await activeBackend();
  }),
);
void action(async () => {
  await activeBackend();
});
