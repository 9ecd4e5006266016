/**
 * `pull`: writes the files of one platform of an artifact into a folder, verifying each blob while
 * it streams, and unpacking directory blobs (`io.deis.oras.content.unpack`) safely.
 */
import { chmod, lstat, mkdir, mkdtemp, open, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { FILE_MAIN, FILE_MODE, parseFileMode } from '../oci/annotations.js';
import { type Digest, isDigest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';
import { formatPlatform, hostPlatform, type Platform } from '../oci/platform.js';
import type { Reference } from '../oci/reference.js';
import { DEFAULT_CONCURRENCY, mapWithLimit } from './concurrency.js';
import { type ConnectOptions, toReference, withClient } from './connect.js';
import { ORAS_CONTENT_DIGEST, ORAS_CONTENT_UNPACK } from './directory.js';
import { downloadBlob, fileMatches, partialPath } from './download.js';
import { InvalidInputError, OutputExistsError } from './errors.js';
import type { ProgressListener } from './progress.js';
import { resolveManifests, type TitledBlob, titledBlobs } from './resolve.js';
import type { ArtifactStore } from './store.js';
import { validateTitles } from './titles.js';
import { unpackDirectory } from './unpack.js';

/** Options of {@link pull}. */
export interface PullOptions extends ConnectOptions {
  /** The platform whose files to write. @default the running machine's ({@link hostPlatform}) */
  platform?: Platform;
  onProgress?: ProgressListener;
  /** Files downloaded at once. @default {@link DEFAULT_CONCURRENCY} */
  concurrency?: number;
  /**
   * Replace files and folders that exist in the output folder. A file whose size and digest match
   * its descriptor is kept either way. @default false
   */
  overwrite?: boolean;
  /** Maximum uncompressed bytes of one directory blob. @default {@link DEFAULT_MAX_UNPACK_SIZE} */
  maxUnpackSize?: number;
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
  /** `directory` for a directory blob (`io.deis.oras.content.unpack`) that was unpacked. */
  kind: 'file' | 'directory';
  /** True when the file was already in place with the descriptor's size and digest, so nothing was downloaded. */
  existing: boolean;
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
 * A reference without tag or digest means `latest`. A file already in place whose size and digest
 * match its descriptor is kept, and the `.partial` file of an interrupted download is resumed, so
 * running the same pull again after an interruption or a failure finishes it.
 *
 * NOTE: an unpacked folder cannot be checked against its blob, so a folder that an earlier pull
 * wrote counts as an existing output like any other.
 * @throws UnsafeTitleError when any title is not a plain file name; nothing is written then.
 * @throws PlatformNotFoundError listing the platforms the artifact has.
 * @throws NotAnArtifactError for content without titled blobs, such as a container image.
 * @throws DigestMismatchError when a blob's bytes do not match its descriptor.
 * @throws OutputExistsError when a file or folder of that name exists with other content and
 *   `overwrite` is unset; nothing is written then.
 * @throws UnsafeArchiveError for a directory blob with an entry that could escape its folder.
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
    const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    const existing = await mapWithLimit(blobs, concurrency, (blob) =>
      checkDestination(blob, folder, options),
    );
    await mkdir(folder, { recursive: true });
    const planned = blobs.map((blob, index) => ({ blob, existing: existing[index]! }));
    const files = await mapWithLimit(planned, concurrency, ({ blob, existing }) =>
      existing
        ? keepFile(blob, folder, options)
        : downloadFile(client, source.repository, blob, folder, options),
    );

    const result: PullResult = { reference: source.toString(), digest: resolved.digest, files };
    if (resolved.platform !== undefined) result.platform = formatPlatform(resolved.platform);
    return result;
  });
}

// Returns true when the blob's destination already contains its content, and false when it is free or
// `overwrite` allows replacing it.
async function checkDestination(blob: TitledBlob, folder: string, options: PullOptions): Promise<boolean> {
  const destination = join(folder, blob.title);
  const info = await lstatOrUndefined(destination);
  if (info === undefined) return false;

  const unpack = blob.descriptor.annotations?.[ORAS_CONTENT_UNPACK] === 'true';
  if (!unpack && info.isFile() && (await fileMatches(destination, blob.descriptor))) return true;
  if (options.overwrite) return false;
  throw new OutputExistsError(destination);
}

// Reports a file that is already in place as done, and gives it the mode a download would set.
async function keepFile(blob: TitledBlob, folder: string, options: PullOptions): Promise<PulledFile> {
  const { title, descriptor } = blob;
  const { main, mode } = fileMode(descriptor);
  const destination = join(folder, title);
  await chmod(destination, mode);
  const report = (transferred: number, state: 'started' | 'done') =>
    options.onProgress?.({ title, digest: descriptor.digest, transferred, total: descriptor.size, state });
  report(0, 'started');
  report(descriptor.size, 'done');
  return pulledFile(blob, destination, { mode, main }, true);
}

// Describes a file written or kept at `destination`.
function pulledFile(
  blob: TitledBlob,
  destination: string,
  { mode, main }: { mode: number; main: boolean },
  existing: boolean,
): PulledFile {
  const { title, descriptor } = blob;
  return {
    title,
    path: destination,
    digest: descriptor.digest,
    size: descriptor.size,
    mode,
    main,
    kind: 'file',
    existing,
  };
}

// Set-user-ID, set-group-ID and sticky bits from an artifact are never applied.
function fileMode(descriptor: Descriptor): { main: boolean; mode: number } {
  const main = descriptor.annotations?.[FILE_MAIN] === 'true';
  const mode = (parseFileMode(descriptor.annotations?.[FILE_MODE]) ?? (main ? 0o755 : 0o644)) & 0o777;
  return { main, mode };
}

async function downloadFile(
  client: ArtifactStore,
  repository: string,
  blob: TitledBlob,
  folder: string,
  options: PullOptions,
): Promise<PulledFile> {
  const { title, descriptor } = blob;
  const onProgress = options.onProgress;
  const { main, mode } = fileMode(descriptor);
  const destination = join(folder, title);
  const partial = partialPath(folder, descriptor, title);
  const report = (transferred: number, state: 'started' | 'running' | 'done') =>
    onProgress?.({ title, digest: descriptor.digest, transferred, total: descriptor.size, state });

  report(0, 'started');
  await downloadBlob(client, repository, descriptor, partial, (bytes) => report(bytes, 'running'));
  if (descriptor.annotations?.[ORAS_CONTENT_UNPACK] === 'true') {
    try {
      await unpackInto(partial, folder, title, descriptor, options);
    } finally {
      // A rejected archive is not worth resuming, and an unpacked one is no longer needed.
      await rm(partial, { force: true });
    }
    await syncFolder(folder);
    report(descriptor.size, 'done');
    return {
      title,
      path: destination,
      digest: descriptor.digest,
      size: descriptor.size,
      mode: 0o755,
      main,
      kind: 'directory',
      existing: false,
    };
  }
  await syncFile(partial);
  await chmod(partial, mode);
  try {
    // rename() replaces a file or a symbolic link without following it, but not a folder.
    if (options.overwrite && (await lstatOrUndefined(destination))?.isDirectory()) {
      await rm(destination, { recursive: true });
    }
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
  return pulledFile(blob, destination, { mode, main }, false);
}

// Unpacks a verified directory blob into a fresh staging folder beside the destination, then moves
// the result into place, so that a rejected archive leaves nothing behind.
async function unpackInto(
  archive: string,
  folder: string,
  title: string,
  descriptor: Descriptor,
  options: PullOptions,
): Promise<void> {
  const staging = await mkdtemp(join(folder, '.ocidrop-unpack-'));
  try {
    const contentDigest = descriptor.annotations?.[ORAS_CONTENT_DIGEST];
    await unpackDirectory(archive, staging, title, {
      ...(contentDigest !== undefined && isDigest(contentDigest) ? { contentDigest } : {}),
      ...(options.maxUnpackSize === undefined ? {} : { maxSize: options.maxUnpackSize }),
    });
    const destination = join(folder, title);
    const existing = await lstatOrUndefined(destination);
    if (existing !== undefined) {
      if (!options.overwrite) throw new OutputExistsError(destination);
      await rm(destination, { recursive: true, force: true });
    }
    await rename(join(staging, title), destination);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function lstatOrUndefined(path: string): Promise<Awaited<ReturnType<typeof lstat>> | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
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
