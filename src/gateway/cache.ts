/**
 * A `ContentSource` wrapper that keeps manifests in memory: forever when addressed by digest, because
 * a digest names fixed content, and for a short time when addressed by tag, because tags move.
 * Repository and tag lists follow the tag lifetime. Blobs pass through uncached.
 *
 * An expired entry is kept while it is refreshed. When the refresh fails because the source is
 * unavailable (a connection error, a timeout or a 5xx), the stale value is served instead
 * (stale-if-error, RFC 5861), for at most `staleIfErrorMs` after it was last loaded.
 */
import type { BlobReader, ByteRange, ContentSource, FetchedManifest } from '../content/source.js';
import { type Digest, isDigest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';

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
  /**
   * How long after its last successful load an expired entry may still be served while the source
   * is unavailable, in milliseconds; 0 never serves a stale entry.
   * @default 24 hours
   */
  staleIfErrorMs?: number;
  /** Called when a stale entry is served because its refresh failed, with the cache key and the error. */
  onStaleServed?: (key: string, error: unknown) => void;
}

/** Default of {@link ManifestCacheOptions.staleIfErrorMs}: 24 hours. */
export const DEFAULT_STALE_IF_ERROR_MS = 24 * 60 * 60 * 1000;

interface Entry<T> {
  value: Promise<T>;
  expires: number;
  bytes: number;
  /** True once `value` has resolved, so that it can be served stale. */
  settled: boolean;
  /** When the value was last loaded from the source, which bounds how long it is served stale. */
  loadedAt: number;
}

/** Caches manifests and listings of another source; see the module comment for the rules. */
export class CachingSource implements ContentSource {
  private readonly source: ContentSource;
  private readonly tagTtlMs: number;
  private readonly maxBytes: number;
  private readonly staleIfErrorMs: number;
  private readonly onStaleServed: ((key: string, error: unknown) => void) | undefined;
  private readonly entries = new Map<string, Entry<unknown>>();
  private bytes = 0;

  constructor(source: ContentSource, options: ManifestCacheOptions = {}) {
    this.source = source;
    this.tagTtlMs = options.tagTtlMs ?? 0;
    this.maxBytes = options.maxBytes ?? 16 * 1024 * 1024;
    this.staleIfErrorMs = options.staleIfErrorMs ?? DEFAULT_STALE_IF_ERROR_MS;
    this.onStaleServed = options.onStaleServed;
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

  /** Returns the storage URL of the wrapped source, which is never cached because presigned URLs expire. */
  async blobUrl(repository: string, digest: Digest): Promise<string | undefined> {
    return this.source.blobUrl?.(repository, digest);
  }

  /**
   * Lists the referrers of a digest, cached for the tag lifetime rather than forever, because
   * attaching an artifact adds to the list of a digest. A source without referrers has none.
   */
  async referrers(repository: string, digest: Digest, artifactType?: string): Promise<Descriptor[]> {
    const source = this.source;
    if (source.referrers === undefined) return [];
    return this.cached(
      `referrers ${repository} ${digest} ${artifactType ?? ''}`,
      this.tagTtlMs,
      () => source.referrers!(repository, digest, artifactType),
      (list) => JSON.stringify(list).length,
    );
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
    const stale = hit?.settled ? hit : undefined;
    if (hit) this.remove(key);

    let servedStale = false;
    const loaded = load();
    const value =
      stale === undefined
        ? loaded
        : loaded.catch((error: unknown) => {
            if (!isUnavailable(error) || now - stale.loadedAt > ttl + this.staleIfErrorMs) throw error;
            servedStale = true;
            this.onStaleServed?.(key, error);
            return stale.value;
          });
    const entry: Entry<T> = { value, expires: now + ttl, bytes: 0, settled: false, loadedAt: now };
    this.entries.set(key, entry);
    entry.value.then(
      (value) => {
        if (this.entries.get(key) !== entry) return;
        entry.settled = true;
        // A stale value keeps its load time, so the bound counts from the last real load. It is
        // served for one more lifetime before the next refresh is tried.
        if (servedStale && stale !== undefined) entry.loadedAt = stale.loadedAt;
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

// A source that cannot be reached, timed out or failed with a 5xx. A 4xx, such as a deleted tag's
// 404, is an answer and is never covered up with a stale entry. Read by code and status, so that
// this module needs no import of the registry client.
function isUnavailable(error: unknown): boolean {
  const { code, status } = (error ?? {}) as { code?: unknown; status?: unknown };
  if (code === 'ERR_REGISTRY_CONNECTION') return true;
  return code === 'ERR_REGISTRY_RESPONSE' && typeof status === 'number' && status >= 500;
}

function listBytes(list: string[]): number {
  return list.reduce((sum, item) => sum + item.length + 16, 0);
}
