/**
 * Error types of the OCI data model and the error codes of the OCI Distribution Specification.
 *
 * This module imports nothing of the project, so every other layer can use it.
 */

/** Base class of every error that ocidrop raises on purpose; `code` is stable and safe to match on. */
export class OcidropError extends Error {
  override name = 'OcidropError';
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** A string that should be a reference (`registry/repository:tag@digest`) but is not. */
export class InvalidReferenceError extends OcidropError {
  override name = 'InvalidReferenceError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_REFERENCE', message, options);
  }
}

/** A string that should be a digest (`algorithm:encoded`) but is not, or uses an unsupported algorithm. */
export class InvalidDigestError extends OcidropError {
  override name = 'InvalidDigestError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_DIGEST', message, options);
  }
}

/** A manifest, index or descriptor that does not follow the OCI image specification. */
export class InvalidManifestError extends OcidropError {
  override name = 'InvalidManifestError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_MANIFEST', message, options);
  }
}

/** A platform string that is not `os/architecture[/variant]`. */
export class InvalidPlatformError extends OcidropError {
  override name = 'InvalidPlatformError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_INVALID_PLATFORM', message, options);
  }
}

/** Content whose size or digest differs from what its descriptor promised. */
export class DigestMismatchError extends OcidropError {
  override name = 'DigestMismatchError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_DIGEST_MISMATCH', message, options);
  }
}

/**
 * Error codes of the OCI Distribution Specification with the HTTP status a registry answers with.
 * The first fourteen are the spec's table ("Error Codes", distribution-spec v1.1 `spec.md`);
 * the last three are codes CNCF Distribution sends that clients meet in practice.
 */
export const REGISTRY_ERROR_CODES = {
  BLOB_UNKNOWN: { status: 404, message: 'blob unknown to registry' },
  BLOB_UPLOAD_INVALID: { status: 400, message: 'blob upload invalid' },
  BLOB_UPLOAD_UNKNOWN: { status: 404, message: 'blob upload unknown to registry' },
  DIGEST_INVALID: { status: 400, message: 'provided digest did not match uploaded content' },
  MANIFEST_BLOB_UNKNOWN: {
    status: 404,
    message: 'manifest references a manifest or blob unknown to registry',
  },
  MANIFEST_INVALID: { status: 400, message: 'manifest invalid' },
  MANIFEST_UNKNOWN: { status: 404, message: 'manifest unknown to registry' },
  NAME_INVALID: { status: 400, message: 'invalid repository name' },
  NAME_UNKNOWN: { status: 404, message: 'repository name not known to registry' },
  SIZE_INVALID: { status: 400, message: 'provided length did not match content length' },
  UNAUTHORIZED: { status: 401, message: 'authentication required' },
  DENIED: { status: 403, message: 'requested access to the resource is denied' },
  UNSUPPORTED: { status: 405, message: 'the operation is unsupported' },
  TOOMANYREQUESTS: { status: 429, message: 'too many requests' },
  RANGE_INVALID: { status: 416, message: 'invalid content range' },
  TAG_INVALID: { status: 400, message: 'manifest tag did not match URI' },
  PAGINATION_NUMBER_INVALID: { status: 400, message: 'invalid number of results requested' },
} as const satisfies Record<string, { status: number; message: string }>;

/** One of the registry error codes above. */
export type RegistryErrorCode = keyof typeof REGISTRY_ERROR_CODES;

/** One entry of the `errors` array that a registry sends in an error body. */
export interface RegistryErrorEntry {
  code: string;
  message: string;
  detail?: unknown;
}

/**
 * An error that the registry server turns into the spec's JSON error body.
 * Storage and request parsing throw it; one place in the server writes it.
 */
export class RegistryError extends OcidropError {
  override name = 'RegistryError';
  readonly status: number;
  readonly detail: unknown;

  constructor(code: RegistryErrorCode, message?: string, detail?: unknown, options?: ErrorOptions) {
    super(code, message ?? REGISTRY_ERROR_CODES[code].message, options);
    this.status = REGISTRY_ERROR_CODES[code].status;
    this.detail = detail;
  }

  /** Returns the body that the spec requires: `{"errors":[{code, message, detail}]}`. */
  toBody(): { errors: RegistryErrorEntry[] } {
    const entry: RegistryErrorEntry = { code: this.code, message: this.message };
    if (this.detail !== undefined) entry.detail = this.detail;
    return { errors: [entry] };
  }
}
