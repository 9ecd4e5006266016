/**
 * Directories as blobs, in the form the oras CLI uses: one gzip-compressed tar archive whose
 * entries sit under the directory's name, with the annotations `io.deis.oras.content.digest` (the
 * digest of the uncompressed tar) and `io.deis.oras.content.unpack: "true"`.
 *
 * The archive is reproducible: entries in sorted order, every mtime set to `SOURCE_DATE_EPOCH` (or
 * zero), no owner ids or names, no access or change times, and a gzip header without a timestamp.
 */
import { createWriteStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { create as createTar } from 'tar';
import { createDigester, type Digest } from '../oci/digest.js';
import { InvalidInputError } from './errors.js';

/** Digest of the uncompressed tar archive of a directory blob; oras checks it after unpacking. */
export const ORAS_CONTENT_DIGEST = 'io.deis.oras.content.digest';
/** `"true"` on a blob that is a directory to unpack on pull. */
export const ORAS_CONTENT_UNPACK = 'io.deis.oras.content.unpack';

/** A directory packed into a tar+gzip file. */
export interface PackedDirectory {
  /** Path of the written `.tar.gz` file. */
  path: string;
  /** Digest and size of the compressed file, the blob. */
  digest: Digest;
  size: number;
  /** Digest of the uncompressed tar, the value of {@link ORAS_CONTENT_DIGEST}. */
  contentDigest: Digest;
}

/**
 * Returns the modification time written into archives: `SOURCE_DATE_EPOCH` seconds when it is set
 * (the reproducible-builds convention), else the Unix epoch.
 * @throws InvalidInputError when `SOURCE_DATE_EPOCH` is not a whole number of seconds.
 */
export function archiveTime(env: NodeJS.ProcessEnv = process.env): Date {
  const value = env['SOURCE_DATE_EPOCH'];
  if (value === undefined || value === '') return new Date(0);
  if (!/^\d+$/.test(value)) {
    throw new InvalidInputError(
      `invalid SOURCE_DATE_EPOCH ${JSON.stringify(value)}: use whole seconds since 1970-01-01 UTC`,
    );
  }
  return new Date(Number(value) * 1000);
}

/**
 * Packs `directory` into a tar+gzip file at `output`, every entry under the directory's base
 * name (`name/`, `name/file`), hashing both the tar and the gzip stream while they are written.
 * Symbolic links are stored as links, not followed. Two runs over the same tree give the same bytes.
 * @throws InvalidInputError when the directory holds a socket, device or FIFO.
 */
export async function packDirectory(
  directory: string,
  output: string,
  options: { mtime?: Date } = {},
): Promise<PackedDirectory> {
  const parent = dirname(directory);
  const name = basename(directory);
  const entries = [name, ...(await listTree(directory, name))];

  const tarDigester = createDigester();
  const blobDigester = createDigester();
  const tar = createTar(
    { cwd: parent, portable: true, mtime: options.mtime ?? archiveTime(), noDirRecurse: true },
    entries,
  );
  // Node's gzip writes a zero timestamp in its header, so the output depends on the input only.
  // NOTE: the header's OS byte and the deflate output come from the zlib that Node bundles, so
  // another Node release may produce other (equally valid) bytes for the same tree.
  await pipeline(
    tar,
    tap((chunk) => tarDigester.update(chunk)),
    createGzip({ level: 9 }),
    tap((chunk) => blobDigester.update(chunk)),
    createWriteStream(output, { flags: 'wx' }),
  );
  return {
    path: output,
    digest: blobDigester.digest(),
    size: blobDigester.size,
    contentDigest: tarDigester.digest(),
  };
}

// Lists every entry below `directory` as `prefix/relative/path`, depth first, names sorted by code point.
async function listTree(directory: string, prefix: string): Promise<string[]> {
  const names = (await readdir(directory)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const entries: string[] = [];
  for (const name of names) {
    const path = join(directory, name);
    const entry = `${prefix}/${name}`;
    // The same rule as the unpacking on pull, which would reject the whole folder for this entry.
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters.
    if (/[\u0000-\u001f\\]/.test(name)) {
      throw new InvalidInputError(
        `${JSON.stringify(path)} has a backslash or a control character in its name, so pull would reject the folder: rename it before pushing`,
      );
    }
    const info = await lstat(path);
    if (!(info.isFile() || info.isDirectory() || info.isSymbolicLink())) {
      throw new InvalidInputError(
        `${JSON.stringify(path)} is not a regular file, folder or symbolic link: remove it from the folder before pushing`,
      );
    }
    entries.push(entry);
    if (info.isDirectory()) entries.push(...(await listTree(path, entry)));
  }
  return entries;
}

function tap(observe: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      observe(chunk);
      callback(null, chunk);
    },
  });
}
