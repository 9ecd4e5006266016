/**
 * A lock file shared by processes, so that `ocidrop gc` and `ocidrop serve` never rewrite one
 * repository's `index.json` at the same time. The lock is a file created with `O_EXCL`; a lock
 * older than {@link STALE_LOCK_MS} was left by a process that died and is taken over.
 */
import { open, stat, unlink } from 'node:fs/promises';
import { OcidropError } from '../oci/errors.js';

/** Age after which a lock file counts as abandoned. An index update takes milliseconds. */
export const STALE_LOCK_MS = 30_000;

/** How long to wait for a lock before giving up. */
const LOCK_TIMEOUT_MS = 10_000;

/** A lock that stayed taken for longer than the timeout. */
export class LockTimeoutError extends OcidropError {
  override name = 'LockTimeoutError';
  constructor(path: string) {
    super(
      'ERR_LOCK_TIMEOUT',
      `timed out waiting for lock ${path}: if no ocidrop process is running, remove the file`,
    );
  }
}

/** Runs `task` while holding the lock file `path`. */
export async function withFileLock<T>(path: string, task: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + LOCK_TIMEOUT_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(path, 'wx', 0o644);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const age = await stat(path).then(
      (info) => Date.now() - info.mtimeMs,
      () => 0,
    );
    if (age > STALE_LOCK_MS) {
      await unlink(path).catch(() => {});
      continue;
    }
    if (Date.now() > deadline) throw new LockTimeoutError(path);
    await new Promise((resolve) => setTimeout(resolve, Math.min(50, 2 + attempt * 2)));
  }
  try {
    return await task();
  } finally {
    await unlink(path).catch(() => {});
  }
}
