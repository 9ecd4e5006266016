/**
 * Blob endpoints (distribution-spec `spec.md`, "Pulling blobs", "Pushing blobs",
 * "Mounting a blob from another repository", "Deleting Blobs").
 */
import { pipeline } from 'node:stream/promises';
import { endWritable } from '../content/file-copy.js';
import { contentRange, ifNoneMatchHolds, ifRangeHolds, parseRange } from '../content/http-conditions.js';
import { type Digest, isDigest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import { isRepositoryName } from '../oci/reference.js';
import { parseDigestOrThrow } from '../storage/fs-blobs.js';
import type { AccessScope } from './access.js';
import { discardBody, queryValue, type RequestContext, sendEmpty } from './context.js';
import { API_VERSION_HEADER, contentLength, parseChunkRange, uploadRange } from './http.js';

/** Checks a blob's access before a cross-repository mount reads the source repository. */
export type MountCheck = (scope: AccessScope) => Promise<boolean>;

/**
 * `HEAD` and `GET /v2/<name>/blobs/<digest>`, with conditional and range requests as RFC 9110
 * defines them for a blob whose entity tag is its digest: `If-None-Match` that matches gets `304`,
 * a single satisfiable `Range` gets `206` unless an `If-Range` with another entity tag is present,
 * and a valid range past the end gets `416` `RANGE_INVALID` with the blob's size in `Content-Range`.
 * A `Range` with invalid syntax, several ranges or another unit is ignored, and the whole blob is sent.
 */
export async function getBlob(ctx: RequestContext, name: string, digest: string): Promise<void> {
  const checked = toDigest(digest);
  const info = await ctx.store.statBlob(name, checked);
  const etag = `"${checked}"`;
  const headers: Record<string, string | number> = {
    'Content-Type': 'application/octet-stream',
    'Docker-Content-Digest': checked,
    'Accept-Ranges': 'bytes',
    ETag: etag,
    'Cache-Control': 'max-age=31536000',
  };
  const { req, res } = ctx;

  if (ifNoneMatchHolds(headerValue(req.headers['if-none-match']), etag)) {
    // RFC 9110 section 15.4.5: a 304 has no body and no Content-Length of its own.
    res.statusCode = 304;
    res.setHeader(API_VERSION_HEADER[0], API_VERSION_HEADER[1]);
    for (const [header, value] of Object.entries(headers)) res.setHeader(header, value);
    res.end();
    return;
  }

  // Blobs have no Last-Modified date, so only an entity tag can make If-Range hold.
  const rangeHeader = ifRangeHolds(headerValue(req.headers['if-range']), etag, undefined)
    ? headerValue(req.headers.range)
    : undefined;
  const request = parseRange(rangeHeader, info.size);
  if (request.kind === 'unsatisfiable') {
    // RFC 9110 section 15.5.17 requires a 416 to carry the size of the whole representation.
    res.setHeader('Content-Range', `bytes */${info.size}`);
    throw new RegistryError(
      'RANGE_INVALID',
      `range ${JSON.stringify(rangeHeader)} is outside the blob of ${info.size} bytes`,
      { size: info.size },
    );
  }
  const range = request.kind === 'partial' ? request.range : undefined;
  if (range) {
    headers['Content-Range'] = contentRange(range, info.size);
    headers['Content-Length'] = range.end - range.start + 1;
  } else {
    headers['Content-Length'] = info.size;
  }

  if (req.method === 'HEAD') {
    sendEmpty(ctx, range ? 206 : 200, headers);
    return;
  }
  const reader = await ctx.store.blob(name, checked, range);
  res.statusCode = range ? 206 : 200;
  res.setHeader(API_VERSION_HEADER[0], API_VERSION_HEADER[1]);
  for (const [header, value] of Object.entries(headers)) res.setHeader(header, value);
  if (reader.writeTo === undefined) {
    await pipeline(reader.stream, res);
    return;
  }
  await reader.writeTo(res);
  await endWritable(res);
}

/** `DELETE /v2/<name>/blobs/<digest>`: `202`, or `404` `BLOB_UNKNOWN`. */
export async function deleteBlob(ctx: RequestContext, name: string, digest: string): Promise<void> {
  await ctx.store.deleteBlob(name, toDigest(digest));
  sendEmpty(ctx, 202);
}

/**
 * `POST /v2/<name>/blobs/uploads/`: a monolithic upload with `?digest=`, a cross-repository mount
 * with `?mount=&from=`, a mount with `?mount=` alone from any repository the client may pull
 * (the spec's optional automatic content discovery), or a new upload session. A mount falls back
 * to an upload session when the blob is not found. `minChunkLength`, when given, is sent as
 * `OCI-Chunk-Min-Length` with a new session.
 */
export async function startUpload(
  ctx: RequestContext,
  name: string,
  canMountFrom: MountCheck,
  minChunkLength?: number,
): Promise<void> {
  const mount = queryValue(ctx, 'mount');
  const from = queryValue(ctx, 'from');
  const digest = queryValue(ctx, 'digest');

  if (mount !== undefined) {
    discardBody(ctx);
    const mounted =
      from === undefined
        ? await tryMountFromAny(ctx, name, mount, canMountFrom)
        : await tryMount(ctx, name, mount, from, canMountFrom);
    if (mounted) {
      sendEmpty(ctx, 201, { Location: blobLocation(name, mounted), 'Docker-Content-Digest': mounted });
      return;
    }
  } else if (digest !== undefined) {
    const checked = toDigest(digest);
    const length = contentLength(ctx.req);
    const info = await ctx.store.putBlob(
      name,
      ctx.req,
      length === undefined ? { digest: checked } : { digest: checked, size: length },
    );
    sendEmpty(ctx, 201, { Location: blobLocation(name, info.digest), 'Docker-Content-Digest': info.digest });
    return;
  } else {
    discardBody(ctx);
  }

  const session = await ctx.store.uploads.create(name);
  const headers = sessionHeaders(name, session.id, 0);
  if (minChunkLength !== undefined) headers['OCI-Chunk-Min-Length'] = String(minChunkLength);
  sendEmpty(ctx, 202, headers);
}

/** `GET /v2/<name>/blobs/uploads/<id>`: `204` with the session's `Range`. */
export async function getUpload(ctx: RequestContext, name: string, id: string): Promise<void> {
  const session = await ctx.store.uploads.status(name, id);
  sendEmpty(ctx, 204, sessionHeaders(name, id, session.size));
}

/**
 * `PATCH /v2/<name>/blobs/uploads/<id>`: appends a chunk, or a streamed body without
 * `Content-Length`. An out-of-order or repeated chunk gets `416` with the session's `Range`, and
 * the session stays usable.
 */
export async function patchUpload(ctx: RequestContext, name: string, id: string): Promise<void> {
  const position = await chunkPosition(ctx, name, id);
  try {
    const session = await ctx.store.uploads.append(name, id, ctx.req, position);
    sendEmpty(ctx, 202, sessionHeaders(name, id, session.size));
  } catch (error) {
    await addRangeHeaders(ctx, name, id, error);
    throw error;
  }
}

/** `PUT /v2/<name>/blobs/uploads/<id>?digest=`: appends a last chunk, if any, and completes the upload. */
export async function completeUpload(ctx: RequestContext, name: string, id: string): Promise<void> {
  const digest = queryValue(ctx, 'digest');
  if (digest === undefined) {
    discardBody(ctx);
    throw new RegistryError(
      'DIGEST_INVALID',
      'the digest query parameter is missing: completing an upload needs ?digest=<algorithm>:<hex>',
    );
  }
  const checked = toDigest(digest);
  const position = await chunkPosition(ctx, name, id);
  try {
    const info = await ctx.store.completeUpload(name, id, checked, ctx.req, position);
    sendEmpty(ctx, 201, { Location: blobLocation(name, info.digest), 'Docker-Content-Digest': info.digest });
  } catch (error) {
    await addRangeHeaders(ctx, name, id, error);
    throw error;
  }
}

/** `DELETE /v2/<name>/blobs/uploads/<id>`: cancels the session. */
export async function cancelUpload(ctx: RequestContext, name: string, id: string): Promise<void> {
  discardBody(ctx);
  await ctx.store.uploads.cancel(name, id);
  sendEmpty(ctx, 204);
}

/** Returns the path of a blob, used as a relative `Location`. */
export function blobLocation(name: string, digest: string): string {
  return `/v2/${name}/blobs/${digest}`;
}

async function tryMount(
  ctx: RequestContext,
  name: string,
  mount: string,
  from: string,
  canMountFrom: MountCheck,
): Promise<Digest | undefined> {
  // A mount with a malformed digest or source name falls back to an upload session, as the spec requires.
  if (!isDigest(mount) || !isRepositoryName(from)) return undefined;
  const digest = mount;
  let allowed = false;
  try {
    allowed = await canMountFrom({ type: 'repository', name: from, actions: ['pull'] });
  } catch {
    allowed = false;
  }
  if (!allowed) return undefined;
  const info = await ctx.store.mountBlob(name, digest, from);
  return info?.digest;
}

/**
 * Mounts a blob from the first repository, in name order, that contains it and that the client
 * may pull. Repositories the client may not pull are never revealed, because the answer for them
 * is the same 202 as for a blob that exists nowhere.
 *
 * NOTE: this stats the blob in every repository until one matches, so its cost grows with the
 * number of repositories; only blobs present in the shared store start the scan.
 */
async function tryMountFromAny(
  ctx: RequestContext,
  name: string,
  mount: string,
  canMountFrom: MountCheck,
): Promise<Digest | undefined> {
  if (!isDigest(mount)) return undefined;
  try {
    await ctx.store.blobs.stat(mount);
  } catch {
    return undefined;
  }
  for (const repository of await ctx.store.repositories()) {
    if (repository === name) continue;
    try {
      await ctx.store.statBlob(repository, mount);
    } catch {
      continue;
    }
    const mounted = await tryMount(ctx, name, mount, repository, canMountFrom);
    if (mounted) return mounted;
  }
  return undefined;
}

async function chunkPosition(
  ctx: RequestContext,
  name: string,
  id: string,
): Promise<{ start?: number; length?: number }> {
  let range: ReturnType<typeof parseChunkRange>;
  let length: number | undefined;
  try {
    range = parseChunkRange(ctx.req.headers['content-range']);
    length = contentLength(ctx.req);
    if (range && length !== undefined && length !== range.end - range.start + 1) {
      throw new RegistryError(
        'RANGE_INVALID',
        `Content-Range ${range.start}-${range.end} covers ${range.end - range.start + 1} bytes but Content-Length is ${length}`,
      );
    }
  } catch (error) {
    discardBody(ctx);
    await addRangeHeaders(ctx, name, id, error);
    throw error;
  }
  const position: { start?: number; length?: number } = {};
  if (range) position.start = range.start;
  if (length !== undefined) position.length = length;
  return position;
}

async function addRangeHeaders(ctx: RequestContext, name: string, id: string, error: unknown): Promise<void> {
  if (!(error instanceof RegistryError) || error.code !== 'RANGE_INVALID') return;
  try {
    const session = await ctx.store.uploads.status(name, id);
    for (const [header, value] of Object.entries(sessionHeaders(name, id, session.size)))
      ctx.res.setHeader(header, value);
  } catch {
    // The session is gone; the 416 goes out without its Range.
  }
}

function sessionHeaders(name: string, id: string, size: number): Record<string, string> {
  return {
    Location: `/v2/${name}/blobs/uploads/${id}`,
    Range: uploadRange(size),
    'Docker-Upload-UUID': id,
    'Blob-Upload-Session-ID': id,
  };
}

function toDigest(value: string): Digest {
  parseDigestOrThrow(value);
  return value as Digest;
}

// Node joins repeated headers with a comma, except a few that it keeps as arrays.
function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
