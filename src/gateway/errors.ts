/**
 * The one error type of the download gateway. Every failure a visitor can meet becomes a
 * `GatewayError` with an HTTP status and a stable code. The handler writes it in one place, as an HTML
 * page or a JSON body depending on the URL.
 */
import { OcidropError, RegistryError } from '../oci/errors.js';
import type { Platform } from '../oci/platform.js';

/** Stable codes of gateway errors with the HTTP status each one is sent with. */
export const GATEWAY_ERROR_CODES = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  LINK_EXPIRED: 403,
  LINK_INVALID: 403,
  NOT_AN_ARTIFACT: 404,
  NOT_FOUND: 404,
  REPOSITORY_NOT_FOUND: 404,
  VERSION_NOT_FOUND: 404,
  FILE_NOT_FOUND: 404,
  PLATFORM_NOT_AVAILABLE: 404,
  // The artifact names the file `../x`, `a/b` or similar: no download may carry that name.
  FILE_NAME_UNSAFE: 403,
  // Not 300 Multiple Choices: `curl -f` would save this error body as if it were the download.
  PLATFORM_UNKNOWN: 400,
  METHOD_NOT_ALLOWED: 405,
  RANGE_NOT_SATISFIABLE: 416,
  UPSTREAM_INVALID: 502,
  UPSTREAM_FAILED: 502,
  UPSTREAM_TIMEOUT: 504,
  INTERNAL: 500,
} as const satisfies Record<string, number>;

/** One of the codes above. */
export type GatewayErrorCode = keyof typeof GATEWAY_ERROR_CODES;

/** Facts that help a visitor recover, sent with the error (JSON) or listed on the error page (HTML). */
export interface GatewayErrorDetail {
  /** Platforms that the requested version does have builds for. */
  available?: Platform[];
  /** Versions of the repository, newest first. */
  versions?: string[];
  /** Files of the requested build. */
  files?: string[];
  /** The repository the request was about, for links on the error page. */
  repository?: string;
  /** The version the request was about. */
  version?: string;
}

/** A failure that the gateway reports itself, with a status, a stable code and a message for the visitor. */
export class GatewayError extends OcidropError {
  override name = 'GatewayError';
  readonly status: number;
  readonly detail: GatewayErrorDetail;
  /** Response headers the status needs, such as `Content-Range` on a 416 or `Allow` on a 405. */
  readonly headers: Record<string, string>;

  constructor(
    code: GatewayErrorCode,
    message: string,
    detail: GatewayErrorDetail = {},
    options?: ErrorOptions & { headers?: Record<string, string> },
  ) {
    super(code, message, options);
    this.status = GATEWAY_ERROR_CODES[code];
    this.detail = detail;
    this.headers = options?.headers ?? {};
  }
}

/**
 * Turns an error thrown while reading content into a `GatewayError`.
 *
 * A missing repository or tag is the visitor's 404. A missing blob, an invalid manifest or an
 * authentication failure means the upstream registry is broken or misconfigured, so the visitor gets
 * 502 and the operator gets the cause in the log. Anything else is a 500.
 */
export function toGatewayError(
  error: unknown,
  context: { repository?: string; version?: string } = {},
): GatewayError {
  if (error instanceof GatewayError) return error;

  const detail: GatewayErrorDetail = { ...context };
  if (error instanceof RegistryError) {
    switch (error.code) {
      case 'NAME_UNKNOWN':
      case 'NAME_INVALID':
        return new GatewayError(
          'REPOSITORY_NOT_FOUND',
          `repository ${quote(context.repository)} not found`,
          detail,
          { cause: error },
        );
      case 'MANIFEST_UNKNOWN':
      case 'TAG_INVALID':
        return new GatewayError(
          'VERSION_NOT_FOUND',
          `version ${quote(context.version)} of ${quote(context.repository)} not found`,
          detail,
          { cause: error },
        );
      case 'RANGE_INVALID':
        return new GatewayError('RANGE_NOT_SATISFIABLE', 'requested range is outside the file', detail, {
          cause: error,
        });
      default:
        return new GatewayError(
          'UPSTREAM_FAILED',
          `the registry failed with ${error.code}: ${error.message}`,
          detail,
          {
            cause: error,
          },
        );
    }
  }
  if (error instanceof OcidropError && error.code === 'ERR_INVALID_MANIFEST') {
    return new GatewayError(
      'UPSTREAM_INVALID',
      `the registry returned an invalid manifest: ${error.message}`,
      detail,
      {
        cause: error,
      },
    );
  }
  if (error instanceof OcidropError && error.code === 'ERR_REGISTRY_CONNECTION' && isTimeout(error)) {
    return new GatewayError(
      'UPSTREAM_TIMEOUT',
      'the registry behind this gateway did not respond in time; try again later',
      detail,
      { cause: error },
    );
  }
  if (error instanceof OcidropError && UPSTREAM_CODES.has(error.code)) {
    // The message can name the upstream URL, which is the operator's business: it goes to the log only.
    return new GatewayError(
      'UPSTREAM_FAILED',
      'the registry behind this gateway failed; try again later',
      detail,
      {
        cause: error,
      },
    );
  }
  return new GatewayError('INTERNAL', 'internal error while serving the request', detail, { cause: error });
}

// Codes of the registry client's errors for a registry that cannot be reached, rejects the
// gateway's credentials or responds outside the spec, and of a host the configuration does not name.
const UPSTREAM_CODES = new Set([
  'ERR_REGISTRY_RESPONSE',
  'ERR_REGISTRY_CONNECTION',
  'ERR_AUTHENTICATION',
  'ERR_CREDENTIALS',
  'ERR_HOST_NOT_ALLOWED',
]);

// undici's HeadersTimeoutError and BodyTimeoutError, found in the cause chain of a connection error.
function isTimeout(error: Error): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return true;
    current = current.cause;
  }
  return false;
}

function quote(value: string | undefined): string {
  return JSON.stringify(value ?? '');
}
