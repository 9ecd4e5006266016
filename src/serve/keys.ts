/**
 * The signing key of shared links when no configuration file names one. It is a random key created
 * at the first start in the data folder (`link-key.json`, mode 0600), so `ocidrop serve` and
 * `ocidrop link` on the same machine share it without any setup.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KEY_ID, MIN_SECRET_BYTES, type SigningKey } from '../gateway/signing.js';
import { tempPathFor } from '../storage/atomic.js';
import { ConfigError } from './config.js';

/** Name of the key file inside the data folder. */
export const LINK_KEY_FILE = 'link-key.json';

/**
 * Reads the data folder's link key, creating it first when it does not exist. Creation is atomic and
 * exclusive (temporary file, fsync, hard link to the final name), so two processes starting at once
 * end up with the same key.
 * @throws ConfigError when the file exists but is not a key this function wrote.
 */
export async function loadOrCreateLinkKey(dataDir: string): Promise<SigningKey> {
  const path = join(dataDir, LINK_KEY_FILE);
  const existing = await readKey(path);
  if (existing !== undefined) return existing;

  await mkdir(dataDir, { recursive: true });
  const key = { id: `local-${randomBytes(4).toString('hex')}`, secret: randomBytes(MIN_SECRET_BYTES) };
  const temp = tempPathFor(path);
  const handle = await open(temp, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify({ id: key.id, secret: key.secret.toString('base64url') })}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temp, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temp).catch(() => {});
  }
  // The first process to link its file won, so read back the key that is stored.
  const stored = await readKey(path);
  if (stored === undefined)
    throw new ConfigError(`${path} disappeared while it was being created; start again`);
  return stored;
}

async function readKey(path: string): Promise<SigningKey | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`cannot read the link key ${path}: ${(error as Error).message}`, { cause: error });
  }
  const broken = new ConfigError(
    `${path} is not a valid link key: delete it to create a new one (links signed with the old key stop working)`,
  );
  let data: { id?: unknown; secret?: unknown };
  try {
    data = JSON.parse(text) as { id?: unknown; secret?: unknown };
  } catch {
    throw broken;
  }
  if (typeof data.id !== 'string' || !KEY_ID.test(data.id) || typeof data.secret !== 'string') throw broken;
  const secret = Buffer.from(data.secret, 'base64url');
  if (secret.length < MIN_SECRET_BYTES) throw broken;
  return { id: data.id, secret };
}
