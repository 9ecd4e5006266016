/**
 * Downloads one blob into a `.partial` file, resuming an earlier interrupted download with an
 * HTTP `Range` request, and verifies size and digest while the bytes flow.
 */
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { lstat, open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createDigester, type Digester, digestOf, parseDigest } from '../oci/digest.js';
import { DigestMismatchError } from '../oci/errors.js';
import type { Descriptor } from '../oci/manifest.js';
import { RegistryConnectionError } from './errors.js';
import type { ArtifactStore } from './store.js';

/** Bytes buffered for the output file while a write is in flight. */
const WRITE_BUFFER_SIZE = 1024 * 1024;

/**
 * The end of every mismatch message. {@link downloadBlob} has already retried from the first byte
 * when resumed bytes were wrong, so the bytes came from the registry as they are now.
 */
const MISMATCH_HINT =
  'the registry stores corrupt content, or something between it and this machine altered the bytes; the received bytes were deleted, so pull again, and if it fails the same way, ask the publisher to push the release again';

/**
 * Returns the path of the partial file for a blob written under `title` in `folder`. The name is a
 * hash of digest and title, so that it is a short, safe file name, two titles with the same content
 * get separate files, and a later pull finds it again.
 */
export function partialPath(folder: string, descriptor: Descriptor, title: string): string {
  const key = digestOf(`${descriptor.digest}\u0000${title}`);
  return join(folder, `.ocidrop-${parseDigest(key).encoded.slice(0, 32)}.partial`);
}

/**
 * Tells whether `path` is a regular file (not a symbolic link) whose size and digest match
 * `descriptor`, such as a file that an interrupted pull had already finished. A file of another
 * size is not read.
 */
export async function fileMatches(path: string, descriptor: Descriptor): Promise<boolean> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW).catch(() => undefined);
  if (handle === undefined) return false;
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size !== descriptor.size) return false;

    const digester = createDigester(parseDigest(descriptor.digest).algorithm);
    const buffer = Buffer.allocUnsafe(Math.max(1, Math.min(WRITE_BUFFER_SIZE, descriptor.size)));
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, null);
      if (bytesRead === 0) break;
      digester.update(buffer.subarray(0, bytesRead));
    }
    return digester.size === descriptor.size && digester.digest() === descriptor.digest;
  } finally {
    await handle.close();
  }
}

/**
 * Makes `path` hold the verified content of `descriptor`. Keeps the bytes of an earlier attempt
 * and requests only the rest. Starts over when the registry ignores the range, or when the
 * resumed content fails verification.
 *
 * On a connection error the partial file stays so that the next call resumes. On a digest or
 * size mismatch it is deleted.
 * @param onBytes called with the number of bytes in the file so far.
 * @throws DigestMismatchError when freshly downloaded content does not match the descriptor.
 */
export async function downloadBlob(
  client: ArtifactStore,
  repository: string,
  descriptor: Descriptor,
  path: string,
  onBytes: (bytes: number) => void,
): Promise<void> {
  const kept = await keptBytes(path, descriptor.size);
  try {
    await attempt(client, repository, descriptor, path, kept, onBytes);
  } catch (error) {
    if (!(error instanceof DigestMismatchError)) throw error;
    await rm(path, { force: true });
    // Bytes kept from an earlier attempt may be what was wrong, so one fresh download follows.
    if (kept === 0) throw error;
    await attempt(client, repository, descriptor, path, 0, onBytes).catch(async (retryError: unknown) => {
      if (retryError instanceof DigestMismatchError) await rm(path, { force: true });
      throw retryError;
    });
  }
}

async function attempt(
  client: ArtifactStore,
  repository: string,
  descriptor: Descriptor,
  path: string,
  kept: number,
  onBytes: (bytes: number) => void,
): Promise<void> {
  const verifier = new VerifyingStream(descriptor, onBytes);
  let offset = kept;
  if (offset > 0) {
    for await (const chunk of createReadStream(path, { highWaterMark: WRITE_BUFFER_SIZE })) {
      verifier.preload(chunk as Buffer);
    }
  }

  if (offset < descriptor.size) {
    const range = offset > 0 ? { start: offset, end: descriptor.size - 1 } : undefined;
    const reader = await client.getBlob(repository, descriptor.digest, range);
    if (offset > 0 && reader.range?.start !== offset) {
      // The registry sent the whole blob (200) or another range, so the kept bytes are dropped.
      verifier.reset();
      offset = 0;
    }
    // With a 1 MiB buffer, the chunks that arrive during one write go to disk in the next single
    // writev call, instead of one write per 16 to 64 KiB chunk.
    const output = createWriteStream(path, {
      flags: offset > 0 ? 'a' : 'w',
      mode: 0o600,
      highWaterMark: WRITE_BUFFER_SIZE,
    });
    try {
      await pipeline(reader.stream, verifier, output);
    } catch (error) {
      throw wrapTransferError(error, client.blobUrl(repository, descriptor.digest));
    }
  }
  verifier.check();
}

// A connection lost in the middle of a body surfaces as an undici or socket error. It becomes a
// RegistryConnectionError whose message explains that a second pull resumes.
function wrapTransferError(error: unknown, url: string): unknown {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  if (!code.startsWith('UND_ERR') && code !== 'ECONNRESET' && code !== 'EPIPE') return error;
  return new RegistryConnectionError(
    {
      method: 'GET',
      url,
      reason: (error as Error).message,
      hint: 'the bytes received are kept, so running the pull again resumes the download',
    },
    { cause: error },
  );
}

// Returns how many bytes an earlier attempt left in `path`, deleting anything that cannot be resumed.
async function keptBytes(path: string, size: number): Promise<number> {
  let info: Awaited<ReturnType<typeof lstat>>;
  try {
    info = await lstat(path);
  } catch {
    return 0;
  }
  // A symbolic link or folder in place of the partial file is removed rather than followed.
  if (!info.isFile() || info.size > size) {
    await rm(path, { force: true, recursive: true });
    return 0;
  }
  return info.size;
}

/** Hashes and counts bytes as they pass, and fails as soon as there are more than the descriptor's size. */
class VerifyingStream extends Transform {
  private digester: Digester;

  constructor(
    private readonly descriptor: Descriptor,
    private readonly onBytes: (bytes: number) => void,
  ) {
    super();
    this.digester = createDigester(parseDigest(descriptor.digest).algorithm);
  }

  /** Hashes bytes kept from an earlier attempt without passing them on. */
  preload(chunk: Buffer): void {
    this.digester.update(chunk);
  }

  /** Forgets the preloaded bytes. */
  reset(): void {
    this.digester = createDigester(parseDigest(this.descriptor.digest).algorithm);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.digester.update(chunk);
    if (this.digester.size > this.descriptor.size) {
      callback(
        new DigestMismatchError(
          `blob ${this.descriptor.digest} is longer than its descriptor's ${this.descriptor.size} bytes: ${MISMATCH_HINT}`,
        ),
      );
      return;
    }
    this.onBytes(this.digester.size);
    callback(null, chunk);
  }

  /** Throws DigestMismatchError unless the bytes seen match the descriptor's size and digest. */
  check(): void {
    const size = this.digester.size;
    if (size !== this.descriptor.size) {
      throw new DigestMismatchError(
        `blob ${this.descriptor.digest}: received ${size} bytes, expected ${this.descriptor.size} from the descriptor: ${MISMATCH_HINT}`,
      );
    }
    const digest = this.digester.digest();
    if (digest !== this.descriptor.digest) {
      throw new DigestMismatchError(
        `blob ${this.descriptor.digest}: received content with digest ${digest}: ${MISMATCH_HINT}`,
      );
    }
  }
}
