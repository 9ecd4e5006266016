import { chmod, mkdir, open, rename } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FILE_MAIN, FILE_MODE, parseFileMode } from '../oci/annotations.js';
import type { Digest } from '../oci/digest.js';
import { formatPlatform, hostPlatform, type Platform } from '../oci/platform.js';
import type { Reference } from '../oci/reference.js';
import { DEFAULT_CONCURRENCY, mapWithLimit } from './concurrency.js';
import { type ConnectOptions, toReference, withClient } from './connect.js';
import { downloadBlob, partialPath } from './download.js';
import { InvalidInputError } from './errors.js';
import type { ProgressListener } from './progress.js';
import type { RegistryClient } from './registry-client.js';
import { resolveManifests, type TitledBlob, titledBlobs } from './resolve.js';
import { validateTitles } from './titles.js';

/** Options of {@link pull}. */
export interface PullOptions extends ConnectOptions {
  /** The platform whose files to write. @default the running machine's ({@link hostPlatform}) */
  platform?: Platform;
  onProgress?: ProgressListener;
  /** Files downloaded at once. @default {@link DEFAULT_CONCURRENCY} */
  concurrency?: number;
}

/** One file written by {@link pull}. */
export interface PulledFile {
  title: string;
  /** Absolute path of the written file. */
  path: string;
  digest: Digest;
  size: number;
  /** Permission bits set on the file. */
  mode: number;
  /** Whether the file is the platform's program. */
  main: boolean;
}

/** Summary of a {@link pull}: the manifest used and the files written. */
export interface PullResult {
  reference: string;
  /** Digest of the manifest whose files were written. */
  digest: Digest;
  /** The platform of that manifest; unset for an artifact without platform builds. */
  platform?: string;
  files: PulledFile[];
}

/**
 * Writes the files of `reference` for one platform into `outputDir`, creating the folder if needed.
 * A reference without tag or digest means `latest`.
 * @throws UnsafeTitleError when any title is not a plain file name; nothing is written then.
 * @throws PlatformNotFoundError listing the platforms the artifact has.
 * @throws NotAnArtifactError for content without titled blobs, such as a container image.
 * @throws DigestMismatchError when a blob's bytes do not match its descriptor.
 */
export async function pull(
  reference: string | Reference,
  outputDir: string,
  options: PullOptions = {},
): Promise<PullResult> {
  const source = toReference(reference, 'latest');
  const platform = options.platform ?? hostPlatform();

  return withClient(source, options, async (client) => {
    const { manifests } = await resolveManifests(client, source, platform);
    const resolved = manifests[0]!;
    const blobs = titledBlobs(source, resolved);
    validateTitles(blobs.map((blob) => blob.title));

    const folder = resolve(outputDir);
    await mkdir(folder, { recursive: true });
    const files = await mapWithLimit(blobs, options.concurrency ?? DEFAULT_CONCURRENCY, (blob) =>
      downloadFile(client, source.repository, blob, folder, options.onProgress),
    );

    const result: PullResult = { reference: source.toString(), digest: resolved.digest, files };
    if (resolved.platform !== undefined) result.platform = formatPlatform(resolved.platform);
    return result;
  });
}

async function downloadFile(
  client: RegistryClient,
  repository: string,
  blob: TitledBlob,
  folder: string,
  onProgress: ProgressListener | undefined,
): Promise<PulledFile> {
  const { title, descriptor } = blob;
  const main = descriptor.annotations?.[FILE_MAIN] === 'true';
  // Set-user-ID, set-group-ID and sticky bits from an artifact are never applied.
  const mode = (parseFileMode(descriptor.annotations?.[FILE_MODE]) ?? (main ? 0o755 : 0o644)) & 0o777;
  const destination = join(folder, title);
  const partial = partialPath(folder, descriptor, title);
  const report = (transferred: number, state: 'started' | 'running' | 'done') =>
    onProgress?.({ title, digest: descriptor.digest, transferred, total: descriptor.size, state });

  report(0, 'started');
  await downloadBlob(client, repository, descriptor, partial, (bytes) => report(bytes, 'running'));
  await syncFile(partial);
  await chmod(partial, mode);
  try {
    await rename(partial, destination);
  } catch (error) {
    // The verified partial file stays, so the next pull finishes without downloading again.
    throw new InvalidInputError(
      `cannot write ${destination}: ${(error as Error).message}; move that path away and pull again`,
      {
        cause: error,
      },
    );
  }
  await syncFolder(folder);
  report(descriptor.size, 'done');
  return { title, path: destination, digest: descriptor.digest, size: descriptor.size, mode, main };
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

// Syncing the folder makes the rename durable; Windows cannot open a folder for it, which is harmless.
async function syncFolder(folder: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(folder, 'r');
    await handle.sync();
  } catch {
    // Durability of the rename is best effort where the platform does not support it.
  } finally {
    await handle?.close();
  }
}
