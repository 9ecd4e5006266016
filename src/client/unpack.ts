/**
 * Safe unpacking of a directory blob (a tar+gzip archive, see `directory.ts`) into a staging folder.
 *
 * The archive comes from the publisher of the artifact, so every entry is checked before it is
 * written. An entry must be a relative path under the directory's name without `..`. No path
 * component of an entry may be a symbolic link, which also rules out writing through an existing
 * link. Every symbolic link must resolve inside the directory, with chains of links followed hop by
 * hop. A hard link must name a regular file inside the directory. Files are created with
 * `O_EXCL`, so nothing is ever written twice or through a link. Sizes and entry counts are capped
 * against decompression bombs.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod, link, lstat, mkdir, readlink, realpath, symlink } from 'node:fs/promises';
import { join, posix, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import { createDigester, type Digest } from '../oci/digest.js';
import { DigestMismatchError } from '../oci/errors.js';
import { UnsafeArchiveError } from './errors.js';

/** Default cap on the uncompressed size of one directory blob: 8 GiB. */
export const DEFAULT_MAX_UNPACK_SIZE = 8 * 1024 ** 3;
/** Default cap on the entries of one directory blob. */
export const DEFAULT_MAX_UNPACK_ENTRIES = 100_000;
/** Symbolic links followed while resolving one path, as Linux's `MAXSYMLINKS`. */
const MAX_LINK_HOPS = 40;

/** Options of {@link unpackDirectory}. */
export interface UnpackOptions {
  /** Digest the uncompressed tar must have (`io.deis.oras.content.digest`); unchecked when unset. */
  contentDigest?: Digest;
  /** Maximum uncompressed bytes. @default {@link DEFAULT_MAX_UNPACK_SIZE} */
  maxSize?: number;
  /** Maximum entries. @default {@link DEFAULT_MAX_UNPACK_ENTRIES} */
  maxEntries?: number;
}

/**
 * Unpacks the tar+gzip file `archive` into `root`, an empty folder that the caller created. Every
 * entry must lie under `name/`, as oras writes them. Set-user-ID, set-group-ID and sticky bits are
 * dropped, and devices, FIFOs and other special entries are skipped.
 * @returns the number of entries written.
 * @throws UnsafeArchiveError naming the entry and the reason, for any entry that could escape `root`,
 *   a duplicate entry, or an archive over the size or entry limit.
 * @throws DigestMismatchError when the tar does not match `contentDigest`.
 */
export async function unpackDirectory(
  archive: string,
  root: string,
  name: string,
  options: UnpackOptions = {},
): Promise<number> {
  const maxSize = options.maxSize ?? DEFAULT_MAX_UNPACK_SIZE;
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_UNPACK_ENTRIES;
  const realRoot = await realpath(root);
  const writer = new EntryWriter(realRoot, name);
  const digester = createDigester();

  const parser = new Parser({ strict: true });
  let failure: unknown;
  let chain: Promise<void> = Promise.resolve();
  let count = 0;
  let active: ReadEntry | undefined;
  parser.on('entry', (entry: ReadEntry) => {
    chain = chain.then(async () => {
      if (failure !== undefined) {
        entry.resume();
        return;
      }
      active = entry;
      try {
        if (++count > maxEntries) {
          throw new UnsafeArchiveError(entry.path, `the archive has more than ${maxEntries} entries`);
        }
        await writer.write(entry);
      } catch (error) {
        failure ??= error;
        entry.resume();
      } finally {
        active = undefined;
      }
    });
  });
  const parsed = new Promise<void>((resolve, reject) => {
    parser.on('end', resolve);
    parser.on('error', reject);
  });

  const gunzip = createGunzip();
  const compressed = createReadStream(archive);
  const feeding = pipeline(compressed, gunzip).catch((error: unknown) => {
    failure ??= new UnsafeArchiveError(name, `the gzip stream is invalid: ${(error as Error).message}`);
  });
  let size = 0;
  for await (const chunk of gunzip) {
    size += (chunk as Buffer).byteLength;
    if (size > maxSize) {
      failure ??= new UnsafeArchiveError(name, `it unpacks to more than ${maxSize} bytes`);
      compressed.destroy();
      break;
    }
    digester.update(chunk as Buffer);
    if (!parser.write(chunk as Buffer)) await new Promise((resolve) => parser.once('drain', resolve));
    if (failure !== undefined) break;
  }
  await feeding;
  if (failure !== undefined) {
    // The entry being written never receives the rest of its bytes, so it is ended here.
    active?.destroy(failure as Error);
  } else {
    parser.end();
    await parsed.catch((error: unknown) => {
      failure ??= new UnsafeArchiveError(name, `the tar archive is invalid: ${(error as Error).message}`);
    });
  }
  await chain;
  if (failure !== undefined) throw failure;

  const digest = digester.digest();
  if (options.contentDigest !== undefined && digest !== options.contentDigest) {
    throw new DigestMismatchError(
      `directory ${name} unpacks to a tar archive with digest ${digest}, but its annotation names ${options.contentDigest}: the blob itself matched its digest, so the publisher pushed an inconsistent folder; ask the publisher to push the release again`,
    );
  }
  await writer.finish();
  return count;
}

// Writes entries under one root, checking each path against the root first.
class EntryWriter {
  private readonly directories: { path: string; mode: number }[] = [];
  private readonly links: { entry: string; path: string }[] = [];

  constructor(
    private readonly root: string,
    private readonly name: string,
  ) {}

  async write(entry: ReadEntry): Promise<void> {
    const relative = this.archivePath(entry.path, entry.path);
    const target = join(this.root, ...relative.split('/'));
    const mode = (entry.mode ?? 0o644) & 0o777;

    switch (entry.type) {
      case 'File':
      case 'OldFile':
      case 'ContiguousFile': {
        await this.prepareParent(entry.path, relative);
        await this.assertAbsent(entry.path, target);
        await pipeline(entry, createWriteStream(target, { flags: 'wx', mode: 0o600 }));
        await chmod(target, mode);
        return;
      }
      case 'Directory': {
        await this.prepareParent(entry.path, relative);
        const existing = await lstatOrUndefined(target);
        if (existing === undefined) await mkdir(target, { mode: 0o700 });
        else if (!existing.isDirectory()) {
          throw new UnsafeArchiveError(
            entry.path,
            'a folder entry replaces an earlier entry that is not a folder',
          );
        }
        // Modes are applied last, so that a read-only folder does not block the entries inside it.
        this.directories.push({ path: target, mode });
        entry.resume();
        return;
      }
      case 'SymbolicLink': {
        const linkpath = entry.linkpath ?? '';
        if (linkpath === '' || posix.isAbsolute(linkpath) || /^[a-zA-Z]:/.test(linkpath)) {
          throw new UnsafeArchiveError(
            entry.path,
            `the symbolic link target ${JSON.stringify(linkpath)} is absolute or empty`,
          );
        }
        this.archivePath(
          posix.join(posix.dirname(relative), linkpath),
          entry.path,
          'the symbolic link target',
        );
        await this.prepareParent(entry.path, relative);
        await this.assertAbsent(entry.path, target);
        await symlink(linkpath, target);
        await this.assertLinkInside(entry.path, relative);
        this.links.push({ entry: entry.path, path: relative });
        entry.resume();
        return;
      }
      case 'Link': {
        const source = this.archivePath(entry.linkpath ?? '', entry.path, 'the hard link target');
        const sourcePath = join(this.root, ...source.split('/'));
        await this.checkComponents(entry.path, source, false);
        const info = await lstatOrUndefined(sourcePath);
        if (info === undefined || !info.isFile()) {
          throw new UnsafeArchiveError(
            entry.path,
            `the hard link target ${JSON.stringify(entry.linkpath)} is not a regular file of the archive`,
          );
        }
        await this.prepareParent(entry.path, relative);
        await this.assertAbsent(entry.path, target);
        await link(sourcePath, target);
        entry.resume();
        return;
      }
      default:
        // Devices, FIFOs and other special entries are not files a release ships; oras skips them too.
        entry.resume();
    }
  }

  // Checks every symbolic link again once all entries exist, since a later entry can complete a chain.
  async finish(): Promise<void> {
    for (const created of this.links) await this.assertLinkInside(created.entry, created.path);
    for (const directory of this.directories.reverse()) await chmod(directory.path, directory.mode);
  }

  // Normalizes an archive path and checks that it stays under the directory's name. `subject`
  // names the path in messages: the entry's own path, or the target of a link.
  private archivePath(path: string, entry: string, subject = 'the path'): string {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters.
    if (path === '' || /[\u0000-\u001f\\]/.test(path)) {
      throw new UnsafeArchiveError(
        entry,
        `${subject} is empty or contains a backslash or a control character`,
      );
    }
    if (posix.isAbsolute(path) || /^[a-zA-Z]:/.test(path)) {
      throw new UnsafeArchiveError(entry, `${subject} ${JSON.stringify(path)} is absolute`);
    }
    if (subject === 'the path' && path.split('/').includes('..')) {
      throw new UnsafeArchiveError(entry, 'the path contains ".."');
    }
    const normalized = posix.normalize(path).replace(/\/+$/, '');
    if (normalized !== this.name && !normalized.startsWith(`${this.name}/`)) {
      throw new UnsafeArchiveError(
        entry,
        `${subject} ${JSON.stringify(path)} lies outside the folder ${JSON.stringify(this.name)}`,
      );
    }
    return normalized;
  }

  // Creates the missing parent folders of `relative`, rejecting any component that is a symbolic link.
  private async prepareParent(entry: string, relative: string): Promise<void> {
    await this.checkComponents(entry, relative, true);
    const parent = join(this.root, ...relative.split('/').slice(0, -1));
    const real = await realpath(parent);
    if (real !== this.root && !real.startsWith(`${this.root}${sep}`)) {
      throw new UnsafeArchiveError(entry, `its folder resolves to ${real}, outside the output folder`);
    }
  }

  private async checkComponents(entry: string, relative: string, create: boolean): Promise<void> {
    const parts = relative.split('/').slice(0, -1);
    let current = this.root;
    for (const part of parts) {
      current = join(current, part);
      const info = await lstatOrUndefined(current);
      if (info === undefined) {
        if (!create) return;
        await mkdir(current, { mode: 0o700 });
        this.directories.push({ path: current, mode: 0o755 });
        continue;
      }
      if (info.isSymbolicLink()) {
        throw new UnsafeArchiveError(entry, `the path component ${JSON.stringify(part)} is a symbolic link`);
      }
      if (!info.isDirectory()) {
        throw new UnsafeArchiveError(entry, `the path component ${JSON.stringify(part)} is not a folder`);
      }
    }
  }

  private async assertAbsent(entry: string, target: string): Promise<void> {
    if ((await lstatOrUndefined(target)) !== undefined) {
      throw new UnsafeArchiveError(entry, 'an earlier entry has the same path');
    }
  }

  // Resolves the link hop by hop, as the kernel would, and rejects it when any step leaves the directory.
  private async assertLinkInside(entry: string, relative: string): Promise<void> {
    const stack = relative.split('/');
    const resolved: string[] = [];
    let hops = 0;

    while (stack.length > 0) {
      const part = stack.shift()!;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        resolved.pop();
        if (resolved.length === 0) {
          throw new UnsafeArchiveError(entry, 'the symbolic link resolves outside the unpacked folder');
        }
        continue;
      }
      resolved.push(part);
      const path = join(this.root, ...resolved);
      const info = await lstatOrUndefined(path);
      if (info?.isSymbolicLink()) {
        if (++hops > MAX_LINK_HOPS) throw new UnsafeArchiveError(entry, 'the symbolic links form a loop');
        const target = await readlink(path);
        if (posix.isAbsolute(target)) {
          throw new UnsafeArchiveError(
            entry,
            `a symbolic link on its way points to the absolute path ${target}`,
          );
        }
        resolved.pop();
        stack.unshift(...target.split('/'));
      }
    }
    if (resolved[0] !== this.name) {
      throw new UnsafeArchiveError(
        entry,
        `the symbolic link resolves outside the folder ${JSON.stringify(this.name)}`,
      );
    }
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
