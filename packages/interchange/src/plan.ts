import {
  type KvGeometry,
  type ModelIdentity,
  type RopeStyle,
  SkvqError,
  validateGeometry,
} from '@skvq/core';
import { FLOAT_DTYPES, INT_DTYPES } from './dtypes.js';
import { fileError } from './errors.js';
import { agree, metadataInt, metadataValue } from './metadata.js';
import type { ActivationSource } from './sources.js';
import { rowCount, type TensorEntry } from './tensor-file.js';

/** Whether captured keys (and queries) are before or after RoPE. */
export type KeysState = 'pre-rope' | 'post-rope';
export const KEYS_STATES: readonly KeysState[] = ['pre-rope', 'post-rope'];

/** `layers.{i}.q` (optional), `layers.{i}.k`, `layers.{i}.v`. */
export const ACTIVATION_TENSOR = /^layers\.(\d+)\.(q|k|v)$/;
export const POSITIONS_TENSOR = 'positions';

/** What the command line may say about a capture (each one must agree with the file). */
export interface ActivationOverrides {
  layers?: number;
  queryHeads?: number;
  kvHeads?: number;
  headDim?: number;
  ropeStyle?: RopeStyle;
  ropeTheta?: number;
  keys?: KeysState;
  modelName?: string;
  fingerprint?: string;
  source?: string;
}

/** One layer's tokens inside one source. */
export interface LayerPart {
  source: ActivationSource;
  k: TensorEntry;
  v: TensorEntry;
  q: TensorEntry | undefined;
  positions: TensorEntry | undefined;
  tokens: number;
}

/** Everything known about a capture before a single element is read. */
export interface ActivationPlan {
  geometry: KvGeometry;
  keys: KeysState;
  hasQueries: boolean;
  model: ModelIdentity;
  source: string;
  /** Tokens of every layer. */
  tokens: number;
  /** parts[layer] in source order. */
  parts: LayerPart[][];
  /** Tensors outside the naming scheme, skipped ("file: name"). */
  ignored: string[];
}

/** Fingerprint recorded when neither the file nor the command line names the model's. */
export const UNKNOWN_FINGERPRINT = 'unknown (calibrated from activations)';

function need<T>(v: { value: T } | undefined, message: string): T {
  if (v === undefined) throw new SkvqError('INVALID_ARGUMENT', message, { details: {} });
  return v.value;
}

function checkFloat(t: TensorEntry): void {
  if (!(FLOAT_DTYPES as readonly string[]).includes(t.dtype)) {
    fileError(
      'FILE_UNSUPPORTED_TYPE',
      t,
      `dtype ${t.dtype}; expected one of ${FLOAT_DTYPES.join(', ')}`,
      {
        expected: FLOAT_DTYPES,
        actual: t.dtype,
      },
    );
  }
}

/** [tokens, heads * headDim] or [tokens, heads, headDim]. */
function checkShape(t: TensorEntry, heads: number, headDim: number, role: string): void {
  const s = t.shape;
  const ok =
    (s.length === 2 && s[1] === heads * headDim) ||
    (s.length === 3 && s[1] === heads && s[2] === headDim);
  if (!ok) {
    fileError(
      'SHAPE_MISMATCH',
      t,
      `shape [${s.join(', ')}]; expected [tokens, ${heads * headDim}] or [tokens, ${heads}, ${headDim}] (${role})`,
      {
        expected: [heads * headDim],
        actual: s,
      },
    );
  }
}

/** Reads geometry, token counts and roles from the sources' headers and checks all of it. */
export function planActivations(
  sources: readonly ActivationSource[],
  overrides: ActivationOverrides = {},
): ActivationPlan {
  const ignored: string[] = [];
  const byLayer = new Map<
    number,
    Map<ActivationSource, Partial<Record<'q' | 'k' | 'v', TensorEntry>>>
  >();
  for (const src of sources) {
    for (const [name, t] of src.tensors) {
      const m = ACTIVATION_TENSOR.exec(name);
      if (!m) {
        if (name !== POSITIONS_TENSOR) ignored.push(`${t.file}: ${name}`);
        continue;
      }
      const layer = Number(m[1]);
      let perSource = byLayer.get(layer);
      if (!perSource) {
        perSource = new Map();
        byLayer.set(layer, perSource);
      }
      const roles = perSource.get(src) ?? {};
      roles[m[2] as 'q' | 'k' | 'v'] = t;
      perSource.set(src, roles);
    }
  }
  if (byLayer.size === 0) {
    throw new SkvqError(
      'FILE_MISSING_KEY',
      `no tensors named layers.{i}.k / layers.{i}.v in ${sources.map((s) => s.label).join(', ')}`,
      {
        details: { files: sources.map((s) => s.label), expected: 'layers.{i}.k, layers.{i}.v' },
      },
    );
  }
  const found = Math.max(...byLayer.keys()) + 1;
  const layers =
    agree(overrides.layers, '--layers', metadataInt(metadataValue(sources, 'layers')))?.value ??
    found;
  const files = sources.map((s) => s.label).join(', ');
  for (let i = 0; i < Math.max(layers, found); i++) {
    const perSource = byLayer.get(i);
    if (i >= layers) {
      const t = [...(perSource?.values() ?? [])][0]?.k ?? [...(perSource?.values() ?? [])][0]?.v;
      fileError(
        'SHAPE_MISMATCH',
        t ?? { file: files },
        `layer ${i} is beyond the geometry's ${layers} layers (expected layers 0..${layers - 1})`,
        { expected: layers },
      );
    }
    if (!perSource) {
      throw new SkvqError(
        'FILE_MISSING_KEY',
        `tensor "layers.${i}.k" is missing from ${files}; expected layers 0..${layers - 1}, each with k and v`,
        {
          details: {
            files: sources.map((s) => s.label),
            tensor: `layers.${i}.k`,
            expected: layers,
          },
        },
      );
    }
    for (const [src, roles] of perSource) {
      for (const role of ['k', 'v'] as const) {
        if (!roles[role]) {
          fileError(
            'FILE_MISSING_KEY',
            { file: src.label, tensor: `layers.${i}.${role}` },
            `missing; a file holding one of layers.${i}.k / layers.${i}.v must hold both`,
            {
              expected: `layers.${i}.${role}`,
            },
          );
        }
      }
    }
  }
  const all = [...byLayer.values()].flatMap((m) => [...m.values()]);
  for (const r of all) for (const t of [r.k, r.v, r.q]) if (t) checkFloat(t);
  const first3d = all.map((r) => r.k!).find((t) => t.shape.length === 3);
  let kvHeads =
    agree(overrides.kvHeads, '--kv-heads', metadataInt(metadataValue(sources, 'kvHeads')))?.value ??
    first3d?.shape[1];
  let headDim =
    agree(overrides.headDim, '--head-dim', metadataInt(metadataValue(sources, 'headDim')))?.value ??
    first3d?.shape[2];
  const width = all[0]!.k!.shape.length === 2 ? all[0]!.k!.shape[1] : undefined;
  if (
    width !== undefined &&
    kvHeads === undefined &&
    headDim !== undefined &&
    width % headDim === 0
  )
    kvHeads = width / headDim;
  if (
    width !== undefined &&
    headDim === undefined &&
    kvHeads !== undefined &&
    width % kvHeads === 0
  )
    headDim = width / kvHeads;
  if (kvHeads === undefined || headDim === undefined) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `the KV heads and head dim of ${files} are unknown: pass --kv-heads and --head-dim, write metadata kv_heads / head_dim, or store K/V as [tokens, kvHeads, headDim]`,
      {
        details: { files: sources.map((s) => s.label), expected: ['kv_heads', 'head_dim'] },
      },
    );
  }
  for (const r of all) {
    checkShape(r.k!, kvHeads, headDim, 'keys');
    checkShape(r.v!, kvHeads, headDim, 'values');
  }
  const withQ = all.find((r) => r.q);
  let qFromShape: number | undefined;
  if (withQ?.q) {
    const s = withQ.q.shape;
    qFromShape =
      s.length === 3 ? s[1] : s.length === 2 && s[1]! % headDim === 0 ? s[1]! / headDim : undefined;
  }
  const queryHeads =
    agree(overrides.queryHeads, '--query-heads', metadataInt(metadataValue(sources, 'queryHeads')))
      ?.value ??
    qFromShape ??
    need<number>(
      undefined,
      `the query heads of ${files} are unknown (no layers.{i}.q): pass --query-heads or write metadata query_heads`,
    );
  if (withQ) {
    for (const [layer, m] of byLayer) {
      for (const [src, r] of m) {
        if (!r.q) {
          fileError(
            'FILE_MISSING_KEY',
            { file: src.label, tensor: `layers.${layer}.q` },
            'missing; queries must be given for every layer or for none',
            {
              expected: `layers.${layer}.q`,
            },
          );
        }
        checkShape(r.q, queryHeads, headDim, 'queries');
      }
    }
  }
  const style = need(
    agree(
      overrides.ropeStyle,
      '--rope-style',
      metadataValue(sources, 'ropeStyle') as { value: RopeStyle; from: string } | undefined,
    ),
    `the RoPE style of ${files} is unknown: pass --rope-style pairwise|half|none or write metadata rope_style (Hugging Face Llama/Mistral/Qwen: half; llama2.c and GGUF: pairwise)`,
  );
  const thetaMeta = metadataValue(sources, 'ropeTheta');
  const thetaValue = thetaMeta
    ? { value: Number(thetaMeta.value), from: thetaMeta.from }
    : undefined;
  const theta =
    style === 'none'
      ? 0
      : need(
          agree(overrides.ropeTheta, '--rope-theta', thetaValue),
          `the RoPE theta of ${files} is unknown: pass --rope-theta (e.g. 10000 for Llama-2, 500000 for Llama-3) or write metadata rope_theta`,
        );
  const geometry = validateGeometry(
    { layers, queryHeads, kvHeads, headDim, rope: { style, theta } },
    `geometry of ${files}`,
  );
  const keys =
    agree(
      overrides.keys,
      '--keys',
      metadataValue(sources, 'keys') as { value: KeysState; from: string } | undefined,
    )?.value ?? 'pre-rope';
  if (!KEYS_STATES.includes(keys)) {
    throw new SkvqError('INVALID_ARGUMENT', `keys "${keys}"; expected ${KEYS_STATES.join(', ')}`, {
      details: { expected: KEYS_STATES, actual: keys },
    });
  }
  const parts = planParts(sources, byLayer, layers);
  return {
    geometry,
    keys,
    hasQueries: withQ !== undefined,
    model: {
      name:
        agree(overrides.modelName, '--model-name', metadataValue(sources, 'model'))?.value ??
        sources[0]!.label,
      fingerprint:
        agree(overrides.fingerprint, '--fingerprint', metadataValue(sources, 'fingerprint'))
          ?.value ?? UNKNOWN_FINGERPRINT,
    },
    source:
      overrides.source ??
      metadataValue(sources, 'source')?.value ??
      sources.map((s) => s.label).join(', '),
    tokens: parts[0]!.reduce((n, p) => n + p.tokens, 0),
    parts,
    ignored,
  };
}

/** Token counts: K = V (= Q) = positions within a source; every layer the same in total. */
function planParts(
  sources: readonly ActivationSource[],
  byLayer: Map<number, Map<ActivationSource, Partial<Record<'q' | 'k' | 'v', TensorEntry>>>>,
  layers: number,
): LayerPart[][] {
  const parts: LayerPart[][] = [];
  for (let layer = 0; layer < layers; layer++) {
    const list: LayerPart[] = [];
    for (const src of sources) {
      const r = byLayer.get(layer)?.get(src);
      if (!r) continue;
      const tokens = rowCount(r.k!);
      for (const t of [r.v, r.q]) {
        if (t && rowCount(t) !== tokens) {
          fileError(
            'SHAPE_MISMATCH',
            t,
            `${rowCount(t)} tokens; expected ${tokens}, the token count of layers.${layer}.k in the same file`,
            {
              expected: tokens,
              actual: rowCount(t),
            },
          );
        }
      }
      const positions = src.tensors.get(POSITIONS_TENSOR);
      if (positions) {
        if (!(INT_DTYPES as readonly string[]).includes(positions.dtype)) {
          fileError(
            'FILE_UNSUPPORTED_TYPE',
            positions,
            `dtype ${positions.dtype}; expected one of ${INT_DTYPES.join(', ')}`,
            { expected: INT_DTYPES, actual: positions.dtype },
          );
        }
        if (positions.shape.length !== 1 || positions.shape[0] !== tokens) {
          fileError(
            'SHAPE_MISMATCH',
            positions,
            `shape [${positions.shape.join(', ')}]; expected [${tokens}], one position per token of layers.${layer}.k`,
            {
              expected: [tokens],
              actual: positions.shape,
            },
          );
        }
      }
      list.push({ source: src, k: r.k!, v: r.v!, q: r.q, positions, tokens });
    }
    parts.push(list);
  }
  const total = (l: number) => parts[l]!.reduce((n, p) => n + p.tokens, 0);
  for (let l = 1; l < layers; l++) {
    if (total(l) !== total(0)) {
      const t = parts[l]![0]!.k;
      fileError(
        'SHAPE_MISMATCH',
        t,
        `layer ${l} has ${total(l)} tokens in all; expected ${total(0)}, the token count of layer 0 (every layer sees the same tokens)`,
        {
          expected: total(0),
          actual: total(l),
        },
      );
    }
  }
  if (total(0) === 0) {
    fileError('SHAPE_MISMATCH', parts[0]![0]!.k, '0 tokens; calibration needs at least one');
  }
  return parts;
}
