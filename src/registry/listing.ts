/**
 * Listing endpoints: tags (distribution-spec `spec.md`, "Listing Tags"), the catalog
 * (`/v2/_catalog`, kept by registries from the Docker Registry HTTP API V2) and referrers
 * ("Listing Referrers").
 */
import type { Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import { OCI_INDEX } from '../oci/media-types.js';
import { parseDigestOrThrow } from '../storage/fs-blobs.js';
import { queryValue, type RequestContext, sendJson } from './context.js';

/** `GET /v2/<name>/tags/list` with `n`, `last` and a `Link` header to the next page. */
export async function listTags(ctx: RequestContext, name: string): Promise<void> {
  const tags = await ctx.store.tags(name);
  const page = paginate(ctx, tags, `/v2/${name}/tags/list`);
  sendJson(ctx, 200, { name, tags: page.items }, page.headers);
}

/** `GET /v2/_catalog` with `n`, `last` and a `Link` header to the next page. */
export async function listRepositories(
  ctx: RequestContext,
  visible: (name: string) => Promise<boolean>,
): Promise<void> {
  const names: string[] = [];
  for (const name of await ctx.store.repositories()) {
    if (await visible(name)) names.push(name);
  }
  const page = paginate(ctx, names, '/v2/_catalog');
  sendJson(ctx, 200, { repositories: page.items }, page.headers);
}

/**
 * `GET /v2/<name>/referrers/<digest>`: an image index of the manifests whose `subject` is
 * `digest`, filtered by `artifactType` when asked (and then saying so in `OCI-Filters-Applied`).
 * An unknown repository or digest has an empty list, not a 404.
 */
export async function listReferrers(ctx: RequestContext, name: string, digest: string): Promise<void> {
  parseDigestOrThrow(digest);
  const artifactType = queryValue(ctx, 'artifactType');
  const manifests = await ctx.store.referrers(name, digest as Digest, artifactType);
  const headers: Record<string, string> = { 'Content-Type': OCI_INDEX };
  if (artifactType !== undefined) headers['OCI-Filters-Applied'] = 'artifactType';
  sendJson(ctx, 200, { schemaVersion: 2, mediaType: OCI_INDEX, manifests }, headers);
}

function paginate(
  ctx: RequestContext,
  items: string[],
  path: string,
): { items: string[]; headers: Record<string, string> } {
  const last = queryValue(ctx, 'last');
  const nText = queryValue(ctx, 'n');
  let n: number | undefined;
  if (nText !== undefined) {
    if (!/^\d+$/.test(nText)) {
      throw new RegistryError(
        'PAGINATION_NUMBER_INVALID',
        `invalid n=${JSON.stringify(nText)}: use a non-negative integer`,
        { n: nText },
      );
    }
    n = Number(nText);
  }
  // `items` is sorted, so the page starts after the first entry greater than `last`.
  const start = last === undefined ? items : items.filter((item) => item > last);
  const page = n === undefined ? start : start.slice(0, n);
  const headers: Record<string, string> = {};
  const lastOfPage = page[page.length - 1];
  if (n !== undefined && n > 0 && start.length > page.length && lastOfPage !== undefined) {
    headers['Link'] = `<${path}?n=${n}&last=${encodeURIComponent(lastOfPage)}>; rel="next"`;
  }
  return { items: page, headers };
}
