/**
 * Planning what `push` publishes: which file is the program of which platform, and which files
 * ship with every platform. The inputs are `OS/ARCH=FILE` or plain `FILE` arguments; a plain file
 * that is an executable gets its platform from its header.
 */
import { open, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { createDigester, type Digest, digestOf } from '../oci/digest.js';
import { detectExecutable, EXECUTABLE_HEADER_SIZE, type ExecutableInfo } from '../oci/executable.js';
import { KNOWN_ARCHITECTURES, KNOWN_OS } from '../oci/known-platforms.js';
import { formatPlatform, type Platform, parsePlatform } from '../oci/platform.js';
import { titleProblem } from '../oci/title.js';
import { packDirectory } from './directory.js';
import { InvalidInputError, UnsafeTitleError } from './errors.js';

/** Size in bytes of each read when a file is hashed or uploaded. */
export const READ_SIZE = 1024 * 1024;

/** Returns the read buffer size for `bytes` of content: {@link READ_SIZE} at most, at least 1. */
export function readSizeFor(bytes: number): number {
  return Math.max(1, Math.min(READ_SIZE, bytes));
}

/** One file to push, with the platform given on the command line, if any. */
export interface PushInput {
  path: string;
  /** Set by `OS/ARCH=FILE`; a file without it is inspected. */
  platform?: Platform;
}

/** A file after inspection: its content digest, size, mode and the platforms it is the program of. */
export interface InspectedFile {
  path: string;
  /** The file's base name, its `org.opencontainers.image.title`. */
  title: string;
  digest: Digest;
  size: number;
  /** Unix permission bits. */
  mode: number;
  /** Platforms this file is the program for; empty for a file that ships with every platform. */
  platforms: Platform[];
  /**
   * Set for a directory, which is pushed as one tar+gzip blob: the packed file (the blob's bytes)
   * and the digest of its uncompressed tar (`io.deis.oras.content.digest`).
   */
  directory?: { archive: string; contentDigest: Digest };
}

/**
 * A push argument after the checks that need no full read of the content: what it is, its title,
 * mode and platforms. {@link completeInspection} hashes or packs it into an {@link InspectedFile}.
 */
export interface DescribedInput {
  path: string;
  /** The base name, the future `org.opencontainers.image.title`. */
  title: string;
  /** Size in bytes that `stat` reported; 0 for a folder, whose packed size is known only after packing. */
  size: number;
  /** Unix permission bits. */
  mode: number;
  /** Platforms this file is the program for; empty for a file that ships with every platform. */
  platforms: Platform[];
  /** True for a folder, which is pushed as one tar+gzip blob. */
  isDirectory: boolean;
}

/** The fields of a file that {@link planArtifact} reads: its path, title and platforms. */
export type PlannedFile = Pick<InspectedFile, 'path' | 'title' | 'platforms'>;

/** One platform's manifest: its program and the files every platform gets. */
export interface PlatformBuild<F extends PlannedFile = InspectedFile> {
  platform: Platform;
  program: F;
}

/** The artifact to publish: an index of builds when `builds` is not empty, else one manifest of `extras`. */
export interface ArtifactPlan<F extends PlannedFile = InspectedFile> {
  builds: PlatformBuild<F>[];
  extras: F[];
}

/**
 * Parses one file argument of `push`: `OS/ARCH[/VARIANT]=FILE` or `FILE`.
 *
 * The text before the first `=` counts as a platform only when it is one (`linux/amd64`), so a
 * path such as `./dist/a=b` stays a path. An argument like `linux/amd64=` with no file is rejected.
 * @throws InvalidInputError naming the argument.
 */
export function parsePushInput(argument: string): PushInput {
  if (argument === '') throw new InvalidInputError('empty file argument: name a file, or OS/ARCH=FILE');
  const equals = argument.indexOf('=');
  if (equals <= 0) return { path: argument };

  const prefix = argument.slice(0, equals);
  let platform: Platform;
  try {
    platform = parsePlatform(prefix);
  } catch {
    // `linux=FILE` reads as a platform label without its architecture, not as a file name.
    if (KNOWN_OS.has(prefix) || KNOWN_ARCHITECTURES.has(prefix)) {
      throw new InvalidInputError(
        `invalid platform ${JSON.stringify(prefix)} in ${JSON.stringify(argument)}: the syntax is OS/ARCH=FILE, such as linux/amd64=FILE (for a file with this name, write ./${argument})`,
      );
    }
    return { path: argument };
  }
  const path = argument.slice(equals + 1);
  if (path === '') {
    throw new InvalidInputError(
      `missing file after "${prefix}=" in ${JSON.stringify(argument)}: write ${prefix}=PATH`,
    );
  }
  return { path, platform };
}

/**
 * Reads a file's header, digest, size and mode. A file with an explicit platform keeps it; any other
 * executable (ELF, Mach-O, PE) gets the platforms of its header, every architecture of a universal Mach-O file.
 * A directory is packed into a reproducible tar+gzip file inside `workDir` ({@link packDirectory}).
 * @throws InvalidInputError when the path does not exist, is neither a file nor a directory, is a
 *   directory given with a platform or without `workDir`, or is a file that changed while it was read.
 */
export async function inspectInput(input: PushInput, workDir?: string): Promise<InspectedFile> {
  return completeInspection(await describeInput(input), workDir);
}

/**
 * Runs the checks of {@link inspectInput} that need no full read: `stat`, the executable header and
 * the platform label. A file's content is neither hashed nor packed here.
 * @throws InvalidInputError when the path does not exist, is neither a file nor a directory, is a
 *   directory given with a platform, or is an executable whose header contradicts its label.
 * @throws UnsafeTitleError when the base name is not a title that pull accepts ({@link titleProblem}),
 *   such as `..\evil.txt` or a name with a newline.
 */
export async function describeInput(input: PushInput): Promise<DescribedInput> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(input.path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new InvalidInputError(`cannot read ${JSON.stringify(input.path)}: ${reason}`, { cause: error });
  }
  const mode = info.mode & 0o7777;
  if (info.isDirectory()) {
    if (input.platform !== undefined) {
      throw new InvalidInputError(
        `${JSON.stringify(input.path)} is a folder: a platform build must be one executable file, so drop the platform prefix`,
      );
    }
    const title = checkedTitle(basename(resolve(input.path)), input.path);
    return { path: input.path, title, size: 0, mode, platforms: [], isDirectory: true };
  }
  if (!info.isFile()) {
    throw new InvalidInputError(`${JSON.stringify(input.path)} is neither a regular file nor a folder`);
  }

  let platforms: Platform[] = [];
  const detected = detectExecutable(await readHeader(input.path));
  if (input.platform !== undefined) {
    if (detected !== undefined) checkLabel(input.path, input.platform, detected);
    platforms = [input.platform];
  } else if (detected !== undefined) {
    platforms = detected.platforms;
  }
  const title = checkedTitle(basename(input.path), input.path);
  return { path: input.path, title, size: info.size, mode, platforms, isDirectory: false };
}

/**
 * Hashes a described file, or packs a described folder into a tar+gzip file inside `workDir`.
 * @param signal stops hashing a file and rejects with the signal's reason; packing a folder runs to its end.
 * @throws InvalidInputError for a folder without `workDir`, or a file whose size changed since it was described.
 */
export async function completeInspection(
  described: DescribedInput,
  workDir?: string,
  signal?: AbortSignal,
): Promise<InspectedFile> {
  const { path, title, mode, platforms } = described;
  if (described.isDirectory) return packFolder(described, workDir);

  const { digest, size } = await hashFile(path, signal);
  checkUnchanged(described, size);
  return { path, title, digest, size, mode, platforms };
}

/**
 * Rejects a file whose size differs from the one {@link describeInput} saw, because the bytes that
 * were hashed are then not the bytes that are uploaded.
 * @throws InvalidInputError naming the file and both sizes.
 */
export function checkUnchanged(described: DescribedInput, size: number): void {
  if (size === described.size) return;
  throw new InvalidInputError(
    `${described.path} changed while it was being read (its size went from ${described.size} to ${size} bytes): push it again once it is complete`,
  );
}

/**
 * Computes a file's sha256 digest and size, reading into one reused buffer. A read stream would
 * allocate a new buffer for each read, and hashing a 256 MiB file that way peaked at about 82 MB
 * of RSS, against 46 MB with one buffer (node 20, a script that only hashes).
 * @param signal stops the reads and rejects with the signal's reason.
 */
export async function hashFile(
  path: string,
  signal?: AbortSignal,
): Promise<{ digest: Digest; size: number }> {
  const digester = createDigester();
  const handle = await open(path, 'r');
  try {
    // A buffer no larger than the file: allocating 1 MiB for each of a thousand small files costs
    // more than reading them.
    const buffer = Buffer.allocUnsafe(readSizeFor((await handle.stat()).size));
    for (;;) {
      signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, null);
      if (bytesRead === 0) break;
      digester.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return { size: digester.size, digest: digester.digest() };
}

/**
 * Assigns inspected files to platforms: each file with platforms is the program of each of them,
 * every other file ships with every platform.
 * @throws InvalidInputError when two files claim one platform, or two files in one platform's
 *   manifest share a title (naming both paths).
 */
export function planArtifact<F extends PlannedFile>(files: F[]): ArtifactPlan<F> {
  if (files.length === 0) throw new InvalidInputError('nothing to push: name at least one file');

  checkGivenOnce(files);
  const builds = new Map<string, PlatformBuild<F>>();
  const extras: F[] = [];
  for (const file of files) {
    if (file.platforms.length === 0) {
      extras.push(file);
      continue;
    }
    for (const platform of file.platforms) {
      const key = formatPlatform(platform);
      const other = builds.get(key);
      if (other !== undefined) {
        throw new InvalidInputError(
          `two programs for ${key}: ${other.program.path} and ${file.path}; give one file per platform`,
        );
      }
      builds.set(key, { platform, program: file });
    }
  }

  checkUniqueTitles(extras, 'the artifact');
  for (const [key, build] of builds) checkUniqueTitles([build.program, ...extras], `the ${key} manifest`);

  const keys = [...builds.keys()].sort();
  const sorted = keys.map((key) => builds.get(key)!);
  return { builds: sorted, extras };
}

/**
 * Rejects a path given twice (after resolving, so `NOTES.md` and `./NOTES.md` are one path), unless
 * each time names other platforms, such as `darwin/amd64=app darwin/arm64=app` for a universal file.
 */
function checkGivenOnce(files: PlannedFile[]): void {
  const seen = new Map<string, Set<string>>();
  for (const file of files) {
    const path = resolve(file.path);
    const labels = file.platforms.length === 0 ? ['*'] : file.platforms.map(formatPlatform);
    const earlier = seen.get(path) ?? new Set<string>();
    if (
      labels.some((label) => earlier.has(label) || earlier.has('*')) ||
      (labels[0] === '*' && earlier.size > 0)
    )
      throw new InvalidInputError(`${file.path} is given twice; name each file once`);
    for (const label of labels) earlier.add(label);
    seen.set(path, earlier);
  }
}

/**
 * Rejects a platform label that the executable's header contradicts, such as `linux/arm/v7=FILE`
 * for an arm64 ELF file. Only the architecture family and the OS family of the format are compared:
 * an ELF header cannot tell Linux from FreeBSD reliably, nor `mips` from `mipsle`.
 */
function checkLabel(path: string, label: Platform, detected: ExecutableInfo): void {
  const osFamily = (os: string): string => {
    if (os === 'darwin' || os === 'ios') return 'mach-o';
    if (os === 'windows') return 'pe';
    return 'elf';
  };
  const family = (architecture: string): string => architecture.replace(/(?:le|be)$/, '');
  const fits = detected.platforms.some(
    (platform) => family(platform.architecture) === family(label.architecture),
  );
  if (fits && osFamily(label.os) === detected.format) return;
  const header = detected.platforms.map(formatPlatform).join(', ');
  throw new InvalidInputError(
    `${path} is labelled ${formatPlatform(label)}, but its ${detected.format.toUpperCase()} header says ${header}: correct the label, or drop it so the header decides`,
  );
}

// The base name becomes the title, and pull rejects titles that are not plain file names on every
// system (a `\` is a separator on Windows), so such a name is rejected before anything is sent.
function checkedTitle(title: string, path: string): string {
  const reason = titleProblem(title);
  if (reason !== undefined) throw new UnsafeTitleError(title, reason, path);
  return title;
}

function checkUniqueTitles(files: PlannedFile[], where: string): void {
  const byTitle = new Map<string, PlannedFile>();
  for (const file of files) {
    const other = byTitle.get(file.title);
    if (other !== undefined) {
      throw new InvalidInputError(
        `two files titled ${JSON.stringify(file.title)} in ${where}: ${other.path} and ${file.path}; rename one of them`,
      );
    }
    byTitle.set(file.title, file);
  }
}

async function packFolder(described: DescribedInput, workDir: string | undefined): Promise<InspectedFile> {
  if (workDir === undefined) {
    throw new InvalidInputError(
      `${JSON.stringify(described.path)} is a folder, and no work folder was given to pack it in`,
    );
  }
  const folder = resolve(described.path);
  const archive = join(workDir, `${digestOf(folder).slice(7, 23)}.tar.gz`);
  const packed = await packDirectory(folder, archive);
  return {
    path: described.path,
    title: described.title,
    digest: packed.digest,
    size: packed.size,
    mode: described.mode,
    platforms: [],
    directory: { archive, contentDigest: packed.contentDigest },
  };
}

async function readHeader(path: string): Promise<Uint8Array> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(EXECUTABLE_HEADER_SIZE);
    const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}
