/**
 * Small helpers around undici responses: header access, capped body reads, and turning an
 * unexpected response into a {@link RegistryResponseError}.
 */
import type { Dispatcher } from 'undici';
import type { RegistryErrorEntry } from '../oci/errors.js';
import { RegistryResponseError } from './errors.js';

/** Error bodies are read up to this many bytes; the rest is discarded. */
export const MAX_ERROR_BODY = 64 * 1024;

/** Returns the first value of a response header, or undefined. */
export function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Reads a response body into memory, up to `limit` bytes.
 * Returns undefined, and closes the stream, when the body is longer.
 */
export async function readCapped(
  body: Dispatcher.ResponseData['body'],
  limit: number,
): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    length += (chunk as Buffer).byteLength;
    // Leaving the loop early destroys the stream, which is what an oversized body deserves.
    if (length > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks, length);
}

/**
 * Drops what is left of a response body so that the connection can be reused. Unlike `destroy()`,
 * `dump()` raises no abort error on a body that is never read.
 */
export async function discard(body: Dispatcher.ResponseData['body']): Promise<void> {
  try {
    await body.dump();
  } catch {
    // The connection is closed instead of reused, which costs nothing but a new handshake.
  }
}

/**
 * Builds the error for an unexpected response, reading at most {@link MAX_ERROR_BODY} bytes of the
 * body to parse the registry's `errors[]` ("Error Codes" in distribution-spec `spec.md`).
 */
export async function responseError(
  method: string,
  url: URL,
  response: Dispatcher.ResponseData,
  hint?: string,
): Promise<RegistryResponseError> {
  let errors: RegistryErrorEntry[] = [];
  try {
    const body = method === 'HEAD' ? undefined : await readCapped(response.body, MAX_ERROR_BODY);
    if (body !== undefined) errors = parseErrorBody(body);
  } catch {
    // The status alone is still worth reporting when the body breaks off.
  } finally {
    await discard(response.body);
  }
  const init = { method, url: redactUrl(url), status: response.statusCode, errors };
  return new RegistryResponseError(hint === undefined ? init : { ...init, hint });
}

/** Parses a body of the form `{"errors":[{"code","message","detail"}]}`; anything else gives an empty list. */
export function parseErrorBody(body: Buffer): RegistryErrorEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return [];
  }
  const errors = (parsed as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors)) return [];
  return errors
    .filter((entry): entry is Record<string, unknown> => typeof entry === 'object' && entry !== null)
    .map((entry) => {
      const result: RegistryErrorEntry = {
        code: String(entry['code'] ?? 'UNKNOWN'),
        message: String(entry['message'] ?? ''),
      };
      if (entry['detail'] !== undefined) result.detail = entry['detail'];
      return result;
    });
}

/**
 * Returns a URL fit for messages: origin and path only, because user info and query strings
 * (upload state, signed redirect parameters) can carry secrets.
 */
export function redactUrl(url: URL): string {
  return `${url.origin}${url.pathname}`;
}

/** Parses `Content-Range: bytes start-end/total`; undefined when the header is missing or malformed. */
export function parseContentRange(
  value: string | undefined,
): { start: number; end: number; total: number } | undefined {
  const match = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(value?.trim() ?? '');
  if (match === null) return undefined;
  return { start: Number(match[1]), end: Number(match[2]), total: Number(match[3]) };
}

/** Returns the `rel="next"` target of an RFC 8288 `Link` header, resolved against `base`. */
export function nextLink(value: string | undefined, base: URL): URL | undefined {
  if (value === undefined) return undefined;
  for (const part of value.split(',')) {
    const match = /^\s*<([^>]*)>(.*)$/.exec(part);
    if (match && /;\s*rel="?next"?/i.test(match[2] ?? '')) return new URL(match[1] ?? '', base);
  }
  return undefined;
}
