/**
 * Crash-safe file writes: data goes to a temporary file in the destination folder, is flushed
 * to disk, and only then renamed into place, after which the folder itself is flushed so the
 * new name survives a power loss.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Prefix of temporary files; repository and blob listings skip names that start with it. */
export const TEMP_PREFIX = '.tmp-';

/** Returns a fresh temporary file path in the folder of `path`. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `${TEMP_PREFIX}${basename(path)}-${randomBytes(6).toString('hex')}`);
}

/** Writes `data` to `path` atomically: temp file, fsync, rename, fsync of the folder. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = tempPathFor(path);
  const handle = await open(temp, 'wx', 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(temp).catch(() => {});
    throw error;
  }
  await handle.close();
  await renameDurably(temp, path);
}

/** Renames `from` to `to` and flushes the destination folder so that the rename is durable. */
export async function renameDurably(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    await unlink(from).catch(() => {});
    throw error;
  }
  await syncDirectory(dirname(to));
}

/**
 * Makes `to` a hard link to `from`. Where the file system has no hard links, copies the file
 * through a temporary file instead. An existing `to` is left as it is, because both hold the
 * same content-addressed bytes.
 */
export async function linkOrCopy(from: string, to: string): Promise<void> {
  await mkdir(dirname(to), { recursive: true });
  try {
    await link(from, to);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EMLINK') throw error;
    await copyAtomic(from, to);
  }
  await syncDirectory(dirname(to));
}

/** Flushes a folder's entries to disk. */
export async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function copyAtomic(from: string, to: string): Promise<void> {
  const temp = tempPathFor(to);
  const source = await open(from, 'r');
  const target = await open(temp, 'wx', 0o644);
  try {
    const buffer = Buffer.allocUnsafe(1 << 20);
    for (;;) {
      const { bytesRead } = await source.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      await target.write(buffer, 0, bytesRead);
    }
    await target.sync();
  } catch (error) {
    await unlink(temp).catch(() => {});
    throw error;
  } finally {
    await source.close();
    await target.close();
  }
  await rename(temp, to);
}
