import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { SkvqError } from '@skvq/core';
import { fileError } from './errors.js';
import { EXPORT_FORMAT, type ExportFormat } from './exports.js';
import { readNpyHeader } from './npy.js';
import { readSafetensorsHeader } from './safetensors.js';
import { NPY_METADATA_FILE } from './sources.js';
import { FileReaders, type TensorEntry } from './tensor-file.js';

export interface ExportedTensor {
  shape: number[];
  data: Int32Array | Float32Array;
}

export interface CalibrationExport {
  path: string;
  format: ExportFormat;
  metadata: Record<string, string>;
  tensors: Map<string, ExportedTensor>;
}

function readEntry(readers: FileReaders, t: TensorEntry): ExportedTensor {
  if (t.dtype === 'I32' || t.dtype === 'I64') return { shape: t.shape, data: readers.readInts(t) };
  if (t.dtype === 'F32' || t.dtype === 'F16' || t.dtype === 'BF16') {
    const n = t.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    readers.readFloatRows({ ...t, shape: [1, n] }, 0, 1, data);
    return { shape: t.shape, data };
  }
  fileError('FILE_UNSUPPORTED_TYPE', t, `dtype ${t.dtype}; an export holds I32 and F32 tensors`);
}

/**
 * Reads a calibration export (a `.safetensors` file or a folder of `.npy` files with its
 * metadata.json) whole: exports are small (two [layers, kvHidden] int32 tables per stream).
 * Throws FILE_BAD_MAGIC when the metadata does not say format = skvq-calibration-export.
 */
export function readCalibrationExport(path: string): CalibrationExport {
  const isDir = statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
  let metadata: Record<string, string>;
  let entries: TensorEntry[];
  if (isDir) {
    const metaPath = join(path, NPY_METADATA_FILE);
    try {
      metadata = JSON.parse(readFileSync(metaPath, 'utf8')) as Record<string, string>;
    } catch (error) {
      throw new SkvqError(
        'FILE_MISSING_KEY',
        `${metaPath}: an .npy export needs its metadata.json (${(error as Error).message})`,
        {
          details: { file: metaPath },
        },
      );
    }
    entries = readdirSync(path)
      .filter((n) => n.endsWith('.npy'))
      .sort()
      .map((n) => readNpyHeader(join(path, n)));
  } else {
    const header = readSafetensorsHeader(path);
    metadata = header.metadata;
    entries = header.tensors;
  }
  if (metadata.format !== EXPORT_FORMAT) {
    throw new SkvqError(
      'FILE_BAD_MAGIC',
      `${path}: metadata format is ${JSON.stringify(metadata.format)}; expected "${EXPORT_FORMAT}"`,
      {
        details: { file: path, expected: EXPORT_FORMAT, actual: metadata.format },
      },
    );
  }
  const readers = new FileReaders();
  try {
    const tensors = new Map(entries.map((t) => [t.name, readEntry(readers, t)] as const));
    return { path, format: isDir ? 'npy' : 'safetensors', metadata, tensors };
  } finally {
    readers.close();
  }
}
