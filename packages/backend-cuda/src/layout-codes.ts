import {
  type BitWidth,
  groupCount,
  type MetaFormat,
  metaBytesPerUnit,
  type QuantLayout,
  rowCodeBytes,
} from '@skvq/core';

/** Bit-width code the kernels take: 0 is ternary (1.5 bits), else the bit count (common.cuh). */
export function bitsCode(bits: BitWidth): number {
  return bits === 1.5 ? 0 : bits;
}

/** Metadata format code the kernels take (common.cuh SKVQ_META_*). */
export const META_CODES: Readonly<Record<MetaFormat, number>> = { fp32: 0, fp16: 1, fp8e4m3: 2 };

/** Segment kinds of the attention descriptor table (common.cuh SKVQ_SEG_*). */
export const SEGMENT_KIND = { fp32: 0, fp16: 1, tokenGroup: 2, channelBlock: 3 } as const;

/** The numbers of a layout every kernel launch needs. */
export interface LayoutNumbers {
  bitsCode: number;
  metaCode: number;
  rowBytes: number;
  metaBytes: number;
  /** 1 for token-group layouts. */
  blockTokens: number;
  groups: number;
}

export function layoutNumbers(layout: QuantLayout): LayoutNumbers {
  return {
    bitsCode: bitsCode(layout.bits),
    metaCode: META_CODES[layout.meta],
    rowBytes: rowCodeBytes(layout),
    metaBytes: metaBytesPerUnit(layout),
    blockTokens: layout.kind === 'channel-block' ? layout.blockTokens : 1,
    groups: layout.kind === 'token-group' ? groupCount(layout) : layout.channels,
  };
}
