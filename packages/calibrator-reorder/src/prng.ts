// The seeded PRNG lives in @skvq/core so every package draws the same reproducible stream.
export { mulberry32 } from '@skvq/core';
