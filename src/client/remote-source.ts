/**
 * {@link ContentSource} over a remote registry, so that the download gateway can front any
 * registry the client reaches. Client errors become the `RegistryError` codes the interface promises.
 */
import type { BlobReader, ByteRange, ContentSource, FetchedManifest } from '../content/source.js';
import type { Digest } from '../oci/digest.js';
import { RegistryError, type RegistryErrorCode } from '../oci/errors.js';
import type { Descriptor } from '../oci/manifest.js';
import { RegistryResponseError } from './errors.js';
import type { RegistryClient } from './registry-client.js';

/** Read access to the repositories of one remote registry through a {@link RegistryClient}. */
export class RemoteSource implements ContentSource {
  constructor(private readonly client: RegistryClient) {}

  /** Lists repository names in lexical order (`GET /v2/_catalog`, which some registries do not offer). */
  async repositories(): Promise<string[]> {
    const names = await this.translate(() => this.client.catalog(), 'NAME_UNKNOWN');
    return names.sort(compare);
  }

  /** Lists the tags of a repository in lexical order. */
  async tags(repository: string): Promise<string[]> {
    const tags = await this.translate(() => this.client.tags(repository), 'NAME_UNKNOWN');
    return tags.sort(compare);
  }

  /** Fetches a manifest or index by tag or digest. */
  manifest(repository: string, reference: string): Promise<FetchedManifest> {
    return this.translate(() => this.client.getManifest(repository, reference), 'MANIFEST_UNKNOWN');
  }

  /** Opens a blob for streaming, optionally only a byte range of it. */
  blob(repository: string, digest: Digest, range?: ByteRange): Promise<BlobReader> {
    return this.translate(() => this.client.getBlob(repository, digest, range), 'BLOB_UNKNOWN');
  }

  /** Returns the storage URL the registry redirects the blob to, or undefined when it serves the blob itself. */
  blobUrl(repository: string, digest: Digest): Promise<string | undefined> {
    return this.translate(() => this.client.blobLocation(repository, digest), 'BLOB_UNKNOWN');
  }

  /**
   * Lists the referrers of a manifest through the referrers API, or through the fallback tag
   * `<alg>-<hex>` on a registry without it, such as CNCF Distribution 2.8.
   */
  referrers(repository: string, digest: Digest, artifactType?: string): Promise<Descriptor[]> {
    return this.translate(() => this.client.referrers(repository, digest, artifactType), 'NAME_UNKNOWN');
  }

  // Maps a 404 to the code the registry named (or `notFound`), and a 416 to RANGE_INVALID.
  private async translate<T>(action: () => Promise<T>, notFound: RegistryErrorCode): Promise<T> {
    try {
      return await action();
    } catch (error) {
      if (!(error instanceof RegistryResponseError)) throw error;
      if (error.status === 404) {
        const named = error.errors.find((entry) =>
          ['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN'].includes(entry.code),
        );
        const code = (named?.code ?? notFound) as RegistryErrorCode;
        throw new RegistryError(code, named?.message, undefined, { cause: error });
      }
      if (error.status === 416)
        throw new RegistryError('RANGE_INVALID', undefined, undefined, { cause: error });
      throw error;
    }
  }
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
