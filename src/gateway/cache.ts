/**
 * A `ContentSource` wrapper that keeps manifests in memory: forever when addressed by digest, because
 * a digest names fixed content, and for a short time when addressed by tag, because tags move.
 * Repository and tag lists follow the tag lifetime. Blobs pass through uncached.
 */
import type { BlobReader, ByteRange, ContentSource, FetchedManifest } from '../content/source.js';
import { type Digest, isDigest } from '../oci/digest.js';

/** Options of {@link CachingSource}. */
export interface ManifestCacheOptions {
  /**
   * How long a tag's manifest, a tag list and the repository list stay cached, in milliseconds;
   * 0 reads them from the source on every request.
   * @default 0
   */
  tagTtlMs?: number;
  /**
   * Upper bound on the bytes of manifests kept, digest-addressed ones included; the least recently
   * used go first.
   * @default 16 MiB
   */
  maxBytes?: number;
}

interface Entry<T> {
  value: Promise<T>;
  expires: number;
  bytes: number;
}

/** Caches manifests and listings of another source; see the module comment for the rules. */
export class CachingSource implements ContentSource {
  private readonly source: ContentSource;
  private readonly tagTtlMs: number;
  private readonly maxBytes: number;
  private readonly entries = new Map<string, Entry<unknown>>();
  private bytes = 0;

  constructor(source: ContentSource, options: ManifestCacheOptions = {}) {
    this.source = source;
    this.tagTtlMs = options.tagTtlMs ?? 0;
    this.maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
  }

  repositories(): Promise<string[]> {
    return this.cached('repositories', this.tagTtlMs, () => this.source.repositories(), listBytes);
  }

  tags(repository: string): Promise<string[]> {
    return this.cached(`tags ${repository}`, this.tagTtlMs, () => this.source.tags(repository), listBytes);
  }

  manifest(repository: string, reference: string): Promise<FetchedManifest> {
    const ttl = isDigest(reference) ? Number.POSITIVE_INFINITY : this.tagTtlMs;
    return this.cached(
      `manifest ${repository} ${reference}`,
      ttl,
      () => this.source.manifest(repository, reference),
      (manifest) => manifest.bytes.length,
    );
  }

  blob(repository: string, digest: Digest, range?: ByteRange): Promise<BlobReader> {
    return this.source.blob(repository, digest, range);
  }

  private cached<T>(
    key: string,
    ttl: number,
    load: () => Promise<T>,
    sizeOf: (value: T) => number,
  ): Promise<T> {
    if (ttl <= 0) return load();
    const now = Date.now();
    const hit = this.entries.get(key) as Entry<T> | undefined;
    if (hit && hit.expires > now) {
      // Re-inserting moves the key to the end of the Map's order, which makes the Map an LRU list.
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit.value;
    }
    if (hit) this.remove(key);

    const entry: Entry<T> = { value: load(), expires: now + ttl, bytes: 0 };
    this.entries.set(key, entry);
    entry.value.then(
      (value) => {
        if (this.entries.get(key) !== entry) return;
        entry.bytes = sizeOf(value);
        this.bytes += entry.bytes;
        this.evict();
      },
      // A failure is not cached, so the next request reads from the source again.
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    return entry.value;
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.bytes -= entry.bytes;
    this.entries.delete(key);
  }

  private evict(): void {
    for (const key of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) return;
      this.remove(key);
    }
  }
}

function listBytes(list: string[]): number {
  return list.reduce((sum, item) => sum + item.length + 16, 0);
}
