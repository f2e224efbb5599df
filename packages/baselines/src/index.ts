export {
  dequantizeBlockReference,
  quantizeBlockReference,
  validateChannelBlockLayout,
} from './channel-block.js';
export { KIVI_BLOCK_TOKENS, KIVI_RESIDUAL_TOKENS } from './constants.js';
export { kiviQuantizer } from './kivi.js';
export { rtnQuantizer } from './rtn.js';
