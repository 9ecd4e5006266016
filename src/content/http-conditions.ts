/**
 * Conditional and range requests for a stored representation whose entity tag is a digest, as
 * both the registry's blob endpoint and the gateway's downloads serve them: single byte ranges
 * and `If-Range` (RFC 9110 sections 14.2 and 13.1.5) and `If-None-Match` (section 13.1.2).
 */
import type { ByteRange } from './source.js';

/** The outcome of reading a `Range` header against a file size. */
export type RangeRequest =
  | { kind: 'full' }
  | { kind: 'partial'; range: ByteRange }
  | { kind: 'unsatisfiable' };

/**
 * Reads a `Range` header for a file of `size` bytes.
 *
 * Only one `bytes` range is served. A header with several ranges, another unit or bad syntax is
 * ignored and the whole file is sent, which RFC 9110 section 14.2 allows a server to do. A range
 * whose last position is before its first (`bytes=5-4`) is invalid syntax, so it is ignored too.
 * A valid range that starts at or past the end of the file is `unsatisfiable` (a 416).
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
 * `Last-Modified` date the server sends (RFC 9110 section 13.1.5 requires an exact match).
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

/** Formats a `Content-Range` header value for a partial response. */
export function contentRange(range: ByteRange, size: number): string {
  return `bytes ${range.start}-${range.end}/${size}`;
}

function stripWeak(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}
