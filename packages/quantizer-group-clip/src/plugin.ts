import {
  type CalibrationArtifact,
  calibratedLayout,
  kvHidden,
  type QuantizerContext,
  type QuantizerPlugin,
  SkvqError,
  type SUPPORTED_BITS,
  type TokenGroupLayout,
} from '@skvq/core';
import { assertAlpha, validateTokenGroupLayout } from '@skvq/formats';

/** Name of the SKVQ quantizer in a registry. */
export const GROUP_CLIP_NAME = 'skvq';

function requireCalibration(context: QuantizerContext): CalibrationArtifact {
  if (context.calibration === undefined) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `quantizer "${GROUP_CLIP_NAME}" needs a calibration artifact (channel permutation, groups, clip ratio); run calibration first (\`skvq calibrate\` or @skvq/calibrator-reorder) and pass it as calibration`,
    );
  }
  return context.calibration;
}

/**
 * The layout of one stream: the calibrated permutation, groups and clip ratio of
 * context.layer / context.stream, with the context's metadata format; context.alpha
 * overrides the calibrated alpha (ablations). A calibration fits one bit width (its groups
 * and alpha were searched for it), so a different context.bits is an error, not a fallback.
 */
function groupClipLayout(context: QuantizerContext): TokenGroupLayout {
  const artifact = requireCalibration(context);
  const layers = artifact.layers.length;
  if (!Number.isInteger(context.layer) || context.layer < 0 || context.layer >= layers) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `quantizer "${GROUP_CLIP_NAME}": layer ${context.layer} is not in the calibration; expected 0..${layers - 1}`,
      { details: { layer: context.layer, layers } },
    );
  }
  const stream = artifact.layers[context.layer]![context.stream];
  if (stream === undefined) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `quantizer "${GROUP_CLIP_NAME}": stream ${String(context.stream)} is not one of k, v`,
    );
  }
  const where = `calibration layers[${context.layer}].${context.stream}`;
  if (stream.bits !== context.bits) {
    throw new SkvqError(
      'CALIBRATION_BAD_BITS',
      `${where} was calibrated for ${stream.bits} bits but ${context.bits} bits were requested; a calibration fits one bit width, recalibrate for ${context.bits} bits`,
      { details: { calibrated: stream.bits, requested: context.bits } },
    );
  }
  const channels = kvHidden(context.geometry);
  if (stream.perm.length !== channels) {
    throw new SkvqError(
      'CALIBRATION_GEOMETRY_MISMATCH',
      `${where} has ${stream.perm.length} channels but the model has kvHidden = ${channels}`,
      { details: { calibrated: stream.perm.length, channels } },
    );
  }
  if (context.alpha !== undefined) assertAlpha(context.alpha, `quantizer "${GROUP_CLIP_NAME}"`);
  const layout = calibratedLayout(stream, context.meta, context.alpha ?? stream.alpha);
  return validateTokenGroupLayout(layout, where);
}

/**
 * SKVQ (arXiv 2405.06219): calibrated channel reordering + group-wise clipped per-token
 * quantization; keys cached before RoPE.
 */
export const groupClipQuantizer: QuantizerPlugin = Object.freeze({
  kind: 'quantizer' as const,
  name: GROUP_CLIP_NAME,
  description:
    'SKVQ: channel reordering from calibration + group-wise clipped per-token quantization',
  supportedBits: [8, 4, 3, 2, 1.5] as const satisfies typeof SUPPORTED_BITS,
  requiresCalibration: true,
  keyRope: 'pre' as const,
  layout: groupClipLayout,
});
