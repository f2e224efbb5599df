/** Registry names and priorities of the two CPU backends (DESIGN.md, "The arrows"). */
export const CPU_REFERENCE_BACKEND_NAME = 'cpu-reference';
/** The oracle is never picked automatically over a real backend, hence below zero. */
export const CPU_REFERENCE_PRIORITY = -10;
export const CPU_BACKEND_NAME = 'cpu';
/** Always usable fallback: every accelerator backend registers above 0. */
export const CPU_PRIORITY = 0;
