/**
 * Compatibility re-exports: the channel-block reference and its validator moved to
 * @skvq/formats. Import them from there; these names stay here until the next major.
 */
export {
  dequantizeBlockReference,
  quantizeBlockReference,
  validateChannelBlockLayout,
} from '@skvq/formats';
export { KIVI_BLOCK_TOKENS, KIVI_RESIDUAL_TOKENS } from './constants.js';
export { kiviQuantizer } from './kivi.js';
export { rtnQuantizer } from './rtn.js';
