import { kiviQuantizer, rtnQuantizer } from '@skvq/baselines';
import type { BackendPlugin, BitWidth, KvGeometry } from '@skvq/core';
import { groupClipQuantizer } from '@skvq/quantizer-group-clip';
import type { QuantizedCacheOptions, StreamSpec } from '../../src/index.js';
import { syntheticCalibration } from './calibration.js';

export const geometry: KvGeometry = {
  layers: 2,
  queryHeads: 4,
  kvHeads: 2,
  headDim: 16,
  rope: { style: 'pairwise', theta: 10000 },
};
export const GROUP = 16;
/** SKVQ.md: K2 V1.5 with fp8 scale/zero, clip 0.95 (the bench's synthetic calibration). */
export const calibration = syntheticCalibration(geometry, { k: 2, v: 1.5 }, GROUP, 0.95, 7);
export const calibration8 = syntheticCalibration(geometry, { k: 8, v: 8 }, GROUP, 1, 8);

const spec = (quantizer: StreamSpec['quantizer'], bits: BitWidth): StreamSpec => ({
  quantizer,
  bits,
  meta: 'fp8e4m3',
  groupSize: GROUP,
});

export type Method = 'skvq' | 'rtn' | 'kivi' | 'kivi-k+skvq-v';
export const METHODS: readonly Method[] = ['skvq', 'rtn', 'kivi', 'kivi-k+skvq-v'];

/** Cache options of one method combination (without policy/backend). */
export function methodOptions(
  method: Method,
): Pick<QuantizedCacheOptions, 'keys' | 'values' | 'calibration'> {
  switch (method) {
    case 'skvq':
      return {
        keys: spec(groupClipQuantizer, 2),
        values: spec(groupClipQuantizer, 1.5),
        calibration,
      };
    case 'rtn':
      return { keys: spec(rtnQuantizer, 4), values: spec(rtnQuantizer, 2) };
    case 'kivi':
      return { keys: spec(kiviQuantizer, 2), values: spec(kiviQuantizer, 2) };
    case 'kivi-k+skvq-v':
      return { keys: spec(kiviQuantizer, 2), values: spec(groupClipQuantizer, 1.5), calibration };
  }
}

export type { BackendPlugin };
