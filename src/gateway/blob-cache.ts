/**
 * A size-bounded disk cache of blobs in front of a `ContentSource`, for a gateway that fronts a
 * remote registry. A whole-blob read that misses is streamed to the visitor and, at the same time,
 * to a temporary file, which becomes the cached copy only once its digest matches (written, fsynced,
 * renamed). Range reads that miss go to the source and are not cached. The least recently used
 * blobs are removed when the cache grows past its limit.
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline, Transform, type TransformCallback } from 'node:stream';
import { openWithLease } from '../content/read-budget.js';
import type { BlobReader, ByteRange, ContentSource, FetchedManifest } from '../content/source.js';
import { createDigester, type Digest, type Digester, parseDigest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';

/** Options of {@link DiskBlobCache}. */
export interface DiskBlobCacheOptions {
  /** Folder for the cached blobs; created when missing. Nothing else should write there. */
  dir: string;
  /** Upper bound on the bytes of cached blobs. A blob larger than this is never cached. */
  maxBytes: number;
}

/** A `ContentSource` whose blobs are cached on disk; manifests and listings pass through. */
export class DiskBlobCache implements ContentSource {
  private readonly source: ContentSource;
  private readonly dir: string;
  private readonly maxBytes: number;
  private sequence = 0;

  constructor(source: ContentSource, options: DiskBlobCacheOptions) {
    this.source = source;
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
  }

  repositories(): Promise<string[]> {
    return this.source.repositories();
  }

  tags(repository: string): Promise<string[]> {
    return this.source.tags(repository);
  }

  manifest(repository: string, reference: string): Promise<FetchedManifest> {
    return this.source.manifest(repository, reference);
  }

  /** Returns the storage URL of the wrapped source; redirected downloads bypass this cache. */
  async blobUrl(repository: string, digest: Digest): Promise<string | undefined> {
    return this.source.blobUrl?.(repository, digest);
  }

  /** Lists the referrers of the wrapped source; a source without referrers has none. */
  async referrers(repository: string, digest: Digest, artifactType?: string): Promise<Descriptor[]> {
    return (await this.source.referrers?.(repository, digest, artifactType)) ?? [];
  }

  /**
   * Opens a blob from the cache, or from the source while caching it.
   * `parseDigest` rejects anything but `algorithm:hex`, so the cache path built from the digest stays inside `dir`.
   */
  async blob(repository: string, digest: Digest, range?: ByteRange): Promise<BlobReader> {
    const { algorithm, encoded } = parseDigest(digest);
    const path = join(this.dir, algorithm, encoded);

    const cached = await stat(path).catch(() => undefined);
    if (cached?.isFile()) {
      if (range !== undefined && (range.start >= cached.size || range.end < range.start)) {
        return this.source.blob(repository, digest, range);
      }
      // The modification time records the last use, which eviction orders by.
      const now = new Date();
      await utimes(path, now, now).catch(() => undefined);
      if (range === undefined) {
        const stream = openWithLease(cached.size, (highWaterMark) =>
          createReadStream(path, { highWaterMark }),
        );
        return { size: cached.size, stream };
      }
      const end = Math.min(range.end, cached.size - 1);
      return {
        size: cached.size,
        stream: openWithLease(end - range.start + 1, (highWaterMark) =>
          createReadStream(path, { start: range.start, end, highWaterMark }),
        ),
        range: { start: range.start, end },
      };
    }

    const reader = await this.source.blob(repository, digest, range);
    if (range !== undefined || reader.size > this.maxBytes) return reader;

    await mkdir(join(this.dir, algorithm), { recursive: true });
    const temporary = join(this.dir, algorithm, `.tmp-${process.pid}-${++this.sequence}-${encoded}`);
    const recorder = new Recorder(createWriteStream(temporary), digest, reader.size, async (complete) => {
      if (!complete) {
        await rm(temporary, { force: true });
        return;
      }
      await rename(temporary, path);
      await this.evict();
    });
    // pipeline() destroys the source stream too when the visitor goes away and the recorder is destroyed.
    const stream = pipeline(reader.stream, recorder, () => undefined);
    return { size: reader.size, stream };
  }

  /**
   * Removes the least recently used blobs until the cache fits its limit.
   * NOTE: this lists the whole folder after every new blob, which suits thousands of blobs, not millions.
   */
  private async evict(): Promise<void> {
    const files: { path: string; size: number; used: number }[] = [];
    for (const algorithm of await readdir(this.dir)) {
      for (const name of await readdir(join(this.dir, algorithm)).catch(() => [] as string[])) {
        if (name.startsWith('.tmp-')) continue;
        const path = join(this.dir, algorithm, name);
        const info = await stat(path).catch(() => undefined);
        if (info?.isFile()) files.push({ path, size: info.size, used: info.mtimeMs });
      }
    }
    let total = files.reduce((sum, file) => sum + file.size, 0);
    files.sort((a, b) => a.used - b.used);
    for (const file of files) {
      if (total <= this.maxBytes) return;
      await rm(file.path, { force: true });
      total -= file.size;
    }
  }
}

/**
 * Passes a blob through to the reader while writing it to a file and hashing it. The file is fsynced
 * and handed to `done(true)` only when size and digest match; any failure hands it to `done(false)`.
 */
class Recorder extends Transform {
  private readonly file: WriteStream;
  private readonly digester: Digester;
  private readonly expected: Digest;
  private readonly size: number;
  private readonly done: (complete: boolean) => Promise<void>;
  private finished = false;

  constructor(file: WriteStream, expected: Digest, size: number, done: (complete: boolean) => Promise<void>) {
    super();
    this.file = file;
    this.expected = expected;
    this.size = size;
    this.done = done;
    this.digester = createDigester(parseDigest(expected).algorithm);
    this.file.on('error', () => this.abandon());
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.digester.update(chunk);
    if (this.file.destroyed) {
      callback(null, chunk);
      return;
    }
    // Waiting for the disk keeps memory bounded when the disk is slower than the visitor.
    this.file.write(chunk, () => callback(null, chunk));
  }

  override _flush(callback: TransformCallback): void {
    const matches = this.digester.size === this.size && this.digester.digest() === this.expected;
    if (!matches || this.file.destroyed) {
      this.abandon();
      callback();
      return;
    }
    // The stream ends only after the copy is on disk, because the stream's automatic destroy that follows
    // its end would otherwise abandon the copy first.
    this.file.end(() => {
      this.sync().then(
        () => {
          this.finish(true);
          callback();
        },
        () => {
          this.finish(false);
          callback();
        },
      );
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.abandon();
    callback(error);
  }

  private async sync(): Promise<void> {
    const handle = await open(this.file.path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  private abandon(): void {
    if (!this.file.destroyed) this.file.destroy();
    this.finish(false);
  }

  private finish(complete: boolean): void {
    if (this.finished) return;
    this.finished = true;
    // A cache failure must not break the download it rides along with, so errors end here.
    this.done(complete).catch(() => undefined);
  }
}
