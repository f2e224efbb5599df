import { packageProject } from '@skvq/vitest-preset';

// Browser tests build the page and drive Chromium: a generous per-test timeout.
export default packageProject(import.meta.dirname, { testTimeout: 240_000 });
