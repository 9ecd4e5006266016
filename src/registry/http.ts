/**
 * Small HTTP helpers of the registry: request headers parsed into values, bodies read with a
 * size cap, and the one function that writes the spec's JSON error body.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ByteRange } from '../content/source.js';
import { RegistryError, type RegistryErrorEntry } from '../oci/errors.js';

/** Header that every response carries, as registries implementing the Docker Registry HTTP API V2 send it. */
export const API_VERSION_HEADER = ['Docker-Distribution-API-Version', 'registry/2.0'] as const;

/** A `RegistryError` with an HTTP status other than the one the spec's table gives its code. */
export class RegistryStatusError extends RegistryError {
  override name = 'RegistryStatusError';
  override readonly status: number;

  constructor(
    status: number,
    code: ConstructorParameters<typeof RegistryError>[0],
    message: string,
    detail?: unknown,
  ) {
    super(code, message, detail);
    this.status = status;
  }
}

/** A 401 error with the `WWW-Authenticate` challenge that shows the client how to authenticate. */
export class ChallengeError extends RegistryError {
  override name = 'ChallengeError';
  readonly challenge: string;

  constructor(challenge: string, message?: string, detail?: unknown) {
    super('UNAUTHORIZED', message, detail);
    this.challenge = challenge;
  }
}

/**
 * Writes an error as the spec's JSON body (distribution-spec `spec.md`, "Error Codes").
 * Any error that is not a `RegistryError` becomes a 500 whose body hides its message, except a
 * full disk (`ENOSPC`, `EFBIG`), which becomes a 507 that says nothing was stored.
 * Headers set on `res` before the call, such as `Location` and `Range` of a 416, are kept.
 */
export function sendError(req: IncomingMessage, res: ServerResponse, error: unknown): number {
  const full = error instanceof RegistryError ? undefined : diskFullCode(error);
  let status = 500;
  let body: { errors: RegistryErrorEntry[] } = {
    errors: [{ code: 'UNKNOWN', message: 'internal server error' }],
  };
  if (error instanceof RegistryError) {
    status = error.status;
    body = error.toBody();
  } else if (full !== undefined) {
    // RFC 4918, section 11.5: 507 Insufficient Storage. The spec has no error code for it, so UNKNOWN.
    status = 507;
    body = {
      errors: [
        {
          code: 'UNKNOWN',
          message: "the registry's disk is full, so nothing was stored; retry once space is freed",
          detail: { reason: full },
        },
      ],
    };
  }
  if (res.headersSent) {
    // The status line is gone already, so the only signal left is a cut connection.
    res.destroy();
    return status;
  }
  if (error instanceof ChallengeError) res.setHeader('WWW-Authenticate', error.challenge);
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader(API_VERSION_HEADER[0], API_VERSION_HEADER[1]);
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(req.method === 'HEAD' ? undefined : text);
  return status;
}

/** Returns `ENOSPC` or `EFBIG` when the error, or an error in its `cause` chain, is one. */
function diskFullCode(error: unknown): 'ENOSPC' | 'EFBIG' | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EFBIG') return code;
    current = current.cause;
  }
  return undefined;
}

/**
 * Reads a whole request body into memory, for manifests only.
 * @throws RegistryStatusError 413 `MANIFEST_INVALID` once the body passes `limit` bytes.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = contentLength(req);
  if (declared !== undefined && declared > limit) {
    throw new RegistryStatusError(
      413,
      'MANIFEST_INVALID',
      `manifest is ${declared} bytes, more than the limit of ${limit}`,
      { limit },
    );
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > limit) {
      throw new RegistryStatusError(
        413,
        'MANIFEST_INVALID',
        `manifest is more than the limit of ${limit} bytes`,
        { limit },
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/**
 * Returns the request's `Content-Length`, or `undefined` when it has none (a streamed body).
 * @throws RegistryError `SIZE_INVALID` for a value that is not a number.
 */
export function contentLength(req: IncomingMessage): number | undefined {
  const value = req.headers['content-length'];
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value))
    throw new RegistryError('SIZE_INVALID', `invalid Content-Length ${JSON.stringify(value)}`);
  return Number(value);
}

/**
 * Parses the `Content-Range` of a chunk, `<start>-<end>` (inclusive), as the distribution spec
 * writes it. A `bytes ` or `bytes=` prefix and a `/<total>` suffix are accepted too.
 * @throws RegistryError `RANGE_INVALID` for another format.
 */
export function parseChunkRange(value: string | undefined): ByteRange | undefined {
  if (value === undefined) return undefined;
  const match = /^(?:bytes[ =])?(\d+)-(\d+)(?:\/(?:\d+|\*))?$/.exec(value.trim());
  if (!match) {
    throw new RegistryError(
      'RANGE_INVALID',
      `invalid Content-Range ${JSON.stringify(value)}: expected "<start>-<end>"`,
    );
  }
  const range = { start: Number(match[1]), end: Number(match[2]) };
  if (range.end < range.start) {
    throw new RegistryError(
      'RANGE_INVALID',
      `invalid Content-Range ${JSON.stringify(value)}: the end is before the start`,
    );
  }
  return range;
}

/** Formats the `Range` header of an upload session holding `size` bytes: `0-<last byte>`. */
export function uploadRange(size: number): string {
  return `0-${Math.max(0, size - 1)}`;
}
