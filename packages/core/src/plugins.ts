import type { BitWidth, MetaFormat } from './bits.js';
import type { CalibrationArtifact, ModelIdentity } from './calibration.js';
import type { KvGeometry } from './geometry.js';
import type { Kernels } from './kernels.js';
import type { QuantLayout } from './layout.js';
import type { BackendStorage, TransferStats } from './storage.js';

export type PluginKind = 'quantizer' | 'policy' | 'calibrator' | 'backend' | 'adapter';
export const PLUGIN_KINDS: readonly PluginKind[] = [
  'quantizer',
  'policy',
  'calibrator',
  'backend',
  'adapter',
];

export interface PluginBase {
  readonly kind: PluginKind;
  /** Unique within its kind in one registry. */
  readonly name: string;
  readonly description?: string;
}

export type KvStream = 'k' | 'v';

/** Everything a quantizer may use to decide one stream's storage layout. */
export interface QuantizerContext {
  geometry: KvGeometry;
  layer: number;
  stream: KvStream;
  bits: BitWidth;
  meta: MetaFormat;
  /** Nominal group size (channels per group) for methods that group channels. */
  groupSize: number;
  /** Required by methods that reorder or clip from calibration (SKVQ). */
  calibration?: CalibrationArtifact;
  /** Overrides the calibrated clip ratio (ablations: 1 turns clipping off). */
  alpha?: number;
}

/** A quantization method: turns a context into a declarative storage layout. */
export interface QuantizerPlugin extends PluginBase {
  readonly kind: 'quantizer';
  readonly supportedBits: readonly BitWidth[];
  readonly requiresCalibration: boolean;
  /**
   * Where this method wants keys rotated: 'pre' (SKVQ), 'post' (KIVI's per-channel keys),
   * or 'any'. The cache follows it unless configured otherwise.
   */
  readonly keyRope: 'pre' | 'post' | 'any';
  layout(context: QuantizerContext): QuantLayout;
}

/** What a policy decided for tokens that left the full-precision window. */
export interface PolicyDecision {
  /** Positions to quantize now, ascending. */
  quantize: Int32Array;
  /** Positions that stay full precision for good (sinks, heavy hitters), ascending. */
  keep: Int32Array;
}

/** A filter rule: may keep a token full precision when it leaves the window. */
export interface FilterRule {
  readonly name: string;
  /** True when the token at `position` must stay full precision. */
  keeps(position: number): boolean;
  /** Per-position attention mass of the last attention read (heavy-hitter rules). */
  observeAttention?(sums: Float32Array, length: number): void;
  reset?(): void;
}

/** Decides which tokens stay full precision. Stores indices only, never K/V data. */
export interface TokenPolicy {
  readonly window: number;
  readonly sinks: number;
  /**
   * `count` tokens were appended at positions start .. start+count-1. Returns the positions
   * that now leave the window (FIFO: one leaves per appended token once the window is full)
   * and whether each is quantized or kept. A prefill is one call with count > 1.
   */
  admit(start: number, count: number): PolicyDecision;
  observeAttention?(sums: Float32Array, length: number): void;
  reset(): void;
}

export interface PolicyOptions {
  /** Full-precision recent tokens (SKVQ default 128). */
  window: number;
  /** Attention-sink tokens never quantized (SKVQ default 5). */
  sinks: number;
  /** Extra filter rules beside the sink rule. */
  rules?: readonly FilterRule[];
}

export interface PolicyPlugin extends PluginBase {
  readonly kind: 'policy';
  create(options: PolicyOptions): TokenPolicy;
}

/** One batch of calibration activations of one layer. */
export interface CalibrationBatch {
  layer: number;
  count: number;
  /** [count, queryHeads*headDim], pre-RoPE. */
  q: Float32Array;
  /** [count, kvHidden], pre-RoPE (the k_proj output). */
  k: Float32Array;
  /** [count, kvHidden]. */
  v: Float32Array;
  /** Position of each token (for RoPE in the attention objective). */
  positions: Int32Array;
}

export interface CalibrationProgress {
  stage: string;
  done: number;
  total: number;
}

export interface CalibratorOptions {
  geometry: KvGeometry;
  model: ModelIdentity;
  bits: { k: BitWidth; v: BitWidth };
  meta: MetaFormat;
  groupSize: number;
  /** 'cluster': raw k-means clusters (official code); 'equal': equal-size groups. */
  grouping: 'cluster' | 'equal';
  alphaGrid?: readonly number[];
  seed?: number;
  restarts?: number;
  /** Where the calibration text came from (recorded in the artifact). */
  source?: string;
  onProgress?: (progress: CalibrationProgress) => void;
}

export interface CalibrationSession {
  observe(batch: CalibrationBatch): void;
  finish(): MaybePromiseArtifact;
}
type MaybePromiseArtifact = CalibrationArtifact | Promise<CalibrationArtifact>;

export interface CalibratorPlugin extends PluginBase {
  readonly kind: 'calibrator';
  createSession(options: CalibratorOptions): CalibrationSession;
}

/** A compute backend: a plain object that owns kernel code (DESIGN.md, "The arrows"). */
export interface BackendPlugin extends PluginBase {
  readonly kind: 'backend';
  /** Higher is tried first by registry.resolveBackend(). */
  readonly priority: number;
  /** Acquire devices, compile pipelines; throw (with a reason) when unusable here. */
  init?(): void | Promise<void>;
  dispose?(): void | Promise<void>;
  /**
   * What the backend really runs on, for people to read (e.g. "gpu.js (webgl2)",
   * "cpu (WebAssembly SIMD)"); may change after init(). Falls back to `name` when absent
   * (see backendLabel).
   */
  label?(): string;
  readonly kernels: Kernels;
  /**
   * Where caches on this backend keep their bytes (storage.ts). Absent: host memory, and
   * the cache hands `kernels` typed arrays.
   */
  readonly storage?: BackendStorage;
  /** Cumulative host<->device bytes moved by this backend (zeros for host-only backends). */
  transferStats?(): TransferStats;
}

/** A backend's label(), or its name when it has none. */
export function backendLabel(backend: BackendPlugin): string {
  return backend.label?.() ?? backend.name;
}

/** Where a model comes from: bytes in memory or a path (Node). */
export type ModelSource = Uint8Array | ArrayBuffer | { path: string };

/** A runtime for a model family (llama2.c, GGUF, ...). The model type is the adapter's own. */
export interface AdapterPlugin<Model = unknown> extends PluginBase {
  readonly kind: 'adapter';
  /** True when these leading bytes look like a file this adapter can load. */
  sniff(header: Uint8Array): boolean;
  load(source: ModelSource): Promise<Model>;
}

export type Plugin =
  | QuantizerPlugin
  | PolicyPlugin
  | CalibratorPlugin
  | BackendPlugin
  | AdapterPlugin;

export interface PluginByKind {
  quantizer: QuantizerPlugin;
  policy: PolicyPlugin;
  calibrator: CalibratorPlugin;
  backend: BackendPlugin;
  adapter: AdapterPlugin;
}
