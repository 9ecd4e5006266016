/**
 * References to content in a registry: `registry/repository[:tag][@digest]`, with the grammar of
 * the OCI Distribution Specification (`spec.md`, "Pulling manifests") and Docker's rules for
 * telling a registry host from the first path component.
 */
import { type Digest, isDigest } from './digest.js';
import { InvalidReferenceError } from './errors.js';

/** The repository name grammar of the distribution spec: `<name>` path components separated by `/`. */
export const REPOSITORY_GRAMMAR =
  /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
/** The tag grammar of the distribution spec: at most 128 characters. */
export const TAG_GRAMMAR = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Registries limit a repository name to 255 characters together with the host (Docker's limit). */
export const MAX_REPOSITORY_LENGTH = 255;

/** Docker Hub's name in references, and the host that serves its API. */
export const DOCKER_HUB = 'docker.io';
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';

// host, IPv4, [IPv6] and optional port, as Docker accepts them.
const HOST_GRAMMAR =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;

/** Tells whether `name` is a valid repository name. */
export function isRepositoryName(name: string): boolean {
  return name.length <= MAX_REPOSITORY_LENGTH && REPOSITORY_GRAMMAR.test(name);
}

/** Tells whether `tag` is a valid tag. */
export function isTag(tag: string): boolean {
  return TAG_GRAMMAR.test(tag);
}

/**
 * A parsed reference. Either `tag` or `digest` may be missing, or both.
 * {@link Reference.reference} returns the one a request uses.
 */
export class Reference {
  readonly registry: string;
  readonly repository: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;

  constructor(registry: string, repository: string, tag?: string, digest?: Digest) {
    if (!HOST_GRAMMAR.test(registry)) {
      throw new InvalidReferenceError(`invalid registry host ${JSON.stringify(registry)}`);
    }
    const port = /:([0-9]+)$/.exec(registry)?.[1];
    if (port !== undefined && Number(port) > 65535) {
      throw new InvalidReferenceError(
        `invalid port ${port} in registry host ${JSON.stringify(registry)}: a port is at most 65535, such as localhost:5000`,
      );
    }
    if (!isRepositoryName(repository)) {
      throw new InvalidReferenceError(
        `invalid repository name ${JSON.stringify(repository)}: use lowercase letters, digits and separators (. _ __ - /)`,
      );
    }
    if (tag !== undefined && !isTag(tag)) {
      throw new InvalidReferenceError(
        `invalid tag ${JSON.stringify(tag)}: use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'`,
      );
    }
    if (digest !== undefined && !isDigest(digest)) {
      throw new InvalidReferenceError(`invalid digest ${JSON.stringify(digest)} in reference`);
    }
    this.registry = registry;
    this.repository = repository;
    this.tag = tag;
    this.digest = digest;
  }

  /** The tag or digest that a manifest request uses: the digest when both are set. */
  get reference(): string | undefined {
    return this.digest ?? this.tag;
  }

  /** The host and port that serve the registry's API (Docker Hub's API host for `docker.io`). */
  get apiHost(): string {
    return this.registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : this.registry;
  }

  /** Returns a copy with another tag and no digest. */
  withTag(tag: string): Reference {
    return new Reference(this.registry, this.repository, tag);
  }

  /** Returns a copy pinned to `digest`, keeping the tag for display. */
  withDigest(digest: Digest): Reference {
    return new Reference(this.registry, this.repository, this.tag, digest);
  }

  toString(): string {
    let text = `${this.registry}/${this.repository}`;
    if (this.tag !== undefined) text += `:${this.tag}`;
    if (this.digest !== undefined) text += `@${this.digest}`;
    return text;
  }
}

/**
 * Parses `registry/repository[:tag][@digest]`.
 *
 * The first path component is the registry when it contains a `.` or a `:`, or is `localhost`;
 * otherwise the reference is on Docker Hub, where a one-component name gets the `library/` prefix.
 * @param options.defaultTag tag to use when the reference has neither tag nor digest; none by default.
 * @throws InvalidReferenceError naming the part that is wrong.
 */
export function parseReference(value: string, options: { defaultTag?: string } = {}): Reference {
  if (value.length === 0) throw new InvalidReferenceError('invalid reference "": it is empty');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this check rejects.
  if (/[\s\u0000-\u001f\u007f]/.test(value)) {
    throw new InvalidReferenceError(
      `invalid reference ${JSON.stringify(value)}: it contains white space or a control character`,
    );
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    throw new InvalidReferenceError(
      `invalid reference ${JSON.stringify(value)}: leave out the URL scheme, as in "localhost:5000/hello:1.0.0"`,
    );
  }

  let rest = value;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const digestText = rest.slice(at + 1);
    if (!isDigest(digestText)) {
      throw new InvalidReferenceError(
        `invalid digest ${JSON.stringify(digestText)} in reference ${JSON.stringify(value)}: expected "sha256:" followed by 64 hex digits`,
      );
    }
    digest = digestText;
    rest = rest.slice(0, at);
  }

  let registry = DOCKER_HUB;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      registry = first;
      rest = rest.slice(slash + 1);
    }
  }

  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isTag(tag)) {
      throw new InvalidReferenceError(
        `invalid tag ${JSON.stringify(tag)} in reference ${JSON.stringify(value)}: use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'`,
      );
    }
  }

  let repository = rest;
  if (registry === DOCKER_HUB && !repository.includes('/')) repository = `library/${repository}`;
  if (!isRepositoryName(repository)) {
    throw new InvalidReferenceError(
      `invalid repository name ${JSON.stringify(repository)} in reference ${JSON.stringify(value)}: use lowercase letters, digits and separators (. _ __ - /)`,
    );
  }
  if (tag === undefined && digest === undefined) tag = options.defaultTag;
  return new Reference(registry, repository, tag, digest);
}

/**
 * Parses `registry/repository` with neither tag nor digest, for commands that name a whole repository.
 * @throws InvalidReferenceError when a tag or digest is present or the name is invalid.
 */
export function parseRepository(value: string): Reference {
  const reference = parseReference(value);
  if (reference.tag !== undefined || reference.digest !== undefined) {
    throw new InvalidReferenceError(
      `expected a repository without tag or digest, got ${JSON.stringify(value)}: drop the ":${reference.tag ?? ''}" or "@..." part`,
    );
  }
  return reference;
}

/**
 * Tells whether a host (without a port) is a loopback address or name: 127.0.0.0/8, `::1` (bare or
 * in brackets) or `localhost`. `ocidrop serve` may run its registry without access control there.
 */
export function isLoopbackAddress(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  return bare === 'localhost' || bare === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}
