/**
 * An OCI image layout on disk (image-spec `image-layout.md`) as an {@link ArtifactStore}, so that
 * push, pull and copy can write to or read from a folder instead of a registry: `oci-layout`,
 * `index.json` with tags as `org.opencontainers.image.ref.name`, and `blobs/<alg>/<hex>`.
 *
 * Blobs are written to a temporary file, verified against their digest, flushed and renamed into
 * place; `index.json` is replaced the same way. Referrers are kept as the fallback tag index
 * `<alg>-<hex>` of their subject, the form distribution-spec defines for registries without the
 * referrers API.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobReader, ByteRange, FetchedManifest } from '../content/source.js';
import { REF_NAME } from '../oci/annotations.js';
import { createDigester, type Digest, digestOf, isDigest, parseDigest } from '../oci/digest.js';
import { DigestMismatchError } from '../oci/errors.js';
import { type Descriptor, encodeManifest, type ImageIndex, parseManifest } from '../oci/manifest.js';
import { OCI_INDEX } from '../oci/media-types.js';
import { isTag } from '../oci/reference.js';
import { InvalidInputError, RegistryResponseError } from './errors.js';
import type { ManifestInfo } from './registry-client.js';
import { referrersTag } from './registry-client.js';

const LAYOUT_FILE = '{"imageLayoutVersion":"1.0.0"}';

/** An OCI image layout folder, opened with {@link OciLayout.open}. */
export class OciLayout {
  /** Shown where a registry host would be. */
  readonly host: string;

  private constructor(readonly root: string) {
    this.host = root;
  }

  /**
   * Opens the layout at `root`. With `create`, a missing or empty folder becomes a new layout.
   * @throws InvalidInputError when the folder is not an OCI image layout (no `oci-layout` file).
   */
  static async open(root: string, options: { create?: boolean } = {}): Promise<OciLayout> {
    const marker = join(root, 'oci-layout');
    try {
      const version = JSON.parse(await readFile(marker, 'utf8')) as { imageLayoutVersion?: unknown };
      if (typeof version.imageLayoutVersion !== 'string') throw new Error('no imageLayoutVersion');
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      if (!missing || !options.create) {
        throw new InvalidInputError(
          `${root} is not an OCI image layout: ${missing ? 'it has no oci-layout file' : (error as Error).message}`,
          { cause: error },
        );
      }
      await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
      await writeAtomic(marker, LAYOUT_FILE);
      await writeAtomic(join(root, 'index.json'), encodeManifest(emptyIndex()));
    }
    return new OciLayout(root);
  }

  /** Returns a manifest's digest, media type and size, or undefined when the layout lacks it. */
  async headManifest(_repository: string, reference: string): Promise<ManifestInfo | undefined> {
    const descriptor = await this.find(reference);
    if (descriptor === undefined) return undefined;
    return { digest: descriptor.digest, mediaType: descriptor.mediaType, size: descriptor.size };
  }

  /**
   * Reads a manifest by tag or digest and verifies its bytes.
   * @throws RegistryResponseError with status 404 and `MANIFEST_UNKNOWN`, as a registry returns it.
   */
  async getManifest(_repository: string, reference: string): Promise<FetchedManifest> {
    const descriptor = await this.find(reference);
    if (descriptor === undefined) throw this.notFound('MANIFEST_UNKNOWN', `manifest ${reference}`);
    const bytes = await readFile(this.blobPath(descriptor.digest));
    const digest = digestOf(bytes, parseDigest(descriptor.digest).algorithm);
    if (digest !== descriptor.digest) {
      throw new DigestMismatchError(`${this.blobPath(descriptor.digest)} has digest ${digest}`);
    }
    return { digest, mediaType: parseManifest(bytes, descriptor.mediaType).mediaType, bytes };
  }

  /** Stores a manifest; a tag also replaces that tag's entry in `index.json`. */
  async putManifest(
    _repository: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
  ): Promise<Digest> {
    return (await this.pushManifest(_repository, reference, bytes, mediaType)).digest;
  }

  /** Stores a manifest like {@link putManifest}; a layout never processes `subject` itself. */
  async pushManifest(
    _repository: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
  ): Promise<{ digest: Digest; subjectProcessed: boolean }> {
    const digest = digestOf(bytes);
    if (isDigest(reference) && reference !== digest) {
      throw new DigestMismatchError(`the manifest has digest ${digest}, not ${reference}`);
    }
    await this.writeBlob(digest, Readable.from([bytes]));
    if (!isDigest(reference)) {
      if (!isTag(reference)) throw new InvalidInputError(`invalid tag ${JSON.stringify(reference)}`);
      const index = await this.readIndex();
      const manifests = index.manifests.filter((entry) => entry.annotations?.[REF_NAME] !== reference);
      manifests.push({ mediaType, digest, size: bytes.byteLength, annotations: { [REF_NAME]: reference } });
      await this.writeIndex({ ...index, manifests });
    }
    return { digest, subjectProcessed: false };
  }

  /** Removes every `index.json` entry of the manifest; its blob stays, as garbage for later cleanup. */
  async deleteManifest(_repository: string, digest: Digest): Promise<void> {
    const index = await this.readIndex();
    const manifests = index.manifests.filter((entry) => entry.digest !== digest);
    if (manifests.length === index.manifests.length)
      throw this.notFound('MANIFEST_UNKNOWN', `manifest ${digest}`);
    await this.writeIndex({ ...index, manifests });
  }

  /** Returns a blob's size, or undefined when the layout lacks it. */
  async headBlob(_repository: string, digest: Digest): Promise<{ size: number } | undefined> {
    try {
      return { size: (await stat(this.blobPath(digest))).size };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Opens a blob, or an inclusive byte range of it. */
  async getBlob(_repository: string, digest: Digest, range?: ByteRange): Promise<BlobReader> {
    const info = await this.headBlob(_repository, digest);
    if (info === undefined) throw this.notFound('BLOB_UNKNOWN', `blob ${digest}`);
    if (range === undefined) return { size: info.size, stream: createReadStream(this.blobPath(digest)) };
    return {
      size: info.size,
      stream: createReadStream(this.blobPath(digest), { start: range.start, end: range.end }),
      range,
    };
  }

  /** Writes a blob unless the layout has it, verifying size and digest before it takes its name. */
  async uploadBlob(
    _repository: string,
    blob: { digest: Digest; size: number },
    open: (range?: ByteRange) => Readable | Buffer,
  ): Promise<{ uploaded: boolean }> {
    const existing = await this.headBlob(_repository, blob.digest);
    if (existing !== undefined && existing.size === blob.size) return { uploaded: false };
    const content = open();
    await this.writeBlob(
      blob.digest,
      Buffer.isBuffer(content) ? Readable.from([content]) : content,
      blob.size,
    );
    return { uploaded: true };
  }

  /** Deletes a blob file. */
  async deleteBlob(_repository: string, digest: Digest): Promise<void> {
    try {
      await unlink(this.blobPath(digest));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        throw this.notFound('BLOB_UNKNOWN', `blob ${digest}`);
      throw error;
    }
  }

  /** Returns false, because a layout has one repository and nothing to mount from. */
  async mountBlob(): Promise<boolean> {
    return false;
  }

  /** Lists the referrers of `digest` from its fallback tag index. */
  async referrers(_repository: string, digest: Digest, artifactType?: string): Promise<Descriptor[]> {
    const descriptor = await this.find(referrersTag(digest));
    if (descriptor === undefined) return [];
    const fetched = await this.getManifest(_repository, referrersTag(digest));
    const parsed = parseManifest(fetched.bytes, fetched.mediaType);
    const entries = parsed.kind === 'index' ? parsed.manifest.manifests : [];
    return artifactType === undefined
      ? entries
      : entries.filter((entry) => entry.artifactType === artifactType);
  }

  /** Lists the tags in `index.json`. */
  async tags(): Promise<string[]> {
    const index = await this.readIndex();
    return index.manifests.flatMap((entry) => entry.annotations?.[REF_NAME] ?? []).sort();
  }

  /** Returns the path of a blob file. */
  blobUrl(_repository: string, digest: Digest): string {
    return this.blobPath(digest);
  }

  /** Nothing to close; present so that a layout can stand in for a registry client. */
  async close(): Promise<void> {}

  private blobPath(digest: Digest): string {
    const { algorithm, encoded } = parseDigest(digest);
    return join(this.root, 'blobs', algorithm, encoded);
  }

  private async find(reference: string): Promise<Descriptor | undefined> {
    const index = await this.readIndex();
    if (isDigest(reference)) {
      const listed = index.manifests.find((entry) => entry.digest === reference);
      if (listed !== undefined) return listed;
      // A child manifest of an index is not listed in index.json but is stored all the same.
      const info = await this.headBlob('', reference);
      if (info === undefined) return undefined;
      const bytes = await readFile(this.blobPath(reference));
      return { mediaType: parseManifest(bytes).mediaType, digest: reference, size: info.size };
    }
    return index.manifests.find((entry) => entry.annotations?.[REF_NAME] === reference);
  }

  private async readIndex(): Promise<ImageIndex> {
    const bytes = await readFile(join(this.root, 'index.json'));
    const parsed = parseManifest(bytes, OCI_INDEX);
    if (parsed.kind !== 'index')
      throw new InvalidInputError(`${join(this.root, 'index.json')} is not an image index`);
    return parsed.manifest;
  }

  private async writeIndex(index: ImageIndex): Promise<void> {
    await writeAtomic(join(this.root, 'index.json'), encodeManifest(index));
  }

  private async writeBlob(digest: Digest, content: Readable, size?: number): Promise<void> {
    const path = this.blobPath(digest);
    await mkdir(dirname(path), { recursive: true });
    const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
    const digester = createDigester(parseDigest(digest).algorithm);
    try {
      await pipeline(
        content,
        tap((chunk) => digester.update(chunk)),
        createWriteStream(temp, { flags: 'wx' }),
      );
      const actual = digester.digest();
      if (actual !== digest || (size !== undefined && digester.size !== size)) {
        throw new DigestMismatchError(
          `content for ${digest} has digest ${actual} and ${digester.size} bytes`,
        );
      }
      await syncFile(temp);
      await rename(temp, path);
    } finally {
      await rm(temp, { force: true });
    }
  }

  private notFound(code: string, what: string): RegistryResponseError {
    return new RegistryResponseError({
      method: 'GET',
      url: this.root,
      status: 404,
      errors: [{ code, message: `${what} is not in the OCI image layout ${this.root}` }],
    });
  }
}

function emptyIndex(): ImageIndex {
  return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
}

async function writeAtomic(path: string, data: string | Buffer): Promise<void> {
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temp, 'wx', 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function tap(observe: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      observe(chunk);
      callback(null, chunk);
    },
  });
}
