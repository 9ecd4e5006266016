/**
 * The endpoints of the OCI Distribution Specification (`spec.md`, "Endpoints") matched against a
 * request path. Repository names contain slashes, so each pattern anchors on the fixed part that
 * follows the name, and the more specific upload patterns are tried before the blob pattern.
 */
import { RegistryError } from '../oci/errors.js';

/** A matched endpoint with its decoded path parameters. */
export type Route =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'tags'; name: string }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'uploads'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'referrers'; name: string; digest: string };

const PATTERNS: [Route['kind'], RegExp][] = [
  ['catalog', /^\/v2\/_catalog$/],
  ['tags', /^\/v2\/(.+)\/tags\/list$/],
  ['manifest', /^\/v2\/(.+)\/manifests\/([^/]+)$/],
  ['uploads', /^\/v2\/(.+)\/blobs\/uploads\/?$/],
  ['upload', /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/],
  ['blob', /^\/v2\/(.+)\/blobs\/([^/]+)$/],
  ['referrers', /^\/v2\/(.+)\/referrers\/([^/]+)$/],
];

/**
 * Matches a path under `/v2`. Returns `undefined` for a path that is no endpoint.
 * @throws RegistryError `NAME_INVALID` for a path whose percent-encoding is broken.
 */
export function matchRoute(path: string): Route | undefined {
  if (path === '/v2' || path === '/v2/') return { kind: 'base' };
  for (const [kind, pattern] of PATTERNS) {
    const match = pattern.exec(path);
    if (!match) continue;
    const name = decode(match[1] ?? '');
    const second = decode(match[2] ?? '');
    switch (kind) {
      case 'catalog':
        return { kind };
      case 'tags':
      case 'uploads':
        return { kind, name };
      case 'manifest':
        return { kind, name, reference: second };
      case 'upload':
        return { kind, name, id: second };
      case 'blob':
      case 'referrers':
        return { kind, name, digest: second };
      default:
        return undefined;
    }
  }
  return undefined;
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new RegistryError(
      'NAME_INVALID',
      `invalid percent-encoding in request path ${JSON.stringify(part)}`,
    );
  }
}
