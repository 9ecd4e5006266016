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
import { packDirectory } from './directory.js';
import { InvalidInputError } from './errors.js';

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

/** One platform's manifest: its program and the files every platform gets. */
export interface PlatformBuild {
  platform: Platform;
  program: InspectedFile;
}

/** The artifact to publish: an index of builds when `builds` is not empty, else one manifest of `extras`. */
export interface ArtifactPlan {
  builds: PlatformBuild[];
  extras: InspectedFile[];
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
 * @throws InvalidInputError when the path does not exist, is neither a file nor a directory, or is a
 *   directory given with a platform or without `workDir`.
 */
export async function inspectInput(input: PushInput, workDir?: string): Promise<InspectedFile> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(input.path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : (error as Error).message;
    throw new InvalidInputError(`cannot read ${JSON.stringify(input.path)}: ${reason}`, { cause: error });
  }
  if (info.isDirectory()) return inspectDirectory(input, info.mode, workDir);
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

  const { digest, size } = await hashFile(input.path);
  return { path: input.path, title: basename(input.path), digest, size, mode: info.mode & 0o7777, platforms };
}

/**
 * Assigns inspected files to platforms: each file with platforms is the program of each of them,
 * every other file ships with every platform.
 * @throws InvalidInputError when two files claim one platform, or two files in one platform's
 *   manifest share a title (naming both paths).
 */
export function planArtifact(files: InspectedFile[]): ArtifactPlan {
  if (files.length === 0) throw new InvalidInputError('nothing to push: name at least one file');

  checkGivenOnce(files);
  const builds = new Map<string, PlatformBuild>();
  const extras: InspectedFile[] = [];
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
function checkGivenOnce(files: InspectedFile[]): void {
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

function checkUniqueTitles(files: InspectedFile[], where: string): void {
  const byTitle = new Map<string, InspectedFile>();
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

async function inspectDirectory(
  input: PushInput,
  mode: number,
  workDir: string | undefined,
): Promise<InspectedFile> {
  if (input.platform !== undefined) {
    throw new InvalidInputError(
      `${JSON.stringify(input.path)} is a folder: a platform build must be one executable file, so drop the platform prefix`,
    );
  }
  if (workDir === undefined) {
    throw new InvalidInputError(
      `${JSON.stringify(input.path)} is a folder, and no work folder was given to pack it in`,
    );
  }
  const title = basename(resolve(input.path));
  const archive = join(workDir, `${digestOf(resolve(input.path)).slice(7, 23)}.tar.gz`);
  const packed = await packDirectory(resolve(input.path), archive);
  return {
    path: input.path,
    title,
    digest: packed.digest,
    size: packed.size,
    mode: mode & 0o7777,
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

// Reads into one reused buffer. A read stream allocates a new buffer for each read: hashing a
// 256 MiB file that way peaked at about 82 MB of RSS, against 46 MB with one buffer (node 20, a
// script that only hashes).
async function hashFile(path: string): Promise<{ digest: Digest; size: number }> {
  const digester = createDigester();
  const handle = await open(path, 'r');
  // A buffer no larger than the file: allocating 1 MiB for each of a thousand small files costs
  // more than reading them.
  const buffer = Buffer.allocUnsafe(readSizeFor((await handle.stat()).size));
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, null);
      if (bytesRead === 0) break;
      digester.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return { size: digester.size, digest: digester.digest() };
}
