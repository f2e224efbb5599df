import { readValueJs, rowFieldsJs } from './read-value.js';

/** Thread (c, t): channel c of row t, in original channel order (padded rows give 0). */
export function dequantizeSource(): string {
  return `function (info, data) {
    const c = this.thread.x;
    const t = this.thread.y;
    ${rowFieldsJs('r', 't')}
    if (rB < 0) {
      return 0;
    }
    let v = 0;
    ${readValueJs('r', 'c', 'v')}
    return v;
  }`;
}
