/**
 * The key that signs the registry's tokens, kept in the data folder so that tokens issued before
 * a restart stay valid after it.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { OcidropError } from '../oci/errors.js';
import { syncDirectory, tempPathFor } from '../storage/atomic.js';

/** Name of the key file in the data folder. */
export const TOKEN_KEY_FILE = 'registry-token.key';

/** Bytes of a new key; HMAC-SHA256 gains nothing from a longer one. */
const KEY_BYTES = 32;

/** A key file that cannot be used. */
export class TokenKeyError extends OcidropError {
  override name = 'TokenKeyError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_TOKEN_KEY', message, options);
  }
}

/**
 * Returns the token signing key stored in `dataDir`, creating the file with a random key and
 * mode 0600 when it does not exist. The file holds the key in base64 on one line. Creation is
 * atomic: two processes starting at once end up with the same key.
 * @throws TokenKeyError when the file is readable by group or others (on POSIX systems), or holds
 *   fewer than 32 bytes, naming the file and the fix.
 */
export async function loadOrCreateTokenKey(dataDir: string): Promise<Buffer> {
  const path = join(dataDir, TOKEN_KEY_FILE);
  try {
    return await readKey(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }

  await mkdir(dataDir, { recursive: true });
  const temp = tempPathFor(path);
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(`${randomBytes(KEY_BYTES).toString('base64')}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    // link, unlike rename, fails when another process created the file first; its key then wins.
    await link(temp, path);
    await syncDirectory(dataDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temp).catch(() => {});
  }
  return readKey(path);
}

async function readKey(path: string): Promise<Buffer> {
  const info = await stat(path);
  if (process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
    throw new TokenKeyError(
      `token signing key ${path} is readable by other users (mode ${(info.mode & 0o777).toString(8)}): run "chmod 600 ${path}"`,
    );
  }
  const key = Buffer.from((await readFile(path, 'utf8')).trim(), 'base64');
  if (key.length < KEY_BYTES) {
    throw new TokenKeyError(
      `token signing key ${path} holds ${key.length} bytes, fewer than ${KEY_BYTES}: delete the file to create a new key (tokens issued so far stop working)`,
    );
  }
  return key;
}
