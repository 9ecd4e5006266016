/**
 * Access control of the gateway. Public repositories are open to everyone. A private
 * repository opens only for a user with a password (HTTP Basic, RFC 7617) or for a request whose
 * signed link covers its exact path and platform. A signature that is present is always checked,
 * so an expired or altered link gets a clear 403 page even on a public repository.
 */
import type { IncomingMessage } from 'node:http';
import { GatewayError } from './errors.js';
import type { LinkSigner } from './signing.js';

/** Checks user names and passwords, such as the users of an htpasswd file. */
export interface PasswordCheck {
  /** Resolves to true when `password` is the password of `user`. */
  verify(user: string, password: string): Promise<boolean>;
}

/** Access settings of the gateway. */
export interface GatewayAccessOptions {
  /** Tells whether a repository (by its public name) is private. @default every repository is public */
  isPrivate?: (repository: string) => boolean;
  /** Users who may open private repositories; without it, only signed links open them. */
  users?: PasswordCheck;
  /** Verifies signed links; without it, a link with a signature is rejected as not valid. */
  signer?: LinkSigner;
  /** The realm named in the `WWW-Authenticate` challenge. @default 'ocidrop' */
  realm?: string;
}

/** The credential that allowed a request. */
export interface Grant {
  /** The user whose password was checked. */
  user?: string;
  /** True when a valid signed link allowed the request. */
  signed: boolean;
}

/** Longest `Authorization` header read; a Basic header for sane names and passwords is far shorter. */
const MAX_AUTHORIZATION = 4096;

/** Decides access for requests; one instance per gateway. */
export class AccessControl {
  private readonly options: GatewayAccessOptions;

  constructor(options: GatewayAccessOptions = {}) {
    this.options = options;
  }

  /** Tells whether `repository` is private. */
  isPrivate(repository: string): boolean {
    return this.options.isPrivate?.(repository) ?? false;
  }

  /**
   * Checks the signature on a request, if any, then the right to open `repository`.
   * @param path the URL path exactly as requested, which is what a link signs.
   * @param platform `os/arch` from the query, or `''`.
   * @throws GatewayError `LINK_EXPIRED` or `LINK_INVALID` (403) for a bad signature, `UNAUTHORIZED`
   *   (401, with a Basic challenge) when a private repository needs a user or a link.
   */
  async authorize(
    req: IncomingMessage,
    path: string,
    query: URLSearchParams,
    platform: string,
    repository: string | undefined,
  ): Promise<Grant> {
    const signed = this.checkSignature(path, query, platform);
    if (signed) return { signed: true };
    // A public repository needs no user, so its requests skip the password check and its bcrypt cost.
    if (repository !== undefined && !this.isPrivate(repository)) return { signed: false };
    if (repository === undefined) {
      const user = await this.user(req);
      return user === undefined ? { signed: false } : { user, signed: false };
    }

    const user = await this.user(req);
    if (user !== undefined) return { user, signed: false };
    const realm = (this.options.realm ?? 'ocidrop').replace(/["\\]/g, '');
    throw new GatewayError(
      'UNAUTHORIZED',
      `${repository} is private: sign in, or open it through a signed link from its publisher`,
      { repository },
      { headers: { 'WWW-Authenticate': `Basic realm="${realm}", charset="UTF-8"` } },
    );
  }

  /**
   * Returns the user whose valid Basic credentials the request carries, or undefined. Wrong
   * credentials count as none: the challenge that follows lets the visitor try again.
   */
  async user(req: IncomingMessage): Promise<string | undefined> {
    const users = this.options.users;
    const header = req.headers.authorization;
    if (users === undefined || header === undefined || header.length > MAX_AUTHORIZATION) return undefined;
    const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (!match) return undefined;
    const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return undefined;
    const user = decoded.slice(0, colon);
    return (await users.verify(user, decoded.slice(colon + 1))) ? user : undefined;
  }

  // Returns true for a valid signature, false for none, and throws for a bad one.
  private checkSignature(path: string, query: URLSearchParams, platform: string): boolean {
    const signer = this.options.signer;
    if (signer === undefined) {
      if (query.has('sig')) throw linkInvalid('this gateway has no signing key');
      return false;
    }
    const check = signer.verify(path, query, platform);
    switch (check.kind) {
      case 'absent':
        return false;
      case 'valid':
        return true;
      case 'expired':
        throw new GatewayError(
          'LINK_EXPIRED',
          `this link expired on ${check.expires.toISOString().slice(0, 16).replace('T', ' ')} UTC; ask its publisher for a new one`,
        );
      case 'invalid':
        throw linkInvalid(check.reason);
    }
  }
}

function linkInvalid(reason: string): GatewayError {
  return new GatewayError(
    'LINK_INVALID',
    `this link is not valid (${reason}); copy the whole link again or ask its publisher for a new one`,
  );
}
