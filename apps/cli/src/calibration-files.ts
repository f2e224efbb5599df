import { writeFileSync } from 'node:fs';
import { type CalibrationArtifact, serializeCalibration } from '@skvq/core';
import {
  type ExportFormat,
  parseExportFormats,
  writeAtomically,
  writeCalibrationExports,
} from '@skvq/interchange';
import { UsageError } from './errors.js';

/**
 * The artifact's creation time: SOURCE_DATE_EPOCH (seconds, the reproducible-builds
 * convention) when set, so two runs on the same data write byte-identical files; else now.
 */
export function artifactTime(env: Record<string, string | undefined>, command: string): string {
  const raw = env.SOURCE_DATE_EPOCH;
  if (raw === undefined || raw === '') return new Date().toISOString();
  const seconds = Number(raw);
  if (!Number.isSafeInteger(seconds) || seconds < 0) {
    throw new UsageError(
      `SOURCE_DATE_EPOCH "${raw}" must be a non-negative integer (seconds)`,
      command,
    );
  }
  return new Date(seconds * 1000).toISOString();
}

/** `--export safetensors,npy|all` as formats ([] when absent). */
export function exportFormatsOption(raw: string | undefined, command: string): ExportFormat[] {
  if (raw === undefined) return [];
  try {
    return parseExportFormats(raw);
  } catch (error) {
    throw new UsageError(`--export: ${(error as Error).message}`, command);
  }
}

/**
 * Writes the exports (if any) and then the JSON artifact, each atomically (a temporary
 * sibling renamed into place), so a failure leaves no partial file behind. Returns the
 * artifact as written (with createdAt) and the export paths.
 */
export function writeCalibrationFiles(
  outPath: string,
  artifact: CalibrationArtifact,
  options: { createdAt: string; exports: readonly ExportFormat[] },
): { artifact: CalibrationArtifact; exports: string[] } {
  const stamped: CalibrationArtifact = { ...artifact, createdAt: options.createdAt };
  const exports = writeCalibrationExports(stamped, outPath, options.exports);
  writeAtomically(outPath, (tmp) => writeFileSync(tmp, serializeCalibration(stamped)));
  return { artifact: stamped, exports };
}
