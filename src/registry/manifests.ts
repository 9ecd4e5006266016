/**
 * Manifest endpoints (distribution-spec `spec.md`, "Pulling manifests", "Pushing Manifests",
 * "Deleting tags", "Deleting Manifests").
 */
import { isDigest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import { MAX_MANIFEST_SIZE } from '../oci/manifest.js';
import { MANIFEST_MEDIA_TYPES } from '../oci/media-types.js';
import { type RequestContext, sendBytes, sendEmpty } from './context.js';
import { readBody } from './http.js';

/**
 * `HEAD` and `GET /v2/<name>/manifests/<reference>`. The manifest is served as pushed, with its
 * media type as `Content-Type`. A client whose `Accept` lists manifest types but not that one
 * gets `404` `MANIFEST_UNKNOWN`, as Docker Hub does.
 */
export async function getManifest(ctx: RequestContext, name: string, reference: string): Promise<void> {
  const entry = await ctx.store.resolveManifest(name, reference);
  if (!accepts(ctx.req.headers.accept, entry.mediaType)) {
    throw new RegistryError(
      'MANIFEST_UNKNOWN',
      `manifest ${reference} is a ${entry.mediaType}, which the request's Accept header does not list`,
      {
        mediaType: entry.mediaType,
      },
    );
  }
  const headers = {
    'Content-Type': entry.mediaType,
    'Docker-Content-Digest': entry.digest,
    ETag: `"${entry.digest}"`,
  };
  if (ctx.req.method === 'HEAD') {
    sendEmpty(ctx, 200, { ...headers, 'Content-Length': entry.size });
    return;
  }
  const manifest = await ctx.store.manifest(name, entry.digest);
  sendBytes(ctx, 200, manifest.bytes, headers);
}

/**
 * `PUT /v2/<name>/manifests/<reference>`: `201` with `Location`, `Docker-Content-Digest` and,
 * for a manifest with a `subject`, `OCI-Subject`. A manifest over 4 MiB gets `413`.
 */
export async function putManifest(ctx: RequestContext, name: string, reference: string): Promise<void> {
  const bytes = await readBody(ctx.req, MAX_MANIFEST_SIZE);
  const stored = await ctx.store.putManifest(name, reference, bytes, ctx.req.headers['content-type']);
  const headers: Record<string, string> = {
    Location: `/v2/${name}/manifests/${stored.digest}`,
    'Docker-Content-Digest': stored.digest,
  };
  if (stored.subject !== undefined) headers['OCI-Subject'] = stored.subject;
  sendEmpty(ctx, 201, headers);
}

/** `DELETE /v2/<name>/manifests/<reference>`: by digest deletes the manifest, by tag only the tag; both `202`. */
export async function deleteManifest(ctx: RequestContext, name: string, reference: string): Promise<void> {
  ctx.req.resume();
  if (isDigest(reference)) await ctx.store.deleteManifest(name, reference);
  else await ctx.store.deleteTag(name, reference);
  sendEmpty(ctx, 202);
}

function accepts(header: string | undefined, mediaType: string): boolean {
  if (header === undefined) return true;
  const types = header
    .split(',')
    .map((part) => part.split(';')[0]?.trim().toLowerCase() ?? '')
    .filter((part) => part.length > 0);
  if (types.length === 0) return true;
  if (
    types.some(
      (type) =>
        type === mediaType || type === '*/*' || type === 'application/*' || type === 'application/json',
    )
  )
    return true;
  return !types.some((type) => MANIFEST_MEDIA_TYPES.includes(type));
}
