/**
 * Paths of the built program, for tests that run it as a child process.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built CLI entry point, `build/src/cli/main.js` (tests run from build/test/helpers). */
export const CLI = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'cli', 'main.js');
