// The layout and token fixtures live once, beside the arithmetic they exercise, in
// @skvq/formats' tests; the quantizer plugin's tests use the same ones.
export { pageFor, randomPerm, randomTokens, tokenLayout } from '../../formats/test/helpers.js';
