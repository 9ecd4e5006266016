/**
 * A whole build as one archive, `.zip` (for Windows and macOS users) or `.tar.gz`, streamed as it is
 * built: no temporary files, one blob open at a time, each file checked against its digest as it
 * passes, and Unix modes kept (ustar `mode`, zip external attributes).
 *
 * Only files whose name is a plain base name go in, so no archive can write outside the folder a user
 * extracts it to. The response header `Ocidrop-Skipped-Files` counts the files left out, and the
 * release page names them. A packed folder goes in as one `.tar.gz` file.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline as pipelineCallback, Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, createDeflateRaw, createGzip } from 'node:zlib';
import type { ContentSource } from '../content/source.js';
import { createDigester, type Digest, type Digester, parseDigest } from '../oci/digest.js';
import { DigestMismatchError } from '../oci/errors.js';
import { GatewayError } from './errors.js';
import { contentDisposition } from './http.js';
import type { Build, ReleaseFile } from './release.js';

/** Zip archives are written without Zip64, so every file and the whole archive must stay below 4 GiB. */
export const MAX_ZIP_SIZE = 0xffff_ffff - 64 * 1024 * 1024;

/** How to write an archive response. */
export interface ArchiveOptions {
  format: 'zip' | 'tar.gz';
  /** Base name of the archive and of the folder inside it, such as `hello-1.1.0-linux-amd64`. */
  name: string;
  /** RFC 3339 date used as each entry's modification time. */
  created: string | undefined;
  cacheControl: string;
  vary: readonly string[];
}

/**
 * Streams a build's files as an archive.
 * @throws GatewayError `FILE_NOT_FOUND` when no file can go in; `BAD_REQUEST` when a zip would need Zip64.
 */
export async function sendArchive(
  req: IncomingMessage,
  res: ServerResponse,
  source: ContentSource,
  repository: string,
  build: Build,
  options: ArchiveOptions,
): Promise<void> {
  // Files whose titles are not plain file names are left out; the count goes in `Ocidrop-Skipped-Files`.
  const files = build.files.filter((file) => file.problem === undefined && isPlainName(file.name));
  const skipped = build.files.length - files.length;
  if (files.length === 0)
    throw new GatewayError('FILE_NOT_FOUND', `the build has no files to put in an archive`);
  const total = files.reduce((sum, file) => sum + file.size, 0);
  if (options.format === 'zip' && total > MAX_ZIP_SIZE) {
    throw new GatewayError(
      'BAD_REQUEST',
      `the build is ${total} bytes, too large for a zip without Zip64; download archive.tar.gz instead`,
    );
  }

  const fileName = `${options.name}.${options.format}`;
  const headers: Record<string, string> = {
    'Content-Type': options.format === 'zip' ? 'application/zip' : 'application/gzip',
    'Content-Disposition': contentDisposition(fileName),
    'X-Content-Type-Options': 'nosniff',
    'Cache-Control': options.cacheControl,
  };
  if (options.vary.length > 0) headers['Vary'] = options.vary.join(', ');
  if (skipped > 0) headers['Ocidrop-Skipped-Files'] = String(skipped);
  res.writeHead(200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }

  const mtime =
    options.created && !Number.isNaN(Date.parse(options.created)) ? new Date(options.created) : new Date(0);
  const entries = files.map((file) => ({ file, path: `${options.name}/${file.name}` }));
  if (options.format === 'zip') {
    await pipeline(Readable.from(zipChunks(source, repository, entries, mtime)), res);
  } else {
    await pipeline(Readable.from(tarChunks(source, repository, entries, mtime)), createGzip(), res);
  }
}

/** Tells whether a file name can go into an archive: one path segment, no control characters. */
export function isPlainName(name: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what the check rejects.
  return name !== '.' && name !== '..' && name.length <= 255 && !/[/\\\u0000-\u001f\u007f]/.test(name);
}

interface Entry {
  file: ReleaseFile;
  path: string;
}

async function* tarChunks(
  source: ContentSource,
  repository: string,
  entries: Entry[],
  mtime: Date,
): AsyncGenerator<Buffer> {
  for (const { file, path } of entries) {
    yield* tarHeader(path, file, mtime);
    const reader = await source.blob(repository, file.digest);
    const check = new ContentCheck(file.digest, file.size);
    const checked = pipelineCallback(reader.stream, check, () => {});
    for await (const chunk of checked as AsyncIterable<Buffer>) yield chunk;
    if (!check.verified) throw new DigestMismatchError(`blob ${file.digest} ended before its last byte`);
    const padding = (512 - (file.size % 512)) % 512;
    if (padding > 0) yield Buffer.alloc(padding);
  }
  // The end of a tar archive: two zero blocks.
  yield Buffer.alloc(1024);
}

function* tarHeader(path: string, file: ReleaseFile, mtime: Date): Generator<Buffer> {
  const pathBytes = Buffer.from(path, 'utf8');
  const needsPax = pathBytes.length > 100 || !/^[\x20-\x7e]*$/.test(path) || file.size > 0o77777777777;
  if (needsPax) {
    // A POSIX pax extended header carries the exact UTF-8 path and any size past the 8 GiB of ustar.
    const records =
      paxRecord('path', path) + (file.size > 0o77777777777 ? paxRecord('size', String(file.size)) : '');
    const data = Buffer.from(records, 'utf8');
    yield ustarHeader('PaxHeader', data.length, 0o644, mtime, 'x');
    yield data;
    const padding = (512 - (data.length % 512)) % 512;
    if (padding > 0) yield Buffer.alloc(padding);
  }
  const shortName = needsPax ? path.replace(/[^\x20-\x7e]/g, '_').slice(0, 100) : path;
  yield ustarHeader(
    shortName,
    Math.min(file.size, 0o77777777777),
    file.mode ?? (file.main ? 0o755 : 0o644),
    mtime,
    '0',
  );
}

function ustarHeader(name: string, size: number, mode: number, mtime: Date, type: string): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 100, 'utf8');
  header.write(octal(mode & 0o7777, 7), 100, 'ascii');
  header.write(octal(0, 7), 108, 'ascii');
  header.write(octal(0, 7), 116, 'ascii');
  header.write(octal(size, 11), 124, 'ascii');
  header.write(octal(Math.floor(mtime.getTime() / 1000), 11), 136, 'ascii');
  header.write(' '.repeat(8), 148, 'ascii');
  header.write(type, 156, 'ascii');
  header.write('ustar\u000000', 257, 'ascii');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'ascii');
  return header;
}

function octal(value: number, digits: number): string {
  return `${value.toString(8).padStart(digits, '0')}\u0000`;
}

// A pax record is "<length> <key>=<value>\n", where the length counts itself.
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (String(length).length + Buffer.byteLength(body) !== length) length++;
  return `${length}${body}`;
}

async function* zipChunks(
  source: ContentSource,
  repository: string,
  entries: Entry[],
  mtime: Date,
): AsyncGenerator<Buffer> {
  const central: Buffer[] = [];
  let offset = 0;
  const { time, date } = dosDateTime(mtime);

  for (const { file, path } of entries) {
    const name = Buffer.from(path, 'utf8');
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4); // version needed: 2.0, deflate
    local.writeUInt16LE(0x0808, 6); // bit 3: sizes and CRC follow the data; bit 11: UTF-8 names
    local.writeUInt16LE(8, 8); // deflate
    local.writeUInt16LE(time, 10);
    local.writeUInt16LE(date, 12);
    local.writeUInt16LE(name.length, 26);
    const headerOffset = offset;
    yield local;
    yield name;
    offset += local.length + name.length;

    const reader = await source.blob(repository, file.digest);
    const check = new ContentCheck(file.digest, file.size);
    let compressedSize = 0;
    const compressed = pipelineCallback(reader.stream, check, createDeflateRaw(), () => {});
    for await (const chunk of compressed as AsyncIterable<Buffer>) {
      compressedSize += chunk.length;
      yield chunk;
    }
    if (!check.verified) throw new DigestMismatchError(`blob ${file.digest} ended before its last byte`);
    offset += compressedSize;

    const descriptor = Buffer.alloc(16);
    descriptor.writeUInt32LE(0x08074b50, 0);
    descriptor.writeUInt32LE(check.crc, 4);
    descriptor.writeUInt32LE(compressedSize, 8);
    descriptor.writeUInt32LE(file.size, 12);
    yield descriptor;
    offset += descriptor.length;

    const mode = file.mode ?? (file.main ? 0o755 : 0o644);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE((3 << 8) | 20, 4); // made by: Unix, so the external attributes hold the mode
    entry.writeUInt16LE(20, 6);
    entry.writeUInt16LE(0x0808, 8);
    entry.writeUInt16LE(8, 10);
    entry.writeUInt16LE(time, 12);
    entry.writeUInt16LE(date, 14);
    entry.writeUInt32LE(check.crc, 16);
    entry.writeUInt32LE(compressedSize, 20);
    entry.writeUInt32LE(file.size, 24);
    entry.writeUInt16LE(name.length, 28);
    entry.writeUInt32LE(((0o100000 | (mode & 0o7777)) << 16) >>> 0, 38);
    entry.writeUInt32LE(headerOffset, 42);
    central.push(entry, name);
  }

  const directory = Buffer.concat(central);
  yield directory;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  yield end;
}

// MS-DOS date and time as zip stores them, in UTC; years before 1980 become 1980-01-01.
function dosDateTime(value: Date): { time: number; date: number } {
  if (value.getUTCFullYear() < 1980) return { time: 0, date: (0 << 9) | (1 << 5) | 1 };
  return {
    time: (value.getUTCHours() << 11) | (value.getUTCMinutes() << 5) | Math.floor(value.getUTCSeconds() / 2),
    date: ((value.getUTCFullYear() - 1980) << 9) | ((value.getUTCMonth() + 1) << 5) | value.getUTCDate(),
  };
}

/** Passes a blob through while computing its digest and CRC-32; fails at the end when size or digest differ. */
class ContentCheck extends Transform {
  crc = 0;
  verified = false;
  private readonly digester: Digester;
  private readonly expected: Digest;
  private readonly size: number;

  constructor(expected: Digest, size: number) {
    super();
    this.expected = expected;
    this.size = size;
    this.digester = createDigester(parseDigest(expected).algorithm);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.digester.update(chunk);
    this.crc = crc32(chunk, this.crc);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    const actual = this.digester.digest();
    if (this.digester.size !== this.size || actual !== this.expected) {
      callback(
        new DigestMismatchError(
          `digest mismatch for blob ${this.expected}: received ${this.digester.size} bytes with digest ${actual}`,
        ),
      );
      return;
    }
    this.verified = true;
    callback();
  }
}
