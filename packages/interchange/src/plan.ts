import {
  type KvGeometry,
  type ModelIdentity,
  type RopeStyle,
  SkvqError,
  validateGeometry,
} from '@skvq/core';
import { fileError } from './errors.js';
import { agree, metadataInt, metadataValue } from './metadata.js';
import {
  checkFloat,
  checkLayers,
  checkShape,
  indexTensors,
  type LayerPart,
  planParts,
} from './plan-tensors.js';
import type { ActivationSource } from './sources.js';

export { ACTIVATION_TENSOR, type LayerPart, POSITIONS_TENSOR } from './plan-tensors.js';

/** Whether captured keys (and queries) are before or after RoPE. */
export type KeysState = 'pre-rope' | 'post-rope';
export const KEYS_STATES: readonly KeysState[] = ['pre-rope', 'post-rope'];

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

/** Reads geometry, token counts and roles from the sources' headers and checks all of it. */
export function planActivations(
  sources: readonly ActivationSource[],
  overrides: ActivationOverrides = {},
): ActivationPlan {
  const { byLayer, ignored } = indexTensors(sources);
  const found = Math.max(...byLayer.keys()) + 1;
  const layers =
    agree(overrides.layers, '--layers', metadataInt(metadataValue(sources, 'layers')))?.value ??
    found;
  const files = sources.map((s) => s.label).join(', ');
  checkLayers(sources, byLayer, layers, found);
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
