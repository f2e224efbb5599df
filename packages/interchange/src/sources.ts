import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import { SkvqError } from '@skvq/core';
import { fileError, ioError } from './errors.js';
import { readNpyHeader } from './npy.js';
import { readSafetensorsHeader } from './safetensors.js';
import type { TensorEntry } from './tensor-file.js';

/**
 * One unit of a capture: a safetensors file, or the .npy files of one folder (with the
 * folder's optional `metadata.json`). A `positions` tensor applies to every layer of its
 * source, and without one each layer's tokens in the source are one sequence from 0.
 */
export interface ActivationSource {
  /** The file (safetensors) or folder (.npy files) this source is. */
  label: string;
  tensors: Map<string, TensorEntry>;
  metadata: Record<string, string>;
  /** Where the metadata came from (the safetensors file or the metadata.json). */
  metadataFile: string;
}

/** File name of the metadata of a folder of .npy files (safetensors keeps it in its header). */
export const NPY_METADATA_FILE = 'metadata.json';

function readNpyMetadata(folder: string): Record<string, string> {
  const path = join(folder, NPY_METADATA_FILE);
  if (!statSync(path, { throwIfNoEntry: false })?.isFile()) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    fileError('FILE_CORRUPTED', { file: path }, `not valid JSON (${(error as Error).message})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    fileError('FILE_CORRUPTED', { file: path }, 'must be a JSON object of metadata keys');
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string' && typeof v !== 'number') {
      fileError(
        'FILE_CORRUPTED',
        { file: path },
        `${k} is ${typeof v}; expected a string or a number`,
      );
    }
    out[k] = String(v);
  }
  return out;
}

function safetensorsSource(file: string): ActivationSource {
  const header = readSafetensorsHeader(file);
  return {
    label: file,
    tensors: new Map(header.tensors.map((t) => [t.name, t])),
    metadata: header.metadata,
    metadataFile: file,
  };
}

/**
 * Expands `paths` (files and folders, in the order given; a folder's files sorted by name)
 * into sources, reading headers only. Accepts `.safetensors` and `.npy`; anything else
 * named explicitly is an error, anything else inside a folder is skipped.
 */
export function collectSources(paths: readonly string[], cwd = process.cwd()): ActivationSource[] {
  if (paths.length === 0) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      'no activation files given; expected .safetensors or .npy files or a folder of them',
    );
  }
  const sources: ActivationSource[] = [];
  const npyFolders = new Map<string, ActivationSource>();
  const addNpy = (file: string) => {
    const folder = dirname(file);
    let src = npyFolders.get(folder);
    if (!src) {
      src = {
        label: folder,
        tensors: new Map(),
        metadata: readNpyMetadata(folder),
        metadataFile: join(folder, NPY_METADATA_FILE),
      };
      npyFolders.set(folder, src);
      sources.push(src);
    }
    const entry = readNpyHeader(file);
    if (src.tensors.has(entry.name)) {
      fileError('INVALID_ARGUMENT', { file, tensor: entry.name }, 'the same tensor is given twice');
    }
    src.tensors.set(entry.name, entry);
  };
  for (const raw of paths) {
    const path = resolve(cwd, raw);
    const stat = statSync(path, { throwIfNoEntry: false });
    if (!stat) ioError(path, 'read activations', new Error('no such file or folder'));
    if (stat.isDirectory()) {
      const names = readdirSync(path).sort();
      const found = names.filter((n) => /\.(safetensors|npy)$/i.test(n));
      if (found.length === 0) {
        throw new SkvqError(
          'INVALID_ARGUMENT',
          `${path}: the folder holds no .safetensors or .npy files`,
          { details: { file: path } },
        );
      }
      for (const n of found) {
        if (/\.safetensors$/i.test(n)) sources.push(safetensorsSource(join(path, n)));
        else addNpy(join(path, n));
      }
      continue;
    }
    const ext = extname(path).toLowerCase();
    if (ext === '.safetensors') sources.push(safetensorsSource(path));
    else if (ext === '.npy') addNpy(path);
    else {
      throw new SkvqError(
        'INVALID_ARGUMENT',
        `${path}: unknown activation file type "${ext}"; expected .safetensors, .npy or a folder`,
        {
          details: { file: path, expected: ['.safetensors', '.npy'] },
        },
      );
    }
  }
  return sources;
}
