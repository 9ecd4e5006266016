/**
 * HTTP details the gateway needs and Node.js does not provide: single byte ranges and `If-Range`
 * (RFC 9110 sections 14.2 and 13.1.5), `If-None-Match` with strong entity tags, and
 * `Content-Disposition` with a UTF-8 file name (RFC 6266 with RFC 8187 `filename*`).
 */
import type { ByteRange } from '../content/source.js';

/** The outcome of reading a `Range` header against a file size. */
export type RangeRequest =
  | { kind: 'full' }
  | { kind: 'partial'; range: ByteRange }
  | { kind: 'unsatisfiable' };

/**
 * Reads a `Range` header for a file of `size` bytes.
 *
 * Only one `bytes` range is served. A header with several ranges, another unit or bad syntax is
 * ignored and the whole file is sent, which RFC 9110 section 14.2 allows a server to do.
 */
export function parseRange(header: string | undefined, size: number): RangeRequest {
  if (header === undefined) return { kind: 'full' };
  const match = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!match) return { kind: 'full' };
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return { kind: 'full' };

  if (first === '') {
    // A suffix range: the last N bytes.
    const length = Number(last);
    if (length === 0 || size === 0) return { kind: 'unsatisfiable' };
    return { kind: 'partial', range: { start: Math.max(0, size - length), end: size - 1 } };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (!Number.isSafeInteger(start) || start >= size) return { kind: 'unsatisfiable' };
  if (end < start) return { kind: 'full' };
  return { kind: 'partial', range: { start, end } };
}

/**
 * Tells whether an `If-Range` precondition holds, so that a `Range` header may be honoured.
 * It holds when absent, when it is the current strong entity tag, or when it is the exact
 * `Last-Modified` date the gateway sends (RFC 9110 section 13.1.5 requires an exact match).
 */
export function ifRangeHolds(
  header: string | undefined,
  etag: string,
  lastModified: string | undefined,
): boolean {
  if (header === undefined) return true;
  const value = header.trim();
  if (value.startsWith('"') || value.startsWith('W/')) return value === etag;
  return lastModified !== undefined && value === lastModified;
}

/** Tells whether an `If-None-Match` header matches `etag` (weak comparison, RFC 9110 section 13.1.2). */
export function ifNoneMatchHolds(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  const wanted = stripWeak(etag);
  return header.split(',').some((part) => {
    const candidate = part.trim();
    return candidate === '*' || stripWeak(candidate) === wanted;
  });
}

/**
 * Builds `Content-Disposition: attachment` for a file name from an artifact.
 *
 * The `filename` parameter gets an ASCII copy in which `_` replaces `"`, `\`, `%`, `/` and every
 * character outside printable ASCII. The `filename*` parameter carries the exact name percent-encoded
 * as UTF-8. Neither can contain CR, LF or a quote, so no file name can end the header or add another.
 */
export function contentDisposition(fileName: string): string {
  const fallback = fileName.replace(/[^\x20-\x7e]|["\\%/]/g, '_') || 'download';
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeRfc8187(fileName)}`;
}

/** Percent-encodes a value as an RFC 8187 `value-chars`: everything but `attr-char` is encoded. */
export function encodeRfc8187(value: string): string {
  return encodeURIComponent(value).replace(
    /['()*]/g,
    (char) => `%${char.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Formats a `Content-Range` header value for a partial response. */
export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`;
}

function stripWeak(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}
