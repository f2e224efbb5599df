import { type BitWidth, kvHidden, listAllowed, type QuantizerContext, SkvqError } from '@skvq/core';
import { assertAlpha } from '@skvq/formats';

/** Checks what every baseline reads from a context; returns the stream's channel count. */
export function checkContext(
  context: QuantizerContext,
  name: string,
  supportedBits: readonly BitWidth[],
): number {
  if (!supportedBits.includes(context.bits)) {
    throw new SkvqError(
      'UNSUPPORTED_BITS',
      `unsupported bits ${String(context.bits)} for ${name}; expected ${listAllowed(supportedBits)}`,
      { details: { value: context.bits, allowed: supportedBits } },
    );
  }
  const channels = kvHidden(context.geometry);
  const g = context.groupSize;
  if (!Number.isInteger(g) || g < 1 || g > channels) {
    throw new SkvqError(
      'INVALID_ARGUMENT',
      `${name}: groupSize ${String(g)} must be an integer in 1..${channels} (kvHidden)`,
      { details: { groupSize: g, channels } },
    );
  }
  if (context.alpha !== undefined) assertAlpha(context.alpha, name);
  return channels;
}
