/**
 * Authentication state for one registry: HTTP Basic, or Bearer tokens from the token server that
 * a 401's `WWW-Authenticate` names (Docker registry token specification: `GET realm?service=&scope=`
 * with Basic credentials, or an OAuth2 `POST` with a refresh token for an identity token).
 *
 * Tokens are cached per scope for the life of the client.
 */
import { type Dispatcher, request } from 'undici';
import { type AuthChallenge, findChallenge } from './challenge.js';
import type { CredentialResolver, Credentials } from './credentials.js';
import { AuthenticationError, RegistryConnectionError } from './errors.js';
import { readCapped, redactUrl, responseError } from './http.js';

/** Access a request needs, in token scope syntax: `repository:<name>:pull`, `repository:<name>:pull,push`, `registry:catalog:*`. */
export type Scope = string;

/** Token responses larger than this are rejected. */
const MAX_TOKEN_RESPONSE = 1024 * 1024;

// The OAuth2 client id; the token specification requires clients to identify themselves with one.
const CLIENT_ID = 'ocidrop';

/** Builds the scope string for a repository and actions, such as `repository:hello:pull,push`. */
export function repositoryScope(repository: string, push: boolean): Scope {
  return `repository:${repository}:${push ? 'pull,push' : 'pull'}`;
}

/** Holds what the registry asked for and the tokens obtained so far. */
export class Authenticator {
  private scheme: 'basic' | 'bearer' | undefined;
  private realm: URL | undefined;
  private service: string | undefined;
  private readonly tokens = new Map<Scope, string>();
  private credentials: Promise<Credentials | undefined> | undefined;

  constructor(
    private readonly host: string,
    private readonly resolveCredentials: CredentialResolver,
    private readonly dispatcher: Dispatcher,
    private readonly userAgent: string,
  ) {}

  /** Returns the `Authorization` value to send for `scope` before any challenge, if one is known. */
  async authorization(scope: Scope | undefined): Promise<string | undefined> {
    if (this.scheme === 'basic') return basicHeader(await this.lookupCredentials());
    if (this.scheme === 'bearer' && scope !== undefined) {
      const token = this.tokens.get(scope);
      return token === undefined ? undefined : `Bearer ${token}`;
    }
    return undefined;
  }

  /**
   * Meets a 401's challenges so that the request can be retried: remembers Basic, or fetches a
   * Bearer token for `scope` together with the scopes the challenge names.
   * Returns false when there is nothing to retry with (no credentials for Basic).
   * @throws AuthenticationError when the scheme is unknown or the token server rejects the request.
   */
  async respond(challenges: AuthChallenge[], scope: Scope | undefined): Promise<boolean> {
    const bearer = findChallenge(challenges, 'bearer');
    if (bearer !== undefined) {
      await this.fetchToken(bearer, scope);
      return true;
    }
    if (findChallenge(challenges, 'basic') !== undefined) {
      this.scheme = 'basic';
      return basicHeader(await this.lookupCredentials()) !== undefined;
    }
    const schemes = challenges.map((challenge) => challenge.scheme).join(', ') || 'none';
    throw new AuthenticationError(
      `${this.host} asked for authentication with an unsupported scheme (${schemes}); ocidrop supports Basic and Bearer`,
    );
  }

  /** Tells whether credentials for this registry exist in the configuration. */
  async hasCredentials(): Promise<boolean> {
    const credentials = await this.lookupCredentials();
    return credentials?.identityToken !== undefined || credentials?.username !== undefined;
  }

  private async fetchToken(challenge: AuthChallenge, scope: Scope | undefined): Promise<void> {
    const realmText = challenge.params['realm'];
    if (realmText === undefined) {
      throw new AuthenticationError(
        `${this.host} sent a Bearer challenge without a realm, so no token can be requested`,
      );
    }
    let realm: URL;
    try {
      realm = new URL(realmText);
    } catch (error) {
      throw new AuthenticationError(`${this.host} sent an invalid token realm ${JSON.stringify(realmText)}`, {
        cause: error,
      });
    }
    this.scheme = 'bearer';
    this.realm = realm;
    this.service = challenge.params['service'];

    const scopes = new Set<string>();
    for (const part of (challenge.params['scope'] ?? '').split(' ')) if (part) scopes.add(part);
    if (scope !== undefined) scopes.add(scope);

    const token = await this.requestToken([...scopes]);
    // The token is cached under the scope the caller asks with, which is all later lookups know.
    this.tokens.set(scope ?? '', token);
  }

  private async requestToken(scopes: string[]): Promise<string> {
    const realm = new URL(this.realm!);
    const credentials = await this.lookupCredentials();
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    let method: 'GET' | 'POST' = 'GET';
    let body: string | undefined;

    // NOTE: the realm may be on another host than the registry (as Docker Hub's is). It gets the
    // registry's own credentials, looked up by the registry's host, exactly what a token server is for.
    if (credentials?.identityToken !== undefined) {
      method = 'POST';
      const form = new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: credentials.identityToken,
        client_id: CLIENT_ID,
      });
      if (this.service !== undefined) form.set('service', this.service);
      for (const scope of scopes) form.append('scope', scope);
      body = form.toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      if (this.service !== undefined) realm.searchParams.set('service', this.service);
      for (const scope of scopes) realm.searchParams.append('scope', scope);
      const basic = basicHeader(credentials);
      if (basic !== undefined) headers['authorization'] = basic;
    }

    let response: Dispatcher.ResponseData;
    try {
      response = await request(realm, { method, headers, body, dispatcher: this.dispatcher });
    } catch (error) {
      throw new RegistryConnectionError(
        { method, url: redactUrl(realm), reason: `token request failed: ${(error as Error).message}` },
        { cause: error },
      );
    }
    if (response.statusCode !== 200) {
      const hint =
        response.statusCode === 401 || response.statusCode === 403
          ? `the token server rejected the credentials for ${this.host}; check them in Docker's config.json`
          : undefined;
      throw await responseError(method, realm, response, hint);
    }
    const text = await readCapped(response.body, MAX_TOKEN_RESPONSE);
    let parsed: { token?: unknown; access_token?: unknown } | undefined;
    try {
      parsed = text === undefined ? undefined : JSON.parse(text.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    const token = parsed?.token ?? parsed?.access_token;
    if (typeof token !== 'string' || token === '') {
      throw new AuthenticationError(
        `the token server ${redactUrl(realm)} for ${this.host} sent no token in its response`,
      );
    }
    return token;
  }

  private lookupCredentials(): Promise<Credentials | undefined> {
    this.credentials ??= this.resolveCredentials(this.host);
    return this.credentials;
  }
}

function basicHeader(credentials: Credentials | undefined): string | undefined {
  if (credentials?.username === undefined) return undefined;
  const pair = `${credentials.username}:${credentials.password ?? ''}`;
  return `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
}
