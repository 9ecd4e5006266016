/**
 * Users from an htpasswd file, as Apache's `htpasswd` writes it: one `user:hash` a line.
 * bcrypt entries (`$2y$`, `$2a$`, `$2b$`, from `htpasswd -B`) are checked by a bcrypt function
 * the caller passes in; `{SHA}` entries (`htpasswd -s`) are checked with node:crypto.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { OcidropError } from '../oci/errors.js';

/** Compares a password with a bcrypt hash, such as `compare` of the `bcryptjs` package. */
export type BcryptCompare = (password: string, hash: string) => Promise<boolean>;

/** A file of users that cannot be used. */
export class HtpasswdError extends OcidropError {
  override name = 'HtpasswdError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_HTPASSWD', message, options);
  }
}

/** Checks user names and passwords. */
export interface UserStore {
  /** Resolves to true when `password` is the password of `user`. */
  verify(user: string, password: string): Promise<boolean>;
}

/**
 * Parses htpasswd text.
 * @throws HtpasswdError naming the line that has no `user:hash` form, an unsupported hash
 *   (MD5 `$apr1$`, crypt, plain text), or a bcrypt entry when no `bcrypt` function is given.
 */
export function parseHtpasswd(
  text: string,
  options: { bcrypt?: BcryptCompare; source?: string } = {},
): UserStore {
  const source = options.source ?? 'htpasswd';
  const users = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HtpasswdError(`${source} line ${i + 1}: expected "user:hash"`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (/^\$2[aby]\$\d\d\$/.test(hash)) {
      if (!options.bcrypt) {
        throw new HtpasswdError(
          `${source} line ${i + 1}: user ${user} has a bcrypt hash, but no bcrypt implementation was configured`,
        );
      }
    } else if (!hash.startsWith('{SHA}')) {
      throw new HtpasswdError(
        `${source} line ${i + 1}: user ${user} has an unsupported hash: create it with "htpasswd -B" (bcrypt)`,
      );
    }
    users.set(user, hash);
  }
  const bcrypt = options.bcrypt;
  return {
    async verify(user, password) {
      const hash = users.get(user);
      if (hash === undefined) return false;
      if (hash.startsWith('{SHA}')) {
        const expected = Buffer.from(hash.slice(5), 'base64');
        const actual = createHash('sha1').update(password).digest();
        return expected.length === actual.length && timingSafeEqual(expected, actual);
      }
      return bcrypt ? bcrypt(password, hash) : false;
    },
  };
}

/** Reads and parses an htpasswd file; see {@link parseHtpasswd}. */
export async function loadHtpasswd(
  path: string,
  options: { bcrypt?: BcryptCompare } = {},
): Promise<UserStore> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new HtpasswdError(`cannot read htpasswd file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return parseHtpasswd(text, { ...options, source: path });
}
