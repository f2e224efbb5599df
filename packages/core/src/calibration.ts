import { type BitWidth, isBitWidth, type MetaFormat, SUPPORTED_BITS } from './bits.js';
import {
  alphaSearchOf,
  boundedString,
  dataOf,
  geometryFieldsOf,
  isObject,
  modelOf,
  settingsOf,
} from './calibration-fields.js';
import {
  checkCalibrationText,
  checkCalibrationValue,
  describeValue,
} from './calibration-limits.js';
import { listAllowed, SkvqError, type SkvqErrorCode } from './errors.js';
import { geometryDifferences, type KvGeometry, kvHidden, validateGeometry } from './geometry.js';
import type { TokenGroupLayout } from './layout.js';

/** Identifies the artifact format; bump CALIBRATION_VERSION on incompatible changes. */
export const CALIBRATION_FORMAT = 'skvq-calibration';
export const CALIBRATION_VERSION = 1;

/** Which model an artifact was made for. */
export interface ModelIdentity {
  name: string;
  /** Stable fingerprint of the weights (the adapter defines it, e.g. "sha256:..."). */
  fingerprint: string;
}

/** Calibration of one stream (K or V) of one layer (SKVQ.md sections 1 and 2). */
export interface StreamCalibration {
  bits: BitWidth;
  /** perm[j] = original channel stored at reordered position j (a permutation of 0..kvHidden-1). */
  perm: number[];
  /** Group boundaries in reordered order: 0 = offsets[0] < ... < offsets[n] = kvHidden. */
  groupOffsets: number[];
  /** Clip ratio in (0, 1]. */
  alpha: number;
  /** The clip search's record: attention-output error for each alpha of the grid. */
  alphaSearch?: { grid: number[]; errors: number[] };
}

export interface LayerCalibration {
  k: StreamCalibration;
  v: StreamCalibration;
}

export interface CalibrationArtifact {
  format: typeof CALIBRATION_FORMAT;
  version: typeof CALIBRATION_VERSION;
  createdAt?: string;
  model: ModelIdentity;
  geometry: KvGeometry;
  settings: {
    groupSize: number;
    grouping: 'cluster' | 'equal';
    meta: MetaFormat;
    seed: number;
    restarts: number;
    alphaGrid: number[];
  };
  data: {
    /** Where the calibration text came from. */
    source: string;
    tokens: number;
  };
  layers: LayerCalibration[];
}

function fail(code: SkvqErrorCode, message: string, details: Record<string, unknown> = {}): never {
  throw new SkvqError(code, `calibration artifact: ${message}`, { details });
}

function validateStream(raw: unknown, where: string, channels: number): StreamCalibration {
  if (!isObject(raw)) fail('CALIBRATION_MALFORMED', `${where} must be an object`, { where });
  if (!isBitWidth(raw.bits)) {
    fail(
      'CALIBRATION_BAD_BITS',
      `${where}.bits is ${describeValue(raw.bits)}; expected ${listAllowed(SUPPORTED_BITS)}`,
      { where },
    );
  }
  const perm = raw.perm;
  if (!Array.isArray(perm) || perm.length !== channels) {
    fail(
      'CALIBRATION_BAD_PERMUTATION',
      `${where}.perm must be an array of ${channels} channel indices (kvHidden), got ${describeValue(perm)}`,
      { where },
    );
  }
  const seen = new Uint8Array(channels);
  for (let j = 0; j < channels; j++) {
    const c = perm[j];
    if (!Number.isInteger(c) || c < 0 || c >= channels || seen[c] === 1) {
      fail(
        'CALIBRATION_BAD_PERMUTATION',
        `${where}.perm[${j}] = ${describeValue(c)} is not a permutation entry: each of 0..${channels - 1} must appear exactly once`,
        { where, index: j },
      );
    }
    seen[c] = 1;
  }
  const offsets = raw.groupOffsets;
  if (
    !Array.isArray(offsets) ||
    offsets.length < 2 ||
    offsets[0] !== 0 ||
    offsets[offsets.length - 1] !== channels
  ) {
    fail(
      'CALIBRATION_BAD_GROUPS',
      `${where}.groupOffsets must start at 0, end at ${channels} and have at least 2 entries`,
      { where },
    );
  }
  for (let g = 1; g < offsets.length; g++) {
    if (!Number.isInteger(offsets[g]) || offsets[g] <= offsets[g - 1]) {
      fail(
        'CALIBRATION_BAD_GROUPS',
        `${where}.groupOffsets must be strictly increasing integers (entry ${g})`,
        {
          where,
          index: g,
        },
      );
    }
  }
  const alpha = raw.alpha;
  if (typeof alpha !== 'number' || !(alpha > 0 && alpha <= 1)) {
    fail(
      'CALIBRATION_BAD_ALPHA',
      `${where}.alpha is ${describeValue(alpha)}; expected a clip ratio in (0, 1]`,
      { where },
    );
  }
  const out: StreamCalibration = {
    bits: raw.bits,
    perm: (perm as number[]).slice(),
    groupOffsets: (offsets as number[]).slice(),
    alpha,
  };
  if (raw.alphaSearch !== undefined) {
    out.alphaSearch = alphaSearchOf(raw.alphaSearch, `${where}.alphaSearch`);
  }
  return out;
}

export interface CalibrationExpectations {
  /** The geometry of the model it will be used with. */
  geometry?: KvGeometry;
  /** The fingerprint of the model it will be used with. */
  fingerprint?: string;
}

/**
 * Parses and validates an artifact (a JSON string or an already-parsed value). Every
 * problem is a SkvqError with a CALIBRATION_* code naming the field; with `expect`, an
 * artifact made for another geometry or model is rejected too.
 */
export function parseCalibration(
  input: string | unknown,
  expect: CalibrationExpectations = {},
): CalibrationArtifact {
  let raw: unknown = input;
  if (typeof input === 'string') {
    checkCalibrationText(input);
    try {
      raw = JSON.parse(input);
    } catch (error) {
      // the engine's message quotes at most a few characters of the input
      fail('CALIBRATION_MALFORMED', `not valid JSON (${(error as Error).message.slice(0, 200)})`);
    }
  } else {
    checkCalibrationValue(input);
  }
  if (!isObject(raw)) fail('CALIBRATION_MALFORMED', 'the top level must be a JSON object');
  if (raw.format !== CALIBRATION_FORMAT) {
    fail(
      'CALIBRATION_WRONG_FORMAT',
      `format is ${describeValue(raw.format)}; expected "${CALIBRATION_FORMAT}"`,
    );
  }
  if (raw.version !== CALIBRATION_VERSION) {
    fail(
      'CALIBRATION_UNSUPPORTED_VERSION',
      `version ${describeValue(raw.version)} is not supported; this library reads version ${CALIBRATION_VERSION}`,
      { supported: [CALIBRATION_VERSION] },
    );
  }
  const createdAt =
    raw.createdAt === undefined ? undefined : boundedString(raw.createdAt, 'createdAt');
  const model = modelOf(raw.model);
  let geometry: KvGeometry;
  try {
    geometry = validateGeometry(geometryFieldsOf(raw.geometry), 'calibration.geometry');
  } catch (error) {
    if ((error as SkvqError).code === 'CALIBRATION_MALFORMED') throw error;
    fail('CALIBRATION_MALFORMED', (error as Error).message);
  }
  const settings = settingsOf(raw.settings);
  const data = dataOf(raw.data);
  const layers = raw.layers;
  if (!Array.isArray(layers)) fail('CALIBRATION_MALFORMED', 'layers must be an array');
  if (layers.length !== geometry.layers) {
    fail(
      'CALIBRATION_LAYER_COUNT',
      `has ${layers.length} layer entries but its geometry says ${geometry.layers} layers`,
      { layers: layers.length, expected: geometry.layers },
    );
  }
  const channels = kvHidden(geometry);
  const parsedLayers = layers.map((layer, i) => {
    if (!isObject(layer))
      fail('CALIBRATION_MALFORMED', `layers[${i}] must be an object with k and v`);
    return {
      k: validateStream(layer.k, `layers[${i}].k`, channels),
      v: validateStream(layer.v, `layers[${i}].v`, channels),
    };
  });
  // rebuilt from the validated fields only: unknown keys are dropped (documented)
  const artifact: CalibrationArtifact = {
    format: CALIBRATION_FORMAT,
    version: CALIBRATION_VERSION,
    ...(createdAt === undefined ? {} : { createdAt }),
    model,
    geometry,
    settings,
    data,
    layers: parsedLayers,
  };
  checkCalibrationFor(artifact, expect);
  return artifact;
}

/** Throws CALIBRATION_GEOMETRY_MISMATCH / CALIBRATION_MODEL_MISMATCH if the artifact does not fit. */
export function checkCalibrationFor(
  artifact: CalibrationArtifact,
  expect: CalibrationExpectations,
): void {
  if (expect.geometry) {
    const diffs = geometryDifferences(expect.geometry, artifact.geometry);
    if (diffs.length > 0) {
      fail('CALIBRATION_GEOMETRY_MISMATCH', `made for another geometry (${diffs.join('; ')})`, {
        differences: diffs,
      });
    }
  }
  if (expect.fingerprint !== undefined && expect.fingerprint !== artifact.model.fingerprint) {
    fail(
      'CALIBRATION_MODEL_MISMATCH',
      `made for model "${artifact.model.name}" (${artifact.model.fingerprint}), not for the model in use (${expect.fingerprint}); calibrate this model with \`skvq calibrate\``,
      { expected: expect.fingerprint, actual: artifact.model.fingerprint },
    );
  }
}

/** Stable JSON text of an artifact (round-trips through parseCalibration). */
export function serializeCalibration(artifact: CalibrationArtifact): string {
  return `${JSON.stringify(artifact, null, 1)}\n`;
}

/** The token-group layout a stream calibration describes. */
export function calibratedLayout(
  stream: StreamCalibration,
  meta: MetaFormat,
  alpha = stream.alpha,
): TokenGroupLayout {
  return {
    kind: 'token-group',
    channels: stream.perm.length,
    bits: stream.bits,
    meta,
    perm: Uint32Array.from(stream.perm),
    groupOffsets: Uint32Array.from(stream.groupOffsets),
    alpha,
  };
}
