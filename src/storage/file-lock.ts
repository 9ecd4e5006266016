/**
 * A lock file shared by processes, so that `ocidrop gc` and `ocidrop serve` never rewrite one
 * repository's `index.json` at the same time. The lock is a file created with `O_EXCL` that holds
 * the owner's process id. A lock whose owner no longer runs on this machine, or that is older than
 * {@link STALE_LOCK_MS}, was left by a process that died (`kill -9`) and is taken over.
 */
import { open, readFile, stat, unlink } from 'node:fs/promises';
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
    if (age > STALE_LOCK_MS || (await ownerIsGone(path))) {
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

// Tells whether the lock file names a process that no longer exists. An empty or unreadable file
// (its owner may be between creating and writing it) counts as taken.
// NOTE: on a data folder shared between machines (NFS), other machines' ids look gone. Such
// setups are not supported, and the age rule still applies there.
async function ownerIsGone(path: string): Promise<boolean> {
  const owner = await readFile(path, 'utf8').then(
    (text) => Number.parseInt(text, 10),
    () => Number.NaN,
  );
  if (!Number.isInteger(owner) || owner <= 0 || owner === process.pid) return false;
  try {
    process.kill(owner, 0);
    return false;
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
