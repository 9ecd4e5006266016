/**
 * The token endpoint of the Docker token flow at `/v2/token`. It serves the `GET` form of the
 * "Token Authentication Specification", with HTTP Basic credentials and `scope` and
 * `offline_token` in the query. It also serves the `POST` form of the "OAuth2 Token
 * Authentication" document, with the RFC 6749 grant types `password` and `refresh_token`.
 */
import type { IncomingMessage } from 'node:http';
import { OcidropError, RegistryError } from '../oci/errors.js';
import type { UserStore } from './htpasswd.js';
import { ChallengeError } from './http.js';
import { parseScopes, type TokenAccess, type TokenSigner } from './token.js';

/** Largest form body of a `POST` token request. */
const MAX_FORM_BYTES = 64 * 1024;

/** A token request that the OAuth2 rules reject, written as `{"error", "error_description"}` (RFC 6749 §5.2). */
export class TokenRequestError extends OcidropError {
  override name = 'TokenRequestError';
  /** HTTP status: 400, or 401 for `invalid_client`. */
  readonly status: number;
  /** The OAuth2 error code, such as `invalid_grant` or `unsupported_grant_type`. */
  readonly oauthError: string;

  constructor(oauthError: string, message: string, status = 400) {
    super('ERR_TOKEN_REQUEST', message);
    this.oauthError = oauthError;
    this.status = status;
  }

  /** Returns the response body that RFC 6749 §5.2 describes. */
  toBody(): { error: string; error_description: string } {
    return { error: this.oauthError, error_description: this.message };
  }
}

/** Users, signing settings and grants that the endpoint takes from the access policy. */
export interface TokenEndpointOptions {
  users: UserStore;
  signer: TokenSigner;
  /** The service name that tokens are issued for (their `aud` claim). */
  service: string;
  /** Lifetime of access tokens, in seconds. */
  ttlSeconds: number;
  /** Lifetime of refresh tokens, in seconds. */
  refreshTtlSeconds: number;
  /** Returns the subset of the requested scopes that `user` (undefined for anonymous) may have. */
  grant(user: string | undefined, requested: TokenAccess[]): TokenAccess[];
}

/** Body of a successful token response. */
export interface TokenResponse {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  scope: string;
  refresh_token?: string;
}

/**
 * Handles one token request and returns the JSON body to send.
 * @throws ChallengeError (401) for wrong HTTP Basic credentials of a `GET`, RegistryError `DENIED`
 *   (403) for a `GET` naming another service, TokenRequestError for a `POST` the OAuth2 rules
 *   reject, such as a wrong password (`invalid_grant`).
 */
export async function handleTokenRequest(
  req: IncomingMessage,
  url: URL,
  options: TokenEndpointOptions,
): Promise<TokenResponse> {
  const params = req.method === 'POST' ? await readForm(req) : url.searchParams;
  if (req.method !== 'POST') req.resume();

  const requested = params.get('service');
  if (requested !== null && requested !== options.service) {
    const message = `this token endpoint serves service ${JSON.stringify(options.service)}, not ${JSON.stringify(requested)}`;
    if (req.method === 'POST') throw new TokenRequestError('invalid_request', message);
    throw new RegistryError('DENIED', message);
  }

  const scopes = parseScopes(params.getAll('scope'));
  if (req.method !== 'POST') {
    const user = await userFromBasic(req, options.users);
    const offline = params.get('offline_token') === 'true' && user !== undefined;
    return issue(options, user, scopes, offline ? refreshTokenFor(options, user) : undefined);
  }

  const grantType = params.get('grant_type');
  if (grantType === 'password') {
    const user = params.get('username') ?? '';
    const password = params.get('password') ?? '';
    if (!(await options.users.verify(user, password))) {
      throw new TokenRequestError('invalid_grant', 'invalid user name or password');
    }
    const offline = params.get('access_type') === 'offline';
    return issue(options, user, scopes, offline ? refreshTokenFor(options, user) : undefined);
  }
  if (grantType === 'refresh_token') {
    const refreshToken = params.get('refresh_token') ?? '';
    const claims = options.signer.verify(refreshToken, refreshAudience(options.service));
    // A user removed from the htpasswd file loses access even with a refresh token.
    if (!claims || claims.sub === '' || !options.users.has(claims.sub)) {
      throw new TokenRequestError(
        'invalid_grant',
        'the refresh token is invalid or has expired: log in again with a password',
      );
    }
    return issue(options, claims.sub, scopes, refreshToken);
  }
  throw new TokenRequestError(
    'unsupported_grant_type',
    `grant_type ${JSON.stringify(grantType ?? '')} is not supported: use password or refresh_token`,
  );
}

function issue(
  options: TokenEndpointOptions,
  user: string | undefined,
  scopes: TokenAccess[],
  refreshToken: string | undefined,
): TokenResponse {
  const access = options.grant(user, scopes);
  const now = Date.now();
  const token = options.signer.sign(user ?? '', options.service, access, options.ttlSeconds, now);
  const body: TokenResponse = {
    token,
    access_token: token,
    expires_in: options.ttlSeconds,
    issued_at: new Date(now).toISOString(),
    scope: access
      .filter((entry) => entry.actions.length > 0)
      .map((entry) => `${entry.type}:${entry.name}:${entry.actions.join(',')}`)
      .join(' '),
  };
  if (refreshToken !== undefined) body.refresh_token = refreshToken;
  return body;
}

/**
 * Signs a refresh token: a token with no access whose audience differs from the service's, so it
 * can never be used as an access token.
 *
 * NOTE: a refresh token stays valid after its user's password changes, until it expires or the
 * user is removed from the htpasswd file or the signing key is replaced.
 */
function refreshTokenFor(options: TokenEndpointOptions, user: string): string {
  return options.signer.sign(user, refreshAudience(options.service), [], options.refreshTtlSeconds);
}

function refreshAudience(service: string): string {
  return `${service}#refresh`;
}

async function userFromBasic(req: IncomingMessage, users: UserStore): Promise<string | undefined> {
  const header = req.headers.authorization;
  if (header === undefined) return undefined;
  const [scheme = '', value = ''] = header.split(/\s+/, 2);
  const user = scheme.toLowerCase() === 'basic' ? await checkBasic(users, value) : undefined;
  if (user === undefined) throw new ChallengeError('Basic realm="ocidrop"', 'invalid user name or password');
  return user;
}

/** Returns the user whose HTTP Basic credentials (`base64(user:password)`) are valid, or `undefined`. */
export async function checkBasic(users: UserStore, value: string): Promise<string | undefined> {
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  const user = decoded.slice(0, colon);
  return (await users.verify(user, decoded.slice(colon + 1))) ? user : undefined;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    req.resume();
    throw new TokenRequestError(
      'invalid_request',
      `a POST token request needs Content-Type application/x-www-form-urlencoded, not ${JSON.stringify(type ?? '')}`,
    );
  }
  // The body is drained to its end even when too large, so the 400 can still be sent on this connection.
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.byteLength;
      if (size <= MAX_FORM_BYTES) chunks.push(chunk);
    });
    req.on('error', reject);
    req.on('end', () => {
      if (size > MAX_FORM_BYTES) {
        reject(
          new TokenRequestError('invalid_request', `the form body is larger than ${MAX_FORM_BYTES} bytes`),
        );
        return;
      }
      resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8')));
    });
  });
}
