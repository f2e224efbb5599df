import type { CalibrationArtifact, CalibratorOptions, CalibratorPlugin } from '@skvq/core';
import { type ActivationOverrides, type ActivationPlan, planActivations } from './plan.js';
import { collectSources } from './sources.js';
import { type StreamProgress, streamActivations } from './stream.js';

/** A capture's files, read as far as their headers, and what they say. */
export function openActivations(
  paths: readonly string[],
  overrides: ActivationOverrides = {},
  cwd?: string,
): ActivationPlan {
  return planActivations(collectSources(paths, cwd), overrides);
}

export interface CalibrateActivationsOptions
  extends Omit<CalibratorOptions, 'geometry' | 'model' | 'source'> {
  /** The calibrator (e.g. `reorderCalibrator` of @skvq/calibrator-reorder). */
  calibrator: CalibratorPlugin;
  /** Options the chosen calibrator understands beyond CalibratorOptions (e.g. sampleTokens). */
  extra?: Record<string, unknown>;
  onRead?: (p: StreamProgress) => void;
}

/**
 * Calibrates from a planned capture without loading a model: the geometry, the model
 * identity and the data source come from the plan (files and flags), the K/V (and Q) are
 * streamed chunk by chunk into one calibration session. Nothing is written here.
 */
export async function calibrateFromActivations(
  plan: ActivationPlan,
  options: CalibrateActivationsOptions,
): Promise<CalibrationArtifact> {
  const { calibrator, extra, onRead, ...rest } = options;
  const session = calibrator.createSession({
    ...rest,
    ...extra,
    geometry: plan.geometry,
    model: plan.model,
    source: plan.source,
  } as CalibratorOptions);
  streamActivations(plan, (batch) => session.observe(batch), onRead);
  return await session.finish();
}
