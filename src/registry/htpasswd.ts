/**
 * Users from an htpasswd file, as Apache's `htpasswd` writes it: one `user:hash` a line.
 * bcrypt entries (`$2y$`, `$2a$`, `$2b$`, from `htpasswd -B`) are checked with `bcryptjs`, and
 * `{SHA}` entries (`htpasswd -s`) with node:crypto.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import bcryptjs from 'bcryptjs';
import { OcidropError } from '../oci/errors.js';

/** Compares a password with a bcrypt hash, such as `compare` of the `bcryptjs` package. */
export type BcryptCompare = (password: string, hash: string) => Promise<boolean>;

/** Options of {@link parseHtpasswd} and {@link loadHtpasswd}. */
export interface HtpasswdOptions {
  /**
   * Compares passwords with bcrypt hashes.
   * @default `compare` of `bcryptjs`, which runs asynchronously so the event loop is not blocked
   */
  bcrypt?: BcryptCompare;
  /**
   * How long a successful check of a user and password is remembered, in milliseconds, so that a
   * client sending HTTP Basic on every request pays the bcrypt cost once per period. 0 turns the cache off.
   * @default 60000
   */
  cacheMs?: number;
}

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
  /** Tells whether `user` exists. */
  has(user: string): boolean;
}

const DEFAULT_CACHE_MS = 60_000;

/** A bcrypt hash: version, two-digit cost, then 22 characters of salt and 31 of hash. */
const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

/** Upper bound of remembered checks; the cache is cleared when it is reached. */
const CACHE_LIMIT = 1000;

/**
 * Parses htpasswd text.
 * @throws HtpasswdError naming the line that has no `user:hash` form or an unsupported hash
 *   (MD5 `$apr1$`, crypt, plain text), with the command that writes a supported one.
 */
export function parseHtpasswd(text: string, options: HtpasswdOptions & { source?: string } = {}): UserStore {
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
    if (/^\$2[aby]\$/.test(hash) && !BCRYPT_HASH.test(hash)) {
      throw new HtpasswdError(
        `${source} line ${i + 1}: user ${user} has a malformed bcrypt hash: create it again with "htpasswd -B"`,
      );
    }
    if (!BCRYPT_HASH.test(hash) && !hash.startsWith('{SHA}')) {
      throw new HtpasswdError(
        `${source} line ${i + 1}: user ${user} has an unsupported hash: create it with "htpasswd -B" (bcrypt)`,
      );
    }
    users.set(user, hash);
  }

  const bcrypt = options.bcrypt ?? ((password: string, hash: string) => bcryptjs.compare(password, hash));
  const decoy = [...users.values()].find((hash) => hash.startsWith('$2'));
  const cacheMs = options.cacheMs ?? DEFAULT_CACHE_MS;
  // The cache keys are keyed MACs of the user and password, so the passwords themselves are never kept.
  const cacheKey = randomBytes(32);
  const verified = new Map<string, number>();

  const check = async (hash: string, password: string): Promise<boolean> => {
    if (hash.startsWith('{SHA}')) {
      const expected = Buffer.from(hash.slice(5), 'base64');
      const actual = createHash('sha1').update(password).digest();
      return expected.length === actual.length && timingSafeEqual(expected, actual);
    }
    return bcrypt(password, hash);
  };

  return {
    async verify(user, password) {
      const hash = users.get(user);
      if (hash === undefined) {
        // Spend the time of a real check, so response times do not tell which users exist.
        if (decoy !== undefined) await bcrypt(password, decoy);
        return false;
      }

      const key = createHmac('sha256', cacheKey).update(`${user}\0${hash}\0${password}`).digest('base64');
      const now = Date.now();
      const until = verified.get(key);
      if (until !== undefined && until > now) return true;

      const ok = await check(hash, password);
      if (ok && cacheMs > 0) {
        if (verified.size >= CACHE_LIMIT) verified.clear();
        verified.set(key, now + cacheMs);
      }
      return ok;
    },

    has(user) {
      return users.has(user);
    },
  };
}

/** Reads and parses an htpasswd file; see {@link parseHtpasswd}. */
export async function loadHtpasswd(path: string, options: HtpasswdOptions = {}): Promise<UserStore> {
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
