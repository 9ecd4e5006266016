/**
 * The registry's access policy: users from an htpasswd file and rules per repository prefix for
 * who may pull, push and delete. Clients authenticate with HTTP Basic or with the Docker token
 * flow, a `WWW-Authenticate: Bearer` challenge and a token endpoint that issues short-lived tokens.
 */
import type { IncomingMessage } from 'node:http';
import { RegistryError } from '../oci/errors.js';
import type { AccessPolicy, AccessScope, RepositoryAction } from './access.js';
import { formatScope } from './access.js';
import type { UserStore } from './htpasswd.js';
import { ChallengeError } from './http.js';
import { type TokenAccess, type TokenClaims, TokenSigner, tokenCovers } from './token.js';
import { checkBasic, handleTokenRequest } from './token-endpoint.js';

/** The principals an action is open to: anyone (`*`, anonymous too), any authenticated user, or the users named. */
export type Principals = '*' | 'authenticated' | readonly string[];

/** The principals that may pull, push and delete in repositories whose name starts with `prefix`. */
export interface AccessRule {
  /** A repository name or the first components of one (`team` matches `team` and `team/app`); `''` matches all. */
  prefix: string;
  /** @default 'authenticated' */
  pull?: Principals;
  /** @default 'authenticated' */
  push?: Principals;
  /** @default 'authenticated' */
  delete?: Principals;
}

/** Options of {@link createAccessPolicy}. */
export interface AccessPolicyOptions {
  users: UserStore;
  /**
   * Rules; for each repository the rule with the longest matching prefix applies, and a repository
   * that no rule matches is open to authenticated users only.
   * @default [{ prefix: '', pull: '*', push: 'authenticated', delete: 'authenticated' }]
   */
  rules?: AccessRule[];
  /** Enables the Docker token flow instead of HTTP Basic challenges. */
  token?: {
    /** Absolute URL of the token endpoint; by default `http://<Host header>/v2/token`. */
    realm?: string;
    /** @default 'ocidrop' */
    service?: string;
    /** Lifetime of access tokens, in seconds; the OAuth2 token document asks for at least 60. @default 300 */
    ttlSeconds?: number;
    /** Lifetime of refresh tokens (OAuth2 `access_type=offline`, `offline_token=true`), in seconds. @default 2592000 (30 days) */
    refreshTtlSeconds?: number;
    /** Signs tokens; a signer with a random key by default. */
    signer?: TokenSigner;
  };
}

const ALL_ACTIONS: RepositoryAction[] = ['pull', 'push', 'delete'];

const DEFAULT_REFRESH_TTL_SECONDS = 30 * 24 * 60 * 60;

interface Identity {
  user?: string;
  token?: TokenClaims;
}

/** Creates an {@link AccessPolicy} from users and rules. */
export function createAccessPolicy(options: AccessPolicyOptions): AccessPolicy {
  const rules = [
    ...(options.rules ?? [{ prefix: '', pull: '*', push: 'authenticated', delete: 'authenticated' }]),
  ].sort((a, b) => b.prefix.length - a.prefix.length);
  const tokenOptions = options.token;
  const service = tokenOptions?.service ?? 'ocidrop';
  const signer = tokenOptions ? (tokenOptions.signer ?? new TokenSigner('ocidrop')) : undefined;

  const ruleFor = (name: string): AccessRule | undefined =>
    rules.find(
      (rule) =>
        rule.prefix === '' || name === rule.prefix || name.startsWith(`${rule.prefix.replace(/\/$/, '')}/`),
    );

  const allows = (user: string | undefined, name: string, action: RepositoryAction): boolean => {
    const principals = ruleFor(name)?.[action] ?? 'authenticated';
    if (principals === '*') return true;
    if (user === undefined) return false;
    return principals === 'authenticated' || principals.includes(user);
  };

  const allowsScope = (user: string | undefined, scope: AccessScope): boolean => {
    if (scope.type === 'registry') return user !== undefined || allows(undefined, '', 'pull');
    return scope.actions.every((action) => allows(user, scope.name, action));
  };

  const challenge = (req: IncomingMessage, scopes: AccessScope[], message?: string): ChallengeError => {
    if (!signer) return new ChallengeError('Basic realm="ocidrop"', message);
    const realm = tokenOptions?.realm ?? `http://${req.headers.host ?? '127.0.0.1'}/v2/token`;
    let value = `Bearer realm="${realm}",service="${service}"`;
    if (scopes.length > 0) value += `,scope="${scopes.map(formatScope).join(' ')}"`;
    return new ChallengeError(value, message);
  };

  const identify = async (req: IncomingMessage, scopes: AccessScope[]): Promise<Identity> => {
    const header = req.headers.authorization;
    if (header === undefined) return {};
    const [scheme = '', value = ''] = header.split(/\s+/, 2);
    if (scheme.toLowerCase() === 'basic') {
      // Some clients (containers/image, used by skopeo and podman) respond to a Basic challenge with
      // an empty user and password when they have no credentials: that is an anonymous request.
      if (Buffer.from(value, 'base64').toString('utf8') === ':') return {};
      const user = await checkBasic(options.users, value);
      if (user === undefined) throw challenge(req, scopes, 'invalid user name or password');
      return { user };
    }
    if (scheme.toLowerCase() === 'bearer' && signer) {
      const claims = signer.verify(value, service);
      if (!claims) throw challenge(req, scopes, 'the token is invalid or has expired: request a new one');
      return claims.sub === '' ? { token: claims } : { user: claims.sub, token: claims };
    }
    throw challenge(req, scopes, `unsupported authorization scheme ${JSON.stringify(scheme)}`);
  };

  const grant = (user: string | undefined, requested: TokenAccess[]): TokenAccess[] => {
    const access: TokenAccess[] = [];
    for (const scope of requested) {
      if (scope.type === 'registry' && scope.name === 'catalog') {
        if (allowsScope(user, { type: 'registry', name: 'catalog', actions: ['*'] }))
          access.push({ type: 'registry', name: 'catalog', actions: ['*'] });
        continue;
      }
      if (scope.type !== 'repository') continue;
      const requestedActions = scope.actions.includes('*')
        ? ALL_ACTIONS
        : ALL_ACTIONS.filter((action) => scope.actions.includes(action));
      const granted = requestedActions.filter((action) => allows(user, scope.name, action));
      access.push({ type: 'repository', name: scope.name, actions: granted });
    }
    return access;
  };

  return {
    async authorize(req, scopes) {
      const identity = await identify(req, scopes);
      if (scopes.length === 0) {
        // The version check: clients that log in expect a challenge when they send no credentials.
        if (identity.user === undefined && identity.token === undefined) throw challenge(req, []);
        return;
      }
      for (const scope of scopes) {
        if (identity.token) {
          if (tokenCovers(identity.token, scope)) continue;
          if (identity.user !== undefined && !allowsScope(identity.user, scope)) throw denied(scope);
          throw challenge(
            req,
            scopes,
            `the token does not grant ${formatScope(scope)}: request a token with that scope`,
          );
        }
        if (allowsScope(identity.user, scope)) continue;
        if (identity.user === undefined) throw challenge(req, scopes);
        throw denied(scope);
      }
    },

    ...(signer && {
      async issueToken(req: IncomingMessage, url: URL): Promise<unknown> {
        return handleTokenRequest(req, url, {
          users: options.users,
          signer,
          service,
          ttlSeconds: tokenOptions?.ttlSeconds ?? 300,
          refreshTtlSeconds: tokenOptions?.refreshTtlSeconds ?? DEFAULT_REFRESH_TTL_SECONDS,
          grant: (user, requested) => grant(user, requested),
        });
      },
    }),
  };
}

function denied(scope: AccessScope): RegistryError {
  return new RegistryError('DENIED', `access to ${formatScope(scope)} is denied`, {
    scope: formatScope(scope),
  });
}
