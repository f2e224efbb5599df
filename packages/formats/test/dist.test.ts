import { join } from 'node:path';
import { describeBuiltPackage } from '@skvq/vitest-preset/dist';

describeBuiltPackage(join(import.meta.dirname, '..'), 'validateLayout');
