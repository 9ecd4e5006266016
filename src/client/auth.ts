/**
 * Authentication state for one registry: HTTP Basic, or Bearer tokens from the token server that
 * a 401's `WWW-Authenticate` names (Docker registry token specification: `GET realm?service=&scope=`
 * with Basic credentials, or an OAuth2 `POST` with a refresh token for an identity token).
 *
 * Tokens are cached per scope until their `expires_in` runs out (60 seconds when the token server
 * names no lifetime).
 */
import { type Dispatcher, request } from 'undici';
import { type AuthChallenge, findChallenge } from './challenge.js';
import type { CredentialResolver, Credentials } from './credentials.js';
import { checkDestination, mayReceiveCredentials } from './destination.js';
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
  private readonly tokens = new Map<Scope, { token: string; expiresAt: number }>();
  private credentials: Promise<Credentials | undefined> | undefined;

  constructor(
    private readonly host: string,
    private readonly resolveCredentials: CredentialResolver,
    private readonly dispatcher: Dispatcher,
    private readonly userAgent: string,
    private readonly secure = false,
  ) {}

  /** Returns the `Authorization` value to send for `scope` before any challenge, if one is known. */
  async authorization(scope: Scope | undefined): Promise<string | undefined> {
    if (this.scheme === 'basic') return basicHeader(await this.lookupCredentials());
    if (this.scheme === 'bearer' && scope !== undefined) {
      const cached = this.tokens.get(scope);
      if (cached === undefined) return undefined;
      if (cached.expiresAt <= Date.now()) {
        this.tokens.delete(scope);
        return undefined;
      }
      return `Bearer ${cached.token}`;
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
    // Credentials go to the realm, so a registry reached over HTTPS must not send them over plain HTTP.
    if (this.secure && realm.protocol !== 'https:') {
      throw new AuthenticationError(
        `${this.host} named the token realm ${redactUrl(realm)} over plain HTTP; ocidrop sends credentials for an HTTPS registry over HTTPS only`,
      );
    }
    if (realm.protocol !== 'https:' && realm.protocol !== 'http:') {
      throw new AuthenticationError(`${this.host} named a token realm with the scheme ${realm.protocol}`);
    }
    // A public registry must not make the client request a loopback, link-local or private address.
    checkDestination(this.registryUrl(), realm, 'the token realm');
    this.scheme = 'bearer';
    this.realm = realm;
    this.service = challenge.params['service'];

    const scopes = new Set<string>();
    for (const part of (challenge.params['scope'] ?? '').split(' ')) if (part) scopes.add(part);
    // A scope may list several resources separated by spaces, as a cross-repository mount does.
    for (const part of (scope ?? '').split(' ')) if (part) scopes.add(part);

    const { token, expiresIn } = await this.requestToken([...scopes]);
    // The token is cached under the scope the caller asks with, which is all later lookups know.
    // It is dropped a little before it expires, so that a request does not start with a stale one.
    this.tokens.set(scope ?? '', { token, expiresAt: Date.now() + Math.max(expiresIn - 5, 1) * 1000 });
  }

  private async requestToken(scopes: string[]): Promise<{ token: string; expiresIn: number }> {
    const realm = new URL(this.realm!);
    const credentials = await this.lookupCredentials();
    const headers: Record<string, string> = { 'user-agent': this.userAgent };
    let method: 'GET' | 'POST' = 'GET';
    let body: string | undefined;

    // Credentials are looked up by the registry's host and go to the realm only when it is on that
    // host or a sibling name (Docker Hub's realm auth.docker.io serves registry-1.docker.io). A realm
    // elsewhere gets an anonymous request, which still yields a token for public repositories.
    const trusted = mayReceiveCredentials(this.registryUrl(), realm);
    if (trusted && credentials?.identityToken !== undefined) {
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
      const basic = trusted ? basicHeader(credentials) : undefined;
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
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown } | undefined;
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
    // The token specification defaults a missing expires_in to 60 seconds.
    const expiresIn =
      typeof parsed?.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60;
    return { token, expiresIn };
  }

  private registryUrl(): URL {
    return new URL(`${this.secure ? 'https' : 'http'}://${this.host}`);
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
