/**
 * Upload sessions of the filesystem store (distribution-spec `spec.md`, "Pushing blobs"):
 * `uploads/<id>/data` contains the bytes received so far and `uploads/<id>/session.json` the
 * repository the session belongs to. A session becomes a blob only when it is completed with a
 * digest that matches its data.
 */
import { createHash, type Hash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import { writeFileAtomic } from './atomic.js';
import type { BlobInfo } from './blob-store.js';
import {
  BatchedFileWriter,
  BLOB_IO_SIZE,
  checkContent,
  type FsBlobStore,
  parseDigestOrThrow,
} from './fs-blobs.js';
import { checkRepositoryName, checkUploadId, type StoreLayout } from './layout.js';
import { KeyedMutex } from './mutex.js';

/** How long an upload session lives after its last write, unless the store is opened with another value. */
export const DEFAULT_UPLOAD_TTL_MS = 60 * 60 * 1000;

/** Number of upload sessions whose running hash is kept in memory. */
const RUNNING_HASH_LIMIT = 1024;

/** The state of an upload session. */
export interface UploadStatus {
  id: string;
  repository: string;
  /** Bytes received so far; the next chunk must start at this offset. */
  size: number;
}

/** Start offset and length that a chunk declares in `Content-Range` and `Content-Length`. */
export interface ChunkPosition {
  start?: number;
  length?: number;
}

interface SessionFile {
  repository: string;
  created: string;
}

/** Upload sessions stored on disk. */
export class FsUploads {
  private readonly layout: StoreLayout;
  private readonly blobs: FsBlobStore;
  private readonly ttlMs: number;
  private readonly mutex = new KeyedMutex();
  /** Running sha256 of each session written by this process, so completing it needs no second read. */
  private readonly hashes = new Map<string, { hash: Hash; size: number }>();

  constructor(layout: StoreLayout, blobs: FsBlobStore, ttlMs = DEFAULT_UPLOAD_TTL_MS) {
    this.layout = layout;
    this.blobs = blobs;
    this.ttlMs = ttlMs;
  }

  /** Starts an upload session for `repository` and returns its id. */
  async create(repository: string): Promise<UploadStatus> {
    checkRepositoryName(repository);
    const id = randomUUID();
    const folder = this.layout.upload(id);
    await mkdir(folder, { recursive: true });
    await (await open(join(folder, 'data'), 'wx', 0o644)).close();
    const session: SessionFile = { repository, created: new Date().toISOString() };
    await writeFileAtomic(join(folder, 'session.json'), JSON.stringify(session));
    if (this.hashes.size >= RUNNING_HASH_LIMIT) {
      // Drop the oldest running hash. Sessions abandoned by their clients would otherwise pile up,
      // and a session without one is hashed from its file when it completes.
      const oldest = this.hashes.keys().next().value;
      if (oldest !== undefined) this.hashes.delete(oldest);
    }
    this.hashes.set(id, { hash: createHash('sha256'), size: 0 });
    return { id, repository, size: 0 };
  }

  /**
   * Returns the state of a session.
   * @throws RegistryError `BLOB_UPLOAD_UNKNOWN` for an unknown, expired or other repository's session.
   */
  async status(repository: string, id: string): Promise<UploadStatus> {
    checkRepositoryName(repository);
    checkUploadId(id);
    // Read without the session lock so a status request is not held up by a chunk in flight.
    return this.load(repository, id);
  }

  /**
   * Appends a chunk to a session. The chunk must start where the data so far ends.
   * @throws RegistryError `RANGE_INVALID` for a chunk out of order or repeated (the session stays
   *   usable), `SIZE_INVALID` when the body's length differs from `Content-Length`.
   */
  async append(
    repository: string,
    id: string,
    source: AsyncIterable<Uint8Array>,
    position: ChunkPosition = {},
  ): Promise<UploadStatus> {
    checkRepositoryName(repository);
    checkUploadId(id);
    return this.mutex.run(id, async () => {
      const session = await this.load(repository, id);
      await this.appendLocked(session, source, position);
      return this.load(repository, id);
    });
  }

  /**
   * Appends a last chunk, if any, checks the whole content against `digest` and stores it as a blob.
   * The session is removed whether the digest matched or not, because its data is then unusable.
   */
  async complete(
    repository: string,
    id: string,
    digest: Digest,
    source?: AsyncIterable<Uint8Array>,
    position: ChunkPosition = {},
  ): Promise<BlobInfo> {
    checkRepositoryName(repository);
    checkUploadId(id);
    const { algorithm } = parseDigestOrThrow(digest);
    return this.mutex.run(id, async () => {
      const session = await this.load(repository, id);
      if (source) await this.appendLocked(session, source, position);
      const folder = this.layout.upload(id);
      const data = join(folder, 'data');
      const { size } = await stat(data);
      let actual: Digest;
      const running = this.hashes.get(id);
      if (algorithm === 'sha256' && running && running.size === size) {
        actual = `sha256:${running.hash.digest('hex')}` as Digest;
      } else {
        actual = await hashFile(data, algorithm);
      }
      this.hashes.delete(id);
      try {
        checkContent({ digest: actual, size }, { digest });
        const handle = await open(data, 'r+');
        await handle.sync();
        await handle.close();
        await this.blobs.adopt(data, actual);
      } finally {
        await rm(folder, { recursive: true, force: true });
      }
      return { digest: actual, size };
    });
  }

  /** Cancels a session and removes its data. */
  async cancel(repository: string, id: string): Promise<void> {
    checkRepositoryName(repository);
    checkUploadId(id);
    await this.mutex.run(id, async () => {
      await this.load(repository, id);
      this.hashes.delete(id);
      await rm(this.layout.upload(id), { recursive: true, force: true });
    });
  }

  /** Lists the ids of sessions whose last write is older than `ageMs`, including broken ones. */
  async listStale(ageMs: number, now = Date.now()): Promise<string[]> {
    let ids: string[];
    try {
      ids = await readdir(this.layout.uploads);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const stale: string[] = [];
    for (const id of ids) {
      const modified = await lastWrite(this.layout.upload(id));
      if (modified === undefined || now - modified > ageMs) stale.push(id);
    }
    return stale;
  }

  /** Removes a session folder without checks, for garbage collection. */
  async remove(id: string): Promise<void> {
    this.hashes.delete(id);
    await rm(this.layout.upload(id), { recursive: true, force: true });
  }

  private async load(repository: string, id: string): Promise<UploadStatus> {
    const folder = this.layout.upload(id);
    const unknown = new RegistryError(
      'BLOB_UPLOAD_UNKNOWN',
      `upload session ${id} is unknown or has expired`,
      { id },
    );
    let session: SessionFile;
    let size: number;
    let modified: number;
    try {
      session = JSON.parse(await readFile(join(folder, 'session.json'), 'utf8')) as SessionFile;
      const info = await stat(join(folder, 'data'));
      size = info.size;
      modified = info.mtimeMs;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw unknown;
      throw error;
    }
    if (session.repository !== repository) throw unknown;
    if (Date.now() - modified > this.ttlMs) {
      await this.remove(id);
      throw unknown;
    }
    return { id, repository, size };
  }

  private async appendLocked(
    session: UploadStatus,
    source: AsyncIterable<Uint8Array>,
    position: ChunkPosition,
  ): Promise<void> {
    if (position.start !== undefined && position.start !== session.size) {
      throw new RegistryError(
        'RANGE_INVALID',
        `chunk starts at byte ${position.start} but the upload session has ${session.size} bytes: send the chunk that starts at ${session.size}`,
        { expectedStart: session.size, start: position.start },
      );
    }
    const data = join(this.layout.upload(session.id), 'data');
    const running = this.hashes.get(session.id);
    const hash = running && running.size === session.size ? running.hash : undefined;
    const handle = await open(data, 'r+');
    const writer = new BatchedFileWriter(handle, session.size);
    let written = 0;
    try {
      for await (const chunk of source) {
        if (position.length !== undefined && written + chunk.byteLength > position.length) {
          throw new RegistryError(
            'SIZE_INVALID',
            `chunk is longer than its Content-Length of ${position.length} bytes`,
          );
        }
        hash?.update(chunk);
        written += chunk.byteLength;
        await writer.write(chunk);
      }
      await writer.end();
      if (position.length !== undefined && written !== position.length) {
        throw new RegistryError(
          'SIZE_INVALID',
          `chunk is ${written} bytes but its Content-Length is ${position.length}`,
        );
      }
    } catch (error) {
      // Drop the partial chunk so the session can go on from where it was.
      await writer.settle();
      await handle.truncate(session.size).catch(() => {});
      this.hashes.delete(session.id);
      await handle.close();
      throw error;
    }
    await handle.close();
    if (hash) this.hashes.set(session.id, { hash, size: session.size + written });
  }
}

async function hashFile(path: string, algorithm: string): Promise<Digest> {
  const hash = createHash(algorithm);
  for await (const chunk of createReadStream(path, { highWaterMark: BLOB_IO_SIZE }))
    hash.update(chunk as Buffer);
  return `${algorithm}:${hash.digest('hex')}` as Digest;
}

async function lastWrite(folder: string): Promise<number | undefined> {
  try {
    return (await stat(join(folder, 'data'))).mtimeMs;
  } catch {
    try {
      return (await stat(folder)).mtimeMs;
    } catch {
      return undefined;
    }
  }
}
