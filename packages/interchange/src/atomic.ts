import { mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { ioError } from './errors.js';

let counter = 0;

/** A sibling temporary path of `target` (same directory, so the final rename is atomic). */
export function temporaryPath(target: string): string {
  counter++;
  return join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${counter}`);
}

/**
 * Produces `target` (a file or a folder) atomically: `write` fills a temporary sibling,
 * which is renamed over `target` only when `write` returned; on any error the temporary is
 * removed and `target` is left as it was (absent, or its previous content).
 */
export function writeAtomically(target: string, write: (temporary: string) => void): void {
  try {
    mkdirSync(dirname(target), { recursive: true });
  } catch (error) {
    ioError(dirname(target), 'create the folder', error);
  }
  const tmp = temporaryPath(target);
  try {
    write(tmp);
    try {
      // rename(2) replaces a file atomically; a folder must be removed first.
      if (statSync(target, { throwIfNoEntry: false })?.isDirectory()) {
        rmSync(target, { recursive: true, force: true });
      }
      renameSync(tmp, target);
    } catch (error) {
      ioError(target, 'write', error);
    }
  } catch (error) {
    rmSync(tmp, { recursive: true, force: true });
    throw error;
  }
}
