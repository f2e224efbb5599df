import { SkvqError } from '@skvq/core';
import { FLOAT_DTYPES, INT_DTYPES } from './dtypes.js';
import { fileError } from './errors.js';
import type { ActivationSource } from './sources.js';
import { rowCount, type TensorEntry } from './tensor-file.js';

/** `layers.{i}.q` (optional), `layers.{i}.k`, `layers.{i}.v`. */
export const ACTIVATION_TENSOR = /^layers\.(\d+)\.(q|k|v)$/;
export const POSITIONS_TENSOR = 'positions';

export type Roles = Partial<Record<'q' | 'k' | 'v', TensorEntry>>;
/** layer -> source -> its q / k / v entries. */
export type ByLayer = Map<number, Map<ActivationSource, Roles>>;

/** One layer's tokens inside one source. */
export interface LayerPart {
  source: ActivationSource;
  k: TensorEntry;
  v: TensorEntry;
  q: TensorEntry | undefined;
  positions: TensorEntry | undefined;
  tokens: number;
}

/** Tensors of the naming scheme by layer and source; other names are listed as ignored. */
export function indexTensors(sources: readonly ActivationSource[]): {
  byLayer: ByLayer;
  ignored: string[];
} {
  const ignored: string[] = [];
  const byLayer: ByLayer = new Map();
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
  return { byLayer, ignored };
}

/** Every layer 0..layers-1 present, none beyond, k and v together in each file. */
export function checkLayers(
  sources: readonly ActivationSource[],
  byLayer: ByLayer,
  layers: number,
  found: number,
): void {
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
}

export function checkFloat(t: TensorEntry): void {
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
export function checkShape(t: TensorEntry, heads: number, headDim: number, role: string): void {
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

/** Token counts: K = V (= Q) = positions within a source; every layer the same in total. */
export function planParts(
  sources: readonly ActivationSource[],
  byLayer: ByLayer,
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
