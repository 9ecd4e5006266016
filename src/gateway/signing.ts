/**
 * Signed, expiring links to gateway paths. A link carries `expires` (Unix seconds), `kid` (the id of
 * the key that signed it) and `sig`, an HMAC-SHA256 over the key id, the path, the expiry and the
 * platform, base64url-encoded. The platform is part of the signed text, so a link pinned to one
 * platform cannot be replayed for another, and the path is, so it cannot be replayed for another file.
 * Several keys can verify at once, so a key can be rotated out without breaking links signed by the next.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { OcidropError } from '../oci/errors.js';

/** Query parameters of a signed link. */
export const SIGNATURE_PARAMS = ['expires', 'kid', 'sig'] as const;

/** A secret key for link signatures. */
export interface SigningKey {
  /** Short public name of the key, sent with every link so the right key verifies it. */
  id: string;
  /** The secret; at least 32 bytes. */
  secret: Buffer;
}

/** Minimum length of a signing secret in bytes, the output size of SHA-256. */
export const MIN_SECRET_BYTES = 32;

/** Key ids: letters, digits, `.`, `_` and `-`, up to 64 characters. */
export const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The outcome of checking a request's signature. */
export type SignatureCheck =
  | { kind: 'absent' }
  | { kind: 'valid'; expires: Date; keyId: string }
  | { kind: 'expired'; expires: Date }
  | { kind: 'invalid'; reason: string };

/** A signing key that cannot be used. */
export class SigningKeyError extends OcidropError {
  override name = 'SigningKeyError';
  constructor(message: string) {
    super('ERR_SIGNING_KEY', message);
  }
}

/**
 * Signs and verifies links. The first key signs; every key verifies.
 * @throws SigningKeyError for no keys, a duplicate or malformed id, or a secret shorter than 32 bytes.
 */
export class LinkSigner {
  private readonly keys: Map<string, Buffer>;
  private readonly current: SigningKey;

  constructor(keys: readonly SigningKey[]) {
    if (keys.length === 0) throw new SigningKeyError('no signing key given: add at least one key');
    this.keys = new Map();
    for (const key of keys) {
      if (!KEY_ID.test(key.id)) {
        throw new SigningKeyError(
          `invalid signing key id ${JSON.stringify(key.id)}: use 1 to 64 letters, digits, ".", "_" or "-"`,
        );
      }
      if (this.keys.has(key.id))
        throw new SigningKeyError(`signing key id ${JSON.stringify(key.id)} appears twice`);
      if (key.secret.length < MIN_SECRET_BYTES) {
        throw new SigningKeyError(
          `signing key ${JSON.stringify(key.id)} is ${key.secret.length} bytes long: use at least ${MIN_SECRET_BYTES} random bytes`,
        );
      }
      this.keys.set(key.id, key.secret);
    }
    this.current = keys[0]!;
  }

  /**
   * Returns the query parameters that sign `path` until `expires` for `platform` (`os/arch`, or
   * `''` for a link that lets the gateway pick the platform).
   */
  sign(path: string, expires: Date, platform: string): URLSearchParams {
    const seconds = Math.floor(expires.getTime() / 1000);
    const signature = hmac(this.current.secret, this.current.id, path, seconds, platform);
    return new URLSearchParams({ expires: String(seconds), kid: this.current.id, sig: signature });
  }

  /**
   * Checks the signature parameters of a request for `path` and `platform` (as {@link sign} took them).
   * The expiry is checked only once the signature holds, so an altered expiry reads as invalid.
   */
  verify(path: string, query: URLSearchParams, platform: string, now: Date = new Date()): SignatureCheck {
    const expiresText = query.get('expires');
    const keyId = query.get('kid');
    const signature = query.get('sig');
    if (expiresText === null && keyId === null && signature === null) return { kind: 'absent' };
    if (expiresText === null || keyId === null || signature === null)
      return { kind: 'invalid', reason: 'a signature parameter is missing' };
    if (!/^\d{1,12}$/.test(expiresText)) return { kind: 'invalid', reason: 'the expiry is not a number' };

    const secret = this.keys.get(keyId);
    if (secret === undefined) return { kind: 'invalid', reason: 'the key is unknown or was retired' };
    const seconds = Number(expiresText);
    const expected = Buffer.from(hmac(secret, keyId, path, seconds, platform));
    const actual = Buffer.from(signature);
    // timingSafeEqual needs equal lengths; the length of a valid signature is public anyway.
    if (actual.length !== expected.length || !timingSafeEqual(actual, expected))
      return { kind: 'invalid', reason: 'the signature does not match' };

    const expires = new Date(seconds * 1000);
    if (expires.getTime() <= now.getTime()) return { kind: 'expired', expires };
    return { kind: 'valid', expires, keyId };
  }
}

/**
 * Parses a duration such as `30m`, `24h`, `7d` or `90s` into milliseconds.
 * @throws Error naming the value and the accepted forms.
 */
export function parseDuration(text: string): number {
  const match = /^(\d{1,6})([smhd])$/.exec(text.trim());
  if (!match) {
    throw new Error(
      `invalid duration ${JSON.stringify(text)}: use a number and a unit, such as 90s, 30m, 24h or 7d`,
    );
  }
  const units = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
  const milliseconds = Number(match[1]) * units[match[2] as keyof typeof units];
  if (milliseconds === 0)
    throw new Error(`invalid duration ${JSON.stringify(text)}: it must be longer than 0`);
  return milliseconds;
}

// Lines keep the fields apart: no field can contain a newline (paths are URL-encoded, ids and platforms are checked).
function hmac(secret: Buffer, keyId: string, path: string, expires: number, platform: string): string {
  return createHmac('sha256', secret)
    .update(`ocidrop-link-v1\n${keyId}\n${path}\n${expires}\n${platform}`)
    .digest('base64url');
}
