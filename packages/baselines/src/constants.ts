/** KIVI (arXiv 2402.02750) quantizes keys per channel over groups of 32 consecutive tokens. */
export const KIVI_BLOCK_TOKENS = 32;
/** KIVI's residual R: recent tokens kept full precision before a block is quantized. */
export const KIVI_RESIDUAL_TOKENS = 128;
