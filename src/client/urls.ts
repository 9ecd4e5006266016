/**
 * `url`: the direct blob URL of each file of an artifact, `<scheme>://<registry>/v2/<repository>/blobs/<digest>`
 * ("Pulling blobs" in distribution-spec `spec.md`).
 */
import type { Digest } from '../oci/digest.js';
import { formatPlatform, type Platform } from '../oci/platform.js';
import type { Reference } from '../oci/reference.js';
import { type ConnectOptions, toReference, withClient } from './connect.js';
import { resolveManifests, titledBlobs } from './resolve.js';

/** Options of {@link blobUrls}. */
export interface BlobUrlOptions extends ConnectOptions {
  /** Only this platform's files. @default every platform's */
  platform?: Platform;
}

/** A file of an artifact and the URL that serves its bytes. */
export interface BlobUrl {
  /** The file's title. */
  name: string;
  /** `os/architecture` of the manifest that lists the file; null for an artifact without platform builds. */
  platform: string | null;
  digest: Digest;
  size: number;
  url: string;
}

/**
 * Lists the blob URL of every titled file of `reference`, per platform.
 * A reference without tag or digest means `latest`.
 *
 * NOTE: the URLs work without credentials only on a registry that allows anonymous pulls; others
 * return 401 and need a token first.
 * @throws PlatformNotFoundError when `platform` is set and the artifact has no build for it.
 */
export async function blobUrls(
  reference: string | Reference,
  options: BlobUrlOptions = {},
): Promise<BlobUrl[]> {
  const source = toReference(reference, 'latest');
  return withClient(source, options, async (client) => {
    const { manifests } = await resolveManifests(client, source, options.platform);
    const urls: BlobUrl[] = [];
    for (const resolved of manifests) {
      for (const { title, descriptor } of titledBlobs(source, resolved)) {
        urls.push({
          name: title,
          platform: resolved.platform === undefined ? null : formatPlatform(resolved.platform),
          digest: descriptor.digest,
          size: descriptor.size,
          url: client.blobUrl(source.repository, descriptor.digest),
        });
      }
    }
    return urls;
  });
}
