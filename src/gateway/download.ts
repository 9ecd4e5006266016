/**
 * Sends one file of a release: streamed from the content source with bounded memory, with `ETag`
 * (the digest), `Range`/`If-Range`, `If-None-Match`, `HEAD` and `Content-Disposition`. A whole-file
 * response is checked against its digest while it streams, and the last chunk
 * is held back until the check passes, so a corrupt blob ends in a broken transfer instead of a
 * complete-looking wrong file. Blobs that the source verified when it stored them only get their
 * length checked, unless the caller sets `verifyStoredBlobs`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { endWritable } from '../content/file-copy.js';
import { contentRange, ifNoneMatchHolds, ifRangeHolds, parseRange } from '../content/http-conditions.js';
import type { ContentSource } from '../content/source.js';
import { createDigester, type Digest, type Digester, parseDigest } from '../oci/digest.js';
import { DigestMismatchError } from '../oci/errors.js';
import { GatewayError } from './errors.js';
import { contentDisposition } from './http.js';

/** How a file response may be cached and what it varies on. */
export interface FileResponseOptions {
  /** The `Cache-Control` value. */
  cacheControl: string;
  /** The request headers the response depends on, for `Vary`. */
  vary?: readonly string[];
  /** RFC 3339 date of the release, sent as `Last-Modified`. */
  created?: string | undefined;
  /** Extra headers, such as the platform that was served. */
  headers?: Record<string, string>;
  /**
   * Hash even a blob that the source checked when it stored it (`BlobReader.verified`, as the
   * embedded store's blobs are). Hashing catches a blob file changed on disk after it was stored,
   * but it caps each download at the speed of sha256 in node, about a third of what the socket
   * takes. Without it, such a blob only gets its length checked, as registries and file servers
   * do. Blobs from other sources are always hashed.
   * @default false
   */
  verifyStoredBlobs?: boolean;
}

/** A file to send: its name and the blob that contains it. */
export interface FileToSend {
  name: string;
  digest: Digest;
  size: number;
}

/**
 * Sends the response to a `GET` or `HEAD` for one file.
 *
 * @returns the bytes of file content sent: 0 for `HEAD` and `304`.
 * @throws GatewayError `RANGE_NOT_SATISFIABLE` before anything is sent. Errors from the source are thrown
 *   before the headers go out. Once streaming has started, a failure destroys the response and is rethrown.
 */
export async function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  source: ContentSource,
  repository: string,
  file: FileToSend,
  options: FileResponseOptions,
): Promise<number> {
  const etag = `"${file.digest}"`;
  const lastModified = httpDate(options.created);
  const headers: Record<string, string> = {
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': contentDisposition(file.name),
    'X-Content-Type-Options': 'nosniff',
    'Accept-Ranges': 'bytes',
    ETag: etag,
    'Cache-Control': options.cacheControl,
    ...options.headers,
  };
  if (lastModified) headers['Last-Modified'] = lastModified;
  if (options.vary && options.vary.length > 0) headers['Vary'] = options.vary.join(', ');

  if (ifNoneMatchHolds(header(req, 'if-none-match'), etag)) {
    res.writeHead(304, headers);
    res.end();
    return 0;
  }

  const rangeHeader = ifRangeHolds(header(req, 'if-range'), etag, lastModified)
    ? header(req, 'range')
    : undefined;
  const request = parseRange(rangeHeader, file.size);
  if (request.kind === 'unsatisfiable') {
    throw new GatewayError(
      'RANGE_NOT_SATISFIABLE',
      `range ${JSON.stringify(rangeHeader)} is outside ${file.name} (${file.size} bytes)`,
      {},
      { headers: { 'Content-Range': `bytes */${file.size}` } },
    );
  }

  if (req.method === 'HEAD') {
    if (request.kind === 'partial') {
      headers['Content-Range'] = contentRange(request.range, file.size);
      headers['Content-Length'] = String(request.range.end - request.range.start + 1);
      res.writeHead(206, headers);
    } else {
      headers['Content-Length'] = String(file.size);
      res.writeHead(200, headers);
    }
    res.end();
    return 0;
  }

  const reader = await source.blob(
    repository,
    file.digest,
    request.kind === 'partial' ? request.range : undefined,
  );
  if (reader.size !== file.size) {
    reader.stream.destroy();
    throw new DigestMismatchError(
      `size mismatch for blob ${file.digest} of ${repository}: the registry has ${reader.size} bytes, the manifest expects ${file.size}`,
    );
  }

  const served = request.kind === 'partial' ? reader.range : undefined;
  let hash = false;
  if (served !== undefined) {
    headers['Content-Range'] = contentRange(served, file.size);
    headers['Content-Length'] = String(served.end - served.start + 1);
    res.writeHead(206, headers);
  } else {
    headers['Content-Length'] = String(file.size);
    res.writeHead(200, headers);
    // A blob that the source checked against its digest when it stored it, and reads from a file
    // named by that digest (the embedded store), is not hashed again unless the caller wants to
    // catch changes on disk. Bytes from the network are always hashed as they pass.
    hash = reader.verified !== true || options.verifyStoredBlobs === true;
  }
  const length = Number(headers['Content-Length']);
  if (!hash && reader.writeTo !== undefined) {
    // The copy from a local file fails when the file is shorter, so it needs no length check.
    await reader.writeTo(res);
    await endWritable(res);
    return length;
  }
  const check = hash ? new DigestCheck(file.digest, file.size) : new LengthCheck(length, file.digest);
  // The check holds back the last chunk, which for a file of one read is all of it: the headers go
  // now, so a failed check always shows as a cut transfer after its status, whatever the file's size.
  res.flushHeaders();
  await pipeline(reader.stream, check, res);
  return length;
}

/** Passes bytes through, hashing them, and releases the last chunk only when size and digest match. */
class DigestCheck extends Transform {
  private readonly digester: Digester;
  private readonly expected: Digest;
  private readonly size: number;
  private pending: Buffer | undefined;

  constructor(expected: Digest, size: number) {
    super();
    this.expected = expected;
    this.size = size;
    this.digester = createDigester(parseDigest(expected).algorithm);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.digester.update(chunk);
    const previous = this.pending;
    this.pending = chunk;
    callback(null, previous);
  }

  override _flush(callback: TransformCallback): void {
    const actual = this.digester.digest();
    if (this.digester.size !== this.size || actual !== this.expected) {
      callback(
        new DigestMismatchError(
          `digest mismatch for blob ${this.expected}: received ${this.digester.size} bytes with digest ${actual}`,
        ),
      );
      return;
    }
    callback(null, this.pending);
  }
}

/** Passes bytes through and fails when the count differs from the requested range or file size. */
class LengthCheck extends Transform {
  private readonly expected: number;
  private readonly digest: Digest;
  private seen = 0;

  constructor(expected: number, digest: Digest) {
    super();
    this.expected = expected;
    this.digest = digest;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.byteLength;
    if (this.seen > this.expected) {
      callback(
        new DigestMismatchError(`blob ${this.digest} sent more than the ${this.expected} bytes expected`),
      );
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.seen !== this.expected) {
      callback(
        new DigestMismatchError(`blob ${this.digest} ended after ${this.seen} of ${this.expected} bytes`),
      );
      return;
    }
    callback();
  }
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function httpDate(created: string | undefined): string | undefined {
  if (created === undefined) return undefined;
  const time = Date.parse(created);
  return Number.isNaN(time) ? undefined : new Date(time).toUTCString();
}
