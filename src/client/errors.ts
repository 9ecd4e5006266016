/**
 * Errors of the registry client and of the push, pull and url operations built on it.
 * Each class has a fixed `name` and a stable `code` (see `OcidropError`).
 */
import { OcidropError, type RegistryErrorEntry } from '../oci/errors.js';

/**
 * A registry response with a status the request did not expect.
 *
 * Carries the method, the URL without credentials or query secrets, the status and the
 * `errors[]` entries of the body ("Error Codes" in distribution-spec `spec.md`).
 */
export class RegistryResponseError extends OcidropError {
  override name = 'RegistryResponseError';
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly errors: RegistryErrorEntry[];

  constructor(
    init: { method: string; url: string; status: number; errors: RegistryErrorEntry[]; hint?: string },
    options?: ErrorOptions,
  ) {
    super('ERR_REGISTRY_RESPONSE', formatResponseMessage(init), options);
    this.method = init.method;
    this.url = init.url;
    this.status = init.status;
    this.errors = init.errors;
  }

  /** Tells whether the registry named `code` among its `errors[]`. */
  hasCode(code: string): boolean {
    return this.errors.some((entry) => entry.code === code);
  }
}

/** A request that got no HTTP response: the connection failed, was reset or timed out. */
export class RegistryConnectionError extends OcidropError {
  override name = 'RegistryConnectionError';
  readonly method: string;
  readonly url: string;

  constructor(init: { method: string; url: string; reason: string; hint?: string }, options?: ErrorOptions) {
    const hint = init.hint ? `; ${init.hint}` : '';
    super('ERR_REGISTRY_CONNECTION', `${init.method} ${init.url} failed: ${init.reason}${hint}`, options);
    this.method = init.method;
    this.url = init.url;
  }
}

/** A registry asked for authentication in a way the client cannot meet. */
export class AuthenticationError extends OcidropError {
  override name = 'AuthenticationError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_AUTHENTICATION', message, options);
  }
}

/** A Docker `config.json` that cannot be read or parsed. */
export class CredentialsError extends OcidropError {
  override name = 'CredentialsError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_CREDENTIALS', message, options);
  }
}

/** A push input that cannot be published: a missing file, a bad `OS/ARCH=FILE` argument, a clash of titles. */
export class InvalidInputError extends OcidropError {
  override name = 'InvalidInputError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_INPUT', message, options);
  }
}

/**
 * A file title that would write outside the output folder or is not a plain file name: in an
 * artifact that is pulled, or, when `path` is given, of a local file that push or attach would publish.
 */
export class UnsafeTitleError extends OcidropError {
  override name = 'UnsafeTitleError';
  readonly title: string;
  /** The local file whose name the title is, when the title was rejected before an upload. */
  readonly path: string | undefined;
  constructor(title: string, reason: string, path?: string) {
    super(
      'ERR_UNSAFE_TITLE',
      path === undefined
        ? `unsafe file title ${JSON.stringify(title)} in the artifact: ${reason}; nothing was written`
        : `unsafe file title ${JSON.stringify(title)} of ${JSON.stringify(path)}: ${reason}, so pull and the download gateway would reject it; rename the file and run the command again (nothing was sent)`,
    );
    this.title = title;
    this.path = path;
  }
}

/** An artifact that has no build for the requested platform. */
export class PlatformNotFoundError extends OcidropError {
  override name = 'PlatformNotFoundError';
  readonly available: string[];
  constructor(reference: string, wanted: string, available: string[]) {
    const list = available.length > 0 ? available.join(', ') : 'none';
    super(
      'ERR_PLATFORM_NOT_FOUND',
      `${reference} has no build for ${wanted}; it has ${list}: pick one with --platform`,
    );
    this.available = available;
  }
}

/** A reference whose tag or digest the registry does not have; `cause` is the registry's 404. */
export class ArtifactNotFoundError extends OcidropError {
  override name = 'ArtifactNotFoundError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_ARTIFACT_NOT_FOUND', message, options);
  }
}

/** Content that is not a file artifact: a container image, or a manifest whose blobs carry no titles. */
export class NotAnArtifactError extends OcidropError {
  override name = 'NotAnArtifactError';
  constructor(message: string) {
    super('ERR_NOT_AN_ARTIFACT', message);
  }
}

function formatResponseMessage(init: {
  method: string;
  url: string;
  status: number;
  errors: RegistryErrorEntry[];
  hint?: string;
}): string {
  let message = `${init.method} ${init.url} returned ${init.status}`;
  const details = init.errors.map((entry) => `${entry.code}: ${entry.message}`).join('; ');
  if (details) message += ` (${details})`;
  if (init.hint) message += `; ${init.hint}`;
  return message;
}

/**
 * An entry of a directory archive that could write outside the output folder, or an archive over
 * the unpack limits. Nothing of the archive is left in the output folder.
 */
export class UnsafeArchiveError extends OcidropError {
  override name = 'UnsafeArchiveError';
  /** The entry's path as the archive names it. */
  readonly entry: string;
  constructor(entry: string, reason: string) {
    super(
      'ERR_UNSAFE_ARCHIVE',
      `unsafe archive entry ${JSON.stringify(entry)}: ${reason}; nothing was unpacked`,
    );
    this.entry = entry;
  }
}

/** A pull that would replace an existing file or folder without `overwrite`. */
export class OutputExistsError extends OcidropError {
  override name = 'OutputExistsError';
  /** The existing path. */
  readonly path: string;
  constructor(path: string) {
    super(
      'ERR_OUTPUT_EXISTS',
      `${path} already exists: move it away, or pull with --overwrite to replace it`,
    );
    this.path = path;
  }
}
