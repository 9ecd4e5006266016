/**
 * The shared blob folder of the filesystem store: `blobs/<algorithm>/<hex>`, each blob stored
 * once whatever the number of repositories that contain it.
 */
import { createReadStream } from 'node:fs';
import { type FileHandle, link, mkdir, open, rename, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { copyFileTo } from '../content/file-copy.js';
import { openWithLease } from '../content/read-budget.js';
import type { BlobReader, ByteRange } from '../content/source.js';
import { createDigester, type Digest, type DigestAlgorithm, parseDigest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import { syncDirectory, tempPathFor } from './atomic.js';
import { type BlobInfo, type BlobStore, checkRange, type ExpectedContent } from './blob-store.js';

/**
 * Size in bytes of the batched writes of blob files. A socket delivers 16 to 64 KiB at a time, so
 * batching to 1 MiB cuts the write calls and event-loop turns per byte about sixteenfold. It costs
 * up to 2 MiB of buffers per upload.
 */
export const BLOB_IO_SIZE = 1024 * 1024;

/** {@link BlobStore} over a folder holding `<algorithm>/<hex>` files. */
export class FsBlobStore implements BlobStore {
  /** The folder that contains one folder per digest algorithm. */
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  /** Returns the file path of `digest`, which is checked first so no path escapes the folder. */
  pathOf(digest: Digest): string {
    const { algorithm, encoded } = parseDigestOrThrow(digest);
    return join(this.root, algorithm, encoded);
  }

  async stat(digest: Digest): Promise<BlobInfo> {
    const path = this.pathOf(digest);
    try {
      const info = await stat(path);
      return { digest, size: info.size };
    } catch (error) {
      throw blobError(error, digest);
    }
  }

  async read(digest: Digest, range?: ByteRange): Promise<BlobReader> {
    return openBlobFile(this.pathOf(digest), digest, range);
  }

  async write(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    expected: ExpectedContent = {},
  ): Promise<BlobInfo> {
    const algorithm: DigestAlgorithm = expected.digest
      ? parseDigestOrThrow(expected.digest).algorithm
      : 'sha256';
    const folder = join(this.root, algorithm);
    await mkdir(folder, { recursive: true });
    const temp = tempPathFor(join(folder, 'upload'));
    const handle = await open(temp, 'wx', 0o644);
    const writer = new BatchedFileWriter(handle, 0);
    const digester = createDigester(algorithm);
    let digest: Digest;
    try {
      for await (const chunk of source) {
        digester.update(chunk);
        if (expected.size !== undefined && digester.size > expected.size) {
          throw new RegistryError(
            'SIZE_INVALID',
            `content is longer than the expected ${expected.size} bytes`,
            { expected: expected.size },
          );
        }
        await writer.write(chunk);
      }
      await writer.end();
      digest = digester.digest();
      checkContent({ digest, size: digester.size }, expected);
      await handle.sync();
    } catch (error) {
      await writer.settle();
      await handle.close();
      await unlink(temp).catch(() => {});
      throw error;
    }
    await handle.close();
    await this.adopt(temp, digest);
    return { digest, size: digester.size };
  }

  /**
   * Moves a complete, verified file into place as blob `digest`. The caller has flushed the file
   * and checked its digest; the file must be on the same file system.
   */
  async adopt(file: string, digest: Digest): Promise<void> {
    const path = this.pathOf(digest);
    await mkdir(join(path, '..'), { recursive: true });
    try {
      // A hard link, unlike a rename, never replaces an existing blob, so repositories that
      // already link to that file keep sharing it.
      await link(file, path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') {
        await unlink(file);
        return;
      }
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw error;
      await rename(file, path);
      await syncDirectory(join(path, '..'));
      return;
    }
    await unlink(file);
    await syncDirectory(join(path, '..'));
  }

  async delete(digest: Digest): Promise<void> {
    try {
      await unlink(this.pathOf(digest));
    } catch (error) {
      throw blobError(error, digest);
    }
  }

  /**
   * Marks a blob as just used, so that a garbage collection running at the same moment finds a
   * fresh blob and keeps it for its grace period.
   */
  async touch(digest: Digest): Promise<void> {
    const now = new Date();
    await utimes(this.pathOf(digest), now, now);
  }
}

/**
 * Compares content with what was expected.
 * @throws RegistryError `SIZE_INVALID` or `DIGEST_INVALID` naming both values.
 */
export function checkContent(actual: BlobInfo, expected: ExpectedContent): void {
  if (expected.size !== undefined && actual.size !== expected.size) {
    throw new RegistryError('SIZE_INVALID', `content is ${actual.size} bytes, expected ${expected.size}`, {
      expected: expected.size,
      actual: actual.size,
    });
  }
  if (expected.digest !== undefined && actual.digest !== expected.digest) {
    throw new RegistryError(
      'DIGEST_INVALID',
      `content has digest ${actual.digest}, expected ${expected.digest}`,
      {
        expected: expected.digest,
        actual: actual.digest,
      },
    );
  }
}

/**
 * Writes a stream of chunks to a file at increasing offsets in batches of about
 * {@link BLOB_IO_SIZE} bytes. One batch is written while the next one fills, so the source keeps
 * flowing during the write, and at most two batches are held in memory.
 */
export class BatchedFileWriter {
  private readonly handle: FileHandle;
  private position: number;
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private inFlight: Promise<void> = Promise.resolve();

  /** Writes to `handle` from byte `position` on. */
  constructor(handle: FileHandle, position: number) {
    this.handle = handle;
    this.position = position;
  }

  /** Queues a chunk. The returned promise waits for the previous batch when this chunk fills one. */
  async write(chunk: Uint8Array): Promise<void> {
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    if (this.buffered >= BLOB_IO_SIZE) await this.startBatch();
  }

  /** Writes what is queued and waits for every write. Throws the first write error. */
  async end(): Promise<void> {
    await this.startBatch();
    await this.inFlight;
  }

  /** Waits for the write in flight and ignores its error, for cleanup after a failure. */
  async settle(): Promise<void> {
    await this.inFlight.catch(() => {});
  }

  private async startBatch(): Promise<void> {
    await this.inFlight;
    if (this.buffered === 0) return;
    const batch = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    const position = this.position;
    this.position += this.buffered;
    this.chunks = [];
    this.buffered = 0;
    this.inFlight = writeFully(this.handle, batch, position);
    // The next call that waits for this write throws its error. This handler only keeps node from
    // reporting the rejection as unhandled in the meantime.
    this.inFlight.catch(() => {});
  }
}

/**
 * Opens a blob file and returns a reader over the whole file or `range`.
 *
 * The file is only checked here (it exists, and `range` fits its size), and no file handle stays
 * open, so a caller that uses neither `stream` nor `writeTo` leaks nothing. `stream` opens the file
 * and leases its read size on first access. `writeTo` opens the file for its own copy and never
 * creates `stream`, so a download leases from the read budget once.
 *
 * NOTE: the file is opened again by path when it is read, so a blob deleted in between fails as a
 * read error (`ENOENT`) of `stream` or `writeTo` rather than as `BLOB_UNKNOWN` from this function.
 */
export async function openBlobFile(path: string, digest: Digest, range?: ByteRange): Promise<BlobReader> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (error) {
    throw blobError(error, digest);
  }
  if (range) checkRange(range, size);

  const bytes = range ? range.end - range.start + 1 : size;
  let stream: Readable | undefined;
  const openStream = (): Readable => {
    // A read stream over zero bytes with start 0 and no end works; an explicit end would not.
    if (size === 0) return createReadStream(path);
    return openWithLease(bytes, (highWaterMark) =>
      createReadStream(
        path,
        range ? { start: range.start, end: range.end, highWaterMark } : { highWaterMark },
      ),
    );
  };
  const writeTo = async (destination: Writable): Promise<void> => {
    stream?.destroy();
    try {
      await copyFileTo(path, range?.start ?? 0, bytes, destination);
    } catch (error) {
      throw blobError(error, digest);
    }
  };
  // Every blob file was checked against its digest before it was moved into place, and its name
  // is that digest, so readers may skip hashing it again.
  const reader: BlobReader = {
    size,
    get stream(): Readable {
      stream ??= openStream();
      return stream;
    },
    verified: true,
    writeTo,
  };
  if (range) reader.range = range;
  return reader;
}

/** Parses a digest and turns a bad one into `DIGEST_INVALID`. */
export function parseDigestOrThrow(digest: string): ReturnType<typeof parseDigest> {
  try {
    return parseDigest(digest);
  } catch (error) {
    throw new RegistryError('DIGEST_INVALID', (error as Error).message, { digest }, { cause: error });
  }
}

// A write may store fewer bytes than asked (a full disk, a signal), so the rest is written again.
async function writeFully(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let offset = 0;
  while (offset < data.byteLength) {
    const { bytesWritten } = await handle.write(data, offset, data.byteLength - offset, position + offset);
    if (bytesWritten === 0)
      throw new Error(`write of ${data.byteLength - offset} bytes at ${position + offset} stored nothing`);
    offset += bytesWritten;
  }
}

function blobError(error: unknown, digest: Digest): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in the store`, { digest });
  }
  return error;
}
