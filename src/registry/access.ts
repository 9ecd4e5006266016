/**
 * Access control of the registry: which request may pull, push or delete in which repository.
 * Scopes follow the Docker token specification's resource scopes
 * (`repository:<name>:<actions>`, `registry:catalog:*`).
 */
import type { IncomingMessage } from 'node:http';

/** An action on a repository. */
export type RepositoryAction = 'pull' | 'push' | 'delete';

/** The access one request needs: actions on a repository, or the catalog. */
export type AccessScope =
  | { type: 'repository'; name: string; actions: RepositoryAction[] }
  | { type: 'registry'; name: 'catalog'; actions: ['*'] };

/**
 * Decides whether a request may do what its scopes name.
 *
 * `authorize` resolves when it may; otherwise it throws a `ChallengeError` (401, with the
 * `WWW-Authenticate` challenge that makes the client log in) or a `RegistryError` with
 * `DENIED` (403) for an authenticated user without the right. An empty scope list is the
 * `GET /v2/` version check, which a policy uses to verify credentials when they are sent.
 */
export interface AccessPolicy {
  authorize(req: IncomingMessage, scopes: AccessScope[]): Promise<void>;
  /**
   * Handles a token request of the Docker token flow at `/v2/token` (`GET` with `service` and
   * `scope` in the query, or the OAuth2 `POST` form) and returns the JSON body to send. It reads
   * a `POST` body and drains a `GET` body. Absent when the policy issues no tokens.
   */
  issueToken?(req: IncomingMessage, url: URL): Promise<unknown>;
}

/** Formats a scope as the token specification writes it, such as `repository:hello:pull,push`. */
export function formatScope(scope: AccessScope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}

// The registry's name for the data model's check. `src/index.ts` exports both the data model and the
// client, whose own `isLoopbackHost` takes `host:port`, so the data model cannot use this name.
export { isLoopbackAddress as isLoopbackHost } from '../oci/reference.js';
