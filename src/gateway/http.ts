/**
 * HTTP details the gateway needs and Node.js does not provide: `Content-Disposition` with a UTF-8
 * file name (RFC 6266 with RFC 8187 `filename*`). Ranges and conditional requests, which the
 * registry handles the same way, are in `content/http-conditions.ts`.
 */

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
