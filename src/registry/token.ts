/**
 * Short-lived bearer tokens for the Docker token flow (Docker "Token Authentication
 * Specification"): a JWT signed with HMAC-SHA256 whose `access` claim lists the granted scopes.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AccessScope } from './access.js';

/** One granted resource in a token's `access` claim. */
export interface TokenAccess {
  type: string;
  name: string;
  actions: string[];
}

/** The claims of a token the registry issued. */
export interface TokenClaims {
  iss: string;
  sub: string;
  aud: string;
  iat: number;
  nbf: number;
  exp: number;
  jti: string;
  access: TokenAccess[];
}

/** Signs and verifies tokens with one secret key. */
export class TokenSigner {
  private readonly key: Buffer;
  readonly issuer: string;

  /** @param key HMAC key; a random 32-byte key when left out, so tokens die with the process. */
  constructor(issuer: string, key: Buffer = randomBytes(32)) {
    this.issuer = issuer;
    this.key = key;
  }

  /** Issues a token for `subject` (empty for anonymous) valid for `ttlSeconds`. */
  sign(
    subject: string,
    audience: string,
    access: TokenAccess[],
    ttlSeconds: number,
    now = Date.now(),
  ): string {
    const iat = Math.floor(now / 1000);
    const claims: TokenClaims = {
      iss: this.issuer,
      sub: subject,
      aud: audience,
      iat,
      nbf: iat - 5,
      exp: iat + ttlSeconds,
      jti: randomBytes(8).toString('hex'),
      access,
    };
    const head = encode({ alg: 'HS256', typ: 'JWT' });
    const body = encode(claims);
    return `${head}.${body}.${this.mac(`${head}.${body}`)}`;
  }

  /** Returns the claims of a valid, unexpired token for `audience`, or `undefined`. */
  verify(token: string, audience: string, now = Date.now()): TokenClaims | undefined {
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [head, body, signature] = parts as [string, string, string];
    const expected = Buffer.from(this.mac(`${head}.${body}`));
    const actual = Buffer.from(signature);
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return undefined;
    let claims: TokenClaims;
    try {
      claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as TokenClaims;
    } catch {
      return undefined;
    }
    const seconds = now / 1000;
    if (
      claims.iss !== this.issuer ||
      claims.aud !== audience ||
      seconds >= claims.exp ||
      seconds < claims.nbf
    )
      return undefined;
    return claims;
  }

  private mac(data: string): string {
    return createHmac('sha256', this.key).update(data).digest('base64url');
  }
}

/** Tells whether the token's access claim covers every action of `scope`. */
export function tokenCovers(claims: TokenClaims, scope: AccessScope): boolean {
  const granted = claims.access.find((entry) => entry.type === scope.type && entry.name === scope.name);
  if (!granted) return false;
  return scope.actions.every((action) => granted.actions.includes(action) || granted.actions.includes('*'));
}

/**
 * Parses the `scope` query parameters of a token request, such as `repository:hello:pull,push`.
 * A repository name never contains `:`, so the type is before the first colon and the actions
 * after the last one. Malformed scopes are skipped.
 */
export function parseScopes(values: string[]): TokenAccess[] {
  const scopes: TokenAccess[] = [];
  for (const value of values.flatMap((entry) => entry.split(' '))) {
    const first = value.indexOf(':');
    const last = value.lastIndexOf(':');
    if (first <= 0 || last <= first) continue;
    const actions = value
      .slice(last + 1)
      .split(',')
      .filter((action) => action.length > 0);
    scopes.push({ type: value.slice(0, first), name: value.slice(first + 1, last), actions });
  }
  return scopes;
}

function encode(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
