/**
 * One `ContentSource` over several: each public repository name maps to a repository of some
 * source (the embedded store or a remote registry), and an optional fallback source serves every
 * name that no mount claims. A name that is neither mounted nor served by the fallback does not
 * exist, whatever the sources hold, so the gateway never shows a repository the operator did not expose.
 */
import type { BlobReader, ByteRange, ContentSource, FetchedManifest } from '../content/source.js';
import type { Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import type { Descriptor } from '../oci/manifest.js';

/** A public repository name and where its content lives. */
export interface Mount {
  /** The name in gateway URLs. */
  name: string;
  source: ContentSource;
  /** The repository's name in `source`. */
  repository: string;
}

/** Maps public repository names to the sources and repositories behind them. */
export class MountedSource implements ContentSource {
  private readonly mounts: Map<string, Mount>;
  private readonly fallback: ContentSource | undefined;

  /** @param fallback serves, under their own names, the repositories that no mount names. */
  constructor(mounts: readonly Mount[], fallback?: ContentSource) {
    this.mounts = new Map(mounts.map((mount) => [mount.name, mount]));
    this.fallback = fallback;
  }

  /** Lists the mounted names and, when there is a fallback, its repositories, in lexical order. */
  async repositories(): Promise<string[]> {
    const names = new Set(this.mounts.keys());
    if (this.fallback) for (const name of await this.fallback.repositories()) names.add(name);
    return [...names].sort();
  }

  tags(repository: string): Promise<string[]> {
    const { source, name } = this.resolve(repository);
    return source.tags(name);
  }

  manifest(repository: string, reference: string): Promise<FetchedManifest> {
    const { source, name } = this.resolve(repository);
    return source.manifest(name, reference);
  }

  blob(repository: string, digest: Digest, range?: ByteRange): Promise<BlobReader> {
    const { source, name } = this.resolve(repository);
    return source.blob(name, digest, range);
  }

  async blobUrl(repository: string, digest: Digest): Promise<string | undefined> {
    const { source, name } = this.resolve(repository);
    return source.blobUrl?.(name, digest);
  }

  /** Lists the referrers of a digest in the source behind `repository`; a source without referrers has none. */
  async referrers(repository: string, digest: Digest, artifactType?: string): Promise<Descriptor[]> {
    const { source, name } = this.resolve(repository);
    return (await source.referrers?.(name, digest, artifactType)) ?? [];
  }

  private resolve(repository: string): { source: ContentSource; name: string } {
    const mount = this.mounts.get(repository);
    if (mount) return { source: mount.source, name: mount.repository };
    if (this.fallback) return { source: this.fallback, name: repository };
    throw new RegistryError('NAME_UNKNOWN', `repository ${repository} is not exposed by this gateway`, {
      name: repository,
    });
  }
}
