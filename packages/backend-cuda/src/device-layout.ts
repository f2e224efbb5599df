import type { QuantLayout } from '@skvq/core';
import { layoutPlan } from '@skvq/formats';
import type { CudaDevice, DeviceBuffer } from './device.js';
import { type LayoutNumbers, layoutNumbers } from './layout-codes.js';

/** A quantization layout with its lookup arrays resident on the device. */
export class DeviceLayout {
  readonly numbers: LayoutNumbers;
  /** token-group: perm (null for identity order); channel-block: null. */
  readonly perm: DeviceBuffer | null;
  /** token-group: group index per permuted position; channel-block: null. */
  readonly groupOf: DeviceBuffer | null;
  readonly groupOffsets: DeviceBuffer | null;

  constructor(
    device: CudaDevice,
    readonly layout: QuantLayout,
  ) {
    this.numbers = layoutNumbers(layout);
    if (layout.kind === 'token-group') {
      this.perm = layout.perm ? device.upload(layout.perm) : null;
      this.groupOf = device.upload(layoutPlan(layout).pairOf);
      this.groupOffsets = device.upload(layout.groupOffsets);
    } else {
      this.perm = null;
      this.groupOf = null;
      this.groupOffsets = null;
    }
  }

  dispose(): void {
    this.perm?.dispose();
    this.groupOf?.dispose();
    this.groupOffsets?.dispose();
  }
}
