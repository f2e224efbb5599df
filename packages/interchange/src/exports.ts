import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CalibrationArtifact, type KvStream, kvHidden, SkvqError } from '@skvq/core';
import { writeAtomically } from './atomic.js';
import { NPY_METADATA_FILE } from './sources.js';
import { type TensorToWrite, writeNpyTo, writeSafetensors } from './write.js';

/**
 * The calibration export: what a Python / C++ runtime needs to apply SKVQ's reordering, as
 * plain arrays (L = layers, C = kvHidden, G = the most groups of any layer):
 *
 *   {k,v}.perm            I32 [L, C]    reordered channel j of layer l holds original channel perm[l, j]
 *   {k,v}.inverse_perm    I32 [L, C]    original channel c sits at reordered position inverse_perm[l, c]
 *   {k,v}.group_offsets   I32 [L, G+1]  group g of layer l is reordered channels [off[l, g], off[l, g+1]);
 *                                       rows with fewer groups are padded with C (empty groups)
 *   {k,v}.group_count     I32 [L]       groups of layer l
 *   {k,v}.alpha           F32 [L]       clip ratio of layer l
 *   {k,v}.bits            F32 [L]       bit width of layer l (1.5 = ternary)
 *
 * Metadata (safetensors `__metadata__`, or `metadata.json` in the .npy folder) uses the keys
 * of activation captures plus the calibration settings; see EXPORT_FORMAT.
 */
export const EXPORT_FORMAT = 'skvq-calibration-export';
export const EXPORT_VERSION = 1;

export type ExportFormat = 'safetensors' | 'npy';
export const EXPORT_FORMATS: readonly ExportFormat[] = ['safetensors', 'npy'];

/** The export's tensors, in a fixed order (k first, then v). */
export function exportTensors(artifact: CalibrationArtifact): TensorToWrite[] {
  const L = artifact.layers.length;
  const C = kvHidden(artifact.geometry);
  const out: TensorToWrite[] = [];
  for (const stream of ['k', 'v'] as KvStream[]) {
    const cal = artifact.layers.map((l) => l[stream]);
    const G = Math.max(...cal.map((s) => s.groupOffsets.length - 1));
    const perm = new Int32Array(L * C);
    const inverse = new Int32Array(L * C);
    const offsets = new Int32Array(L * (G + 1)).fill(C);
    cal.forEach((s, l) => {
      s.perm.forEach((c, j) => {
        perm[l * C + j] = c;
        inverse[l * C + c] = j;
      });
      s.groupOffsets.forEach((o, g) => {
        offsets[l * (G + 1) + g] = o;
      });
    });
    out.push(
      { name: `${stream}.perm`, dtype: 'I32', shape: [L, C], data: perm },
      { name: `${stream}.inverse_perm`, dtype: 'I32', shape: [L, C], data: inverse },
      { name: `${stream}.group_offsets`, dtype: 'I32', shape: [L, G + 1], data: offsets },
      {
        name: `${stream}.group_count`,
        dtype: 'I32',
        shape: [L],
        data: Int32Array.from(cal, (s) => s.groupOffsets.length - 1),
      },
      {
        name: `${stream}.alpha`,
        dtype: 'F32',
        shape: [L],
        data: Float32Array.from(cal, (s) => s.alpha),
      },
      {
        name: `${stream}.bits`,
        dtype: 'F32',
        shape: [L],
        data: Float32Array.from(cal, (s) => s.bits),
      },
    );
  }
  return out;
}

/** String metadata describing an export (the same keys as activation captures, plus settings). */
export function exportMetadata(artifact: CalibrationArtifact): Record<string, string> {
  const g = artifact.geometry;
  const s = artifact.settings;
  return {
    format: EXPORT_FORMAT,
    version: String(EXPORT_VERSION),
    model: artifact.model.name,
    fingerprint: artifact.model.fingerprint,
    layers: String(g.layers),
    query_heads: String(g.queryHeads),
    kv_heads: String(g.kvHeads),
    head_dim: String(g.headDim),
    rope_style: g.rope.style,
    rope_theta: String(g.rope.theta),
    keys: 'pre-rope',
    group_size: String(s.groupSize),
    grouping: s.grouping,
    meta: s.meta,
    seed: String(s.seed),
    tokens: String(artifact.data.tokens),
    source: artifact.data.source,
  };
}

/** Where the exports of an artifact at `jsonPath` go: `calib.json` -> `calib.safetensors`, `calib-npy/`. */
export function exportPaths(jsonPath: string): Record<ExportFormat, string> {
  const base = jsonPath.replace(/\.json$/i, '');
  return { safetensors: `${base}.safetensors`, npy: `${base}-npy` };
}

/** Parses "safetensors,npy" (or "all"). */
export function parseExportFormats(text: string): ExportFormat[] {
  const parts = text === 'all' ? [...EXPORT_FORMATS] : text.split(',').map((p) => p.trim());
  for (const p of parts) {
    if (!(EXPORT_FORMATS as readonly string[]).includes(p)) {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `export format "${p}"; expected ${EXPORT_FORMATS.join(', ')} or all`,
        {
          details: { expected: EXPORT_FORMATS, actual: p },
        },
      );
    }
  }
  return [...new Set(parts)] as ExportFormat[];
}

/**
 * Writes the exports of `artifact` next to `jsonPath`, each atomically (the .npy folder is
 * filled under a temporary name and renamed). Returns the paths written.
 */
export function writeCalibrationExports(
  artifact: CalibrationArtifact,
  jsonPath: string,
  formats: readonly ExportFormat[],
): string[] {
  const tensors = exportTensors(artifact);
  const metadata = exportMetadata(artifact);
  const paths = exportPaths(jsonPath);
  const written: string[] = [];
  for (const f of formats) {
    if (f === 'safetensors') writeSafetensors(paths.safetensors, tensors, metadata);
    else {
      writeAtomically(paths.npy, (tmp) => {
        mkdirSync(tmp);
        for (const t of tensors) writeNpyTo(join(tmp, `${t.name}.npy`), t);
        writeFileSync(join(tmp, NPY_METADATA_FILE), `${JSON.stringify(metadata, null, 1)}\n`);
      });
    }
    written.push(paths[f]);
  }
  return written;
}
