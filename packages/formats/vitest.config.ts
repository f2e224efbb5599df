import { packageProject } from '@skvq/vitest-preset';

export default packageProject(import.meta.dirname);
