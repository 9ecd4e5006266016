/**
 * The embedded registry's storage on the local file system: shared content-addressed blobs, an
 * OCI image layout per repository, and upload sessions (the layout is described in
 * docs/STORAGE.md). It implements `ContentSource`, so the download gateway reads it directly.
 */
import { mkdir, readdir, readFile, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobReader, ByteRange, ContentSource, FetchedManifest } from '../content/source.js';
import { type Digest, digestOf, isDigest } from '../oci/digest.js';
import { InvalidManifestError, RegistryError } from '../oci/errors.js';
import { type Descriptor, MAX_MANIFEST_SIZE, parseManifest } from '../oci/manifest.js';
import { isTag } from '../oci/reference.js';
import { linkOrCopy, syncDirectory, TEMP_PREFIX, writeFileAtomic } from './atomic.js';
import type { BlobInfo, ExpectedContent } from './blob-store.js';
import { withFileLock } from './file-lock.js';
import { FsBlobStore, openBlobFile, parseDigestOrThrow } from './fs-blobs.js';
import { checkRepositoryName, LAYOUT_FOLDER, OCI_LAYOUT_FILE, StoreLayout } from './layout.js';
import { KeyedMutex } from './mutex.js';
import {
  addUntagged,
  emptyIndex,
  findDigest,
  findTag,
  type LayoutIndex,
  readLayoutIndex,
  removeDigest,
  removeTag,
  setTag,
  tagOf,
  writeLayoutIndex,
} from './repository-index.js';
import { DEFAULT_UPLOAD_TTL_MS, FsUploads } from './uploads.js';

/** Options of {@link FsStore.open}. */
export interface FsStoreOptions {
  /**
   * How long an upload session lives after its last write, in milliseconds.
   * @default 3600000 (one hour)
   */
  uploadTtlMs?: number;
}

/** A manifest that was stored, with what the registry reports back to the client. */
export interface StoredManifest {
  digest: Digest;
  mediaType: string;
  size: number;
  /** Digest of the manifest's `subject`, when it has one. */
  subject?: Digest;
}

/** Fields of one manifest that the referrers API returns, cached because a manifest never changes. */
interface ManifestSummary {
  mediaType: string;
  size: number;
  artifactType?: string;
  subject?: Digest;
  annotations?: Record<string, string>;
}

const SUMMARY_CACHE_LIMIT = 10_000;

/** Lock file beside `index.json`; its leading dot keeps it out of the OCI image layout's names. */
const INDEX_LOCK_FILE = '.index.json.lock';

/** Filesystem storage of the embedded registry. Create it with {@link FsStore.open}. */
export class FsStore implements ContentSource {
  /** The store's folder. */
  readonly root: string;
  /** The shared, content-addressed blobs. */
  readonly blobs: FsBlobStore;
  /** Upload sessions. */
  readonly uploads: FsUploads;
  private readonly layout: StoreLayout;
  private readonly indexLocks = new KeyedMutex();
  private readonly summaries = new Map<Digest, ManifestSummary>();

  private constructor(root: string, options: FsStoreOptions) {
    this.root = root;
    this.layout = new StoreLayout(root);
    this.blobs = new FsBlobStore(this.layout.blobs);
    this.uploads = new FsUploads(this.layout, this.blobs, options.uploadTtlMs ?? DEFAULT_UPLOAD_TTL_MS);
  }

  /** Opens the store in `dir`, creating its folders when they do not exist. */
  static async open(dir: string, options: FsStoreOptions = {}): Promise<FsStore> {
    const store = new FsStore(dir, options);
    for (const folder of [store.layout.blobs, store.layout.repositories, store.layout.uploads]) {
      await mkdir(folder, { recursive: true });
    }
    return store;
  }

  // ContentSource

  async repositories(): Promise<string[]> {
    const names: string[] = [];
    await collectRepositories(this.layout.repositories, [], names);
    return names.sort();
  }

  async tags(repository: string): Promise<string[]> {
    const index = await this.requireIndex(repository);
    const tags = new Set<string>();
    for (const entry of index.manifests) {
      const tag = tagOf(entry);
      if (tag !== undefined) tags.add(tag);
    }
    return [...tags].sort();
  }

  async manifest(repository: string, reference: string): Promise<FetchedManifest> {
    const entry = await this.resolveManifest(repository, reference);
    const bytes = await this.readLinked(repository, entry.digest, () =>
      manifestUnknown(repository, reference),
    );
    return { digest: entry.digest, mediaType: entry.mediaType, bytes };
  }

  async blob(repository: string, digest: Digest, range?: ByteRange): Promise<BlobReader> {
    checkRepositoryName(repository);
    parseDigestOrThrow(digest);
    try {
      return await openBlobFile(this.linkPath(repository, digest), digest, range);
    } catch (error) {
      if (error instanceof RegistryError && error.code === 'BLOB_UNKNOWN')
        throw blobUnknown(repository, digest);
      throw error;
    }
  }

  // Blobs of a repository

  /** Returns the size of a blob of `repository`. */
  async statBlob(repository: string, digest: Digest): Promise<BlobInfo> {
    checkRepositoryName(repository);
    parseDigestOrThrow(digest);
    try {
      const info = await stat(this.linkPath(repository, digest));
      return { digest, size: info.size };
    } catch (error) {
      if (isMissing(error)) throw blobUnknown(repository, digest);
      throw error;
    }
  }

  /** Stores a blob from a stream, verified against `expected`, and adds it to `repository`. */
  async putBlob(
    repository: string,
    source: AsyncIterable<Uint8Array>,
    expected: ExpectedContent = {},
  ): Promise<BlobInfo> {
    checkRepositoryName(repository);
    const info = await this.blobs.write(source, expected);
    await this.linkBlob(repository, info.digest);
    return info;
  }

  /**
   * Adds a blob already in the shared store to `repository`.
   * @throws RegistryError `BLOB_UNKNOWN` when the shared store does not have it.
   */
  async linkBlob(repository: string, digest: Digest): Promise<void> {
    checkRepositoryName(repository);
    await this.ensureRepository(repository);
    try {
      await this.blobs.touch(digest);
      await linkOrCopy(this.blobs.pathOf(digest), this.linkPath(repository, digest));
    } catch (error) {
      if (isMissing(error)) throw blobUnknown(repository, digest);
      throw error;
    }
  }

  /**
   * Copies the membership of a blob from one repository to another without copying its bytes,
   * for a cross-repository mount. Returns false when `from` does not contain the blob.
   */
  async mountBlob(repository: string, digest: Digest, from: string): Promise<BlobInfo | undefined> {
    checkRepositoryName(from);
    let info: BlobInfo;
    try {
      info = await this.statBlob(from, digest);
    } catch (error) {
      if (error instanceof RegistryError && error.code === 'BLOB_UNKNOWN') return undefined;
      throw error;
    }
    await this.linkBlob(repository, digest);
    return info;
  }

  /** Completes an upload session and adds the blob to the session's repository. */
  async completeUpload(
    repository: string,
    id: string,
    digest: Digest,
    source?: AsyncIterable<Uint8Array>,
    position?: { start?: number; length?: number },
  ): Promise<BlobInfo> {
    const info = await this.uploads.complete(repository, id, digest, source, position);
    await this.linkBlob(repository, info.digest);
    return info;
  }

  /**
   * Removes a blob from `repository`. The shared bytes stay until garbage collection finds no
   * repository that contains them.
   */
  async deleteBlob(repository: string, digest: Digest): Promise<void> {
    checkRepositoryName(repository);
    parseDigestOrThrow(digest);
    try {
      await unlink(this.linkPath(repository, digest));
    } catch (error) {
      if (isMissing(error)) throw blobUnknown(repository, digest);
      throw error;
    }
  }

  // Manifests

  /**
   * Finds the index entry of a manifest by tag or digest.
   * @throws RegistryError `NAME_UNKNOWN`, `MANIFEST_UNKNOWN`, or `TAG_INVALID`/`DIGEST_INVALID` for a malformed reference.
   */
  async resolveManifest(repository: string, reference: string): Promise<Descriptor> {
    checkReference(reference);
    const index = await this.requireIndex(repository);
    const entry = isDigest(reference) ? findDigest(index, reference) : findTag(index, reference);
    if (!entry) throw manifestUnknown(repository, reference);
    return entry;
  }

  /**
   * Validates and stores a manifest or index under a tag or its digest
   * (distribution-spec `spec.md`, "Pushing Manifests").
   *
   * Every blob a manifest references and every manifest an index references must already be in the
   * repository; a `subject` need not be.
   * @throws RegistryError `MANIFEST_INVALID`, `DIGEST_INVALID`, `TAG_INVALID` or `MANIFEST_BLOB_UNKNOWN`.
   */
  async putManifest(
    repository: string,
    reference: string,
    bytes: Buffer,
    contentType?: string,
  ): Promise<StoredManifest> {
    checkRepositoryName(repository);
    checkReference(reference);
    if (bytes.byteLength > MAX_MANIFEST_SIZE) {
      throw new RegistryError(
        'MANIFEST_INVALID',
        `manifest is ${bytes.byteLength} bytes, more than the limit of ${MAX_MANIFEST_SIZE}`,
      );
    }

    let parsed: ReturnType<typeof parseManifest>;
    try {
      parsed = parseManifest(bytes, contentType);
    } catch (error) {
      if (error instanceof InvalidManifestError)
        throw new RegistryError('MANIFEST_INVALID', error.message, undefined, { cause: error });
      throw error;
    }

    const algorithm = isDigest(reference) ? parseDigestOrThrow(reference).algorithm : 'sha256';
    const digest = digestOf(bytes, algorithm);
    if (isDigest(reference) && digest !== reference) {
      throw new RegistryError(
        'DIGEST_INVALID',
        `manifest has digest ${digest}, not the ${reference} in the URL`,
        { expected: reference, actual: digest },
      );
    }

    const references =
      parsed.kind === 'index'
        ? parsed.manifest.manifests
        : [parsed.manifest.config, ...parsed.manifest.layers];
    const now = new Date();
    for (const descriptor of references) {
      // Foreign (non-distributable) layers live at their URLs, not in the registry.
      if (descriptor.urls && descriptor.urls.length > 0) continue;
      try {
        // Touching the file, rather than only checking it, marks the blob as in use again for a
        // concurrent garbage collection, so its grace period protects it.
        await utimes(this.linkPath(repository, descriptor.digest), now, now);
      } catch (error) {
        if (!isMissing(error)) throw error;
        throw new RegistryError(
          'MANIFEST_BLOB_UNKNOWN',
          `manifest references ${descriptor.digest}, which repository ${repository} does not contain: push it first`,
          {
            digest: descriptor.digest,
          },
        );
      }
    }

    await this.blobs.write([bytes], { digest, size: bytes.byteLength });
    await this.linkBlob(repository, digest);

    const subject = parsed.manifest.subject?.digest;
    const descriptor: Descriptor = { mediaType: parsed.mediaType, digest, size: bytes.byteLength };
    if (parsed.manifest.artifactType !== undefined) descriptor.artifactType = parsed.manifest.artifactType;
    await this.updateIndex(repository, (index) => {
      if (isDigest(reference)) addUntagged(index, descriptor);
      else setTag(index, reference, descriptor);
      return true;
    });

    const stored: StoredManifest = { digest, mediaType: parsed.mediaType, size: bytes.byteLength };
    if (subject !== undefined) stored.subject = subject;
    return stored;
  }

  /**
   * Deletes a manifest by digest, with every tag that points at it.
   * @throws RegistryError `MANIFEST_UNKNOWN` when the repository does not have it.
   */
  async deleteManifest(repository: string, digest: Digest): Promise<void> {
    parseDigestOrThrow(digest);
    const removed = await this.updateIndex(repository, (index) => removeDigest(index, digest));
    if (!removed) throw manifestUnknown(repository, digest);
    await unlink(this.linkPath(repository, digest)).catch((error: unknown) => {
      if (!isMissing(error)) throw error;
    });
  }

  /**
   * Deletes a tag; the manifest stays reachable by digest.
   * @throws RegistryError `MANIFEST_UNKNOWN` when the repository has no such tag.
   */
  async deleteTag(repository: string, tag: string): Promise<void> {
    checkReference(tag);
    const removed = await this.updateIndex(repository, (index) => removeTag(index, tag));
    if (!removed) throw manifestUnknown(repository, tag);
  }

  /**
   * Lists the manifests of `repository` whose `subject` is `digest`, as descriptors for the
   * referrers API (distribution-spec `spec.md`, "Listing Referrers"), optionally only those of one
   * `artifactType`. An unknown repository has no referrers.
   */
  async referrers(repository: string, digest: Digest, artifactType?: string): Promise<Descriptor[]> {
    checkRepositoryName(repository);
    parseDigestOrThrow(digest);
    const index = await readLayoutIndex(this.layout.repository(repository));
    if (!index) return [];
    const seen = new Set<Digest>();
    const result: Descriptor[] = [];
    for (const entry of index.manifests) {
      if (seen.has(entry.digest)) continue;
      seen.add(entry.digest);
      const summary = await this.summarize(repository, entry.digest).catch(() => undefined);
      if (!summary || summary.subject !== digest) continue;
      if (artifactType !== undefined && summary.artifactType !== artifactType) continue;
      const descriptor: Descriptor = {
        mediaType: summary.mediaType,
        digest: entry.digest,
        size: summary.size,
      };
      if (summary.artifactType !== undefined) descriptor.artifactType = summary.artifactType;
      if (summary.annotations !== undefined) descriptor.annotations = summary.annotations;
      result.push(descriptor);
    }
    return result;
  }

  /** Tells whether a repository exists. */
  async hasRepository(repository: string): Promise<boolean> {
    checkRepositoryName(repository);
    return (await readLayoutIndex(this.layout.repository(repository))) !== undefined;
  }

  /** Reads a repository's `index.json`. */
  async readIndex(repository: string): Promise<LayoutIndex> {
    return this.requireIndex(repository);
  }

  /**
   * Changes a repository's `index.json` under the repository's lock. `change` edits the index in
   * place and returns whether it changed anything; only then is the file rewritten.
   */
  async updateIndex(repository: string, change: (index: LayoutIndex) => boolean): Promise<boolean> {
    checkRepositoryName(repository);
    const folder = this.layout.repository(repository);
    // The in-process lock queues this process's updates; the lock file excludes other processes.
    return this.indexLocks.run(repository, () =>
      withFileLock(join(folder, INDEX_LOCK_FILE), async () => {
        const index = await readLayoutIndex(folder);
        if (!index) throw nameUnknown(repository);
        const changed = change(index);
        if (changed) await writeLayoutIndex(folder, index);
        return changed;
      }),
    );
  }

  /** Returns the OCI image layout folder of a repository. */
  repositoryFolder(repository: string): string {
    checkRepositoryName(repository);
    return this.layout.repository(repository);
  }

  private linkPath(repository: string, digest: Digest): string {
    const { algorithm, encoded } = parseDigestOrThrow(digest);
    return join(this.layout.repository(repository), 'blobs', algorithm, encoded);
  }

  private async requireIndex(repository: string): Promise<LayoutIndex> {
    checkRepositoryName(repository);
    const index = await readLayoutIndex(this.layout.repository(repository));
    if (!index) throw nameUnknown(repository);
    return index;
  }

  private async ensureRepository(repository: string): Promise<void> {
    const folder = this.layout.repository(repository);
    await this.indexLocks.run(repository, async () => {
      if (await readLayoutIndex(folder)) return;
      await mkdir(join(folder, 'blobs'), { recursive: true });
      await writeFileAtomic(join(folder, 'oci-layout'), OCI_LAYOUT_FILE);
      await writeLayoutIndex(folder, emptyIndex());
      await syncDirectory(join(folder, '..'));
    });
  }

  private async readLinked(
    repository: string,
    digest: Digest,
    missing: () => RegistryError,
  ): Promise<Buffer> {
    try {
      return await readFile(this.linkPath(repository, digest));
    } catch (error) {
      if (isMissing(error)) throw missing();
      throw error;
    }
  }

  private async summarize(repository: string, digest: Digest): Promise<ManifestSummary> {
    const cached = this.summaries.get(digest);
    if (cached) return cached;
    const bytes = await this.readLinked(repository, digest, () => manifestUnknown(repository, digest));
    const parsed = parseManifest(bytes);
    const summary: ManifestSummary = { mediaType: parsed.mediaType, size: bytes.byteLength };
    const artifactType =
      parsed.manifest.artifactType ??
      (parsed.kind === 'manifest' ? parsed.manifest.config.mediaType : undefined);
    if (artifactType !== undefined) summary.artifactType = artifactType;
    if (parsed.manifest.subject) summary.subject = parsed.manifest.subject.digest;
    if (parsed.manifest.annotations) summary.annotations = parsed.manifest.annotations;
    if (this.summaries.size >= SUMMARY_CACHE_LIMIT) this.summaries.clear();
    this.summaries.set(digest, summary);
    return summary;
  }
}

/**
 * Checks that a manifest reference is a tag or a digest.
 * @throws RegistryError `DIGEST_INVALID` for a malformed digest, `TAG_INVALID` for a malformed tag.
 */
export function checkReference(reference: string): void {
  if (reference.includes(':')) {
    parseDigestOrThrow(reference);
    return;
  }
  if (!isTag(reference)) {
    throw new RegistryError(
      'TAG_INVALID',
      `invalid tag ${JSON.stringify(reference)}: use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'`,
      {
        tag: reference,
      },
    );
  }
}

async function collectRepositories(folder: string, parts: string[], names: string[]): Promise<void> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return;
    throw error;
  }
  for (const entry of entries) {
    if (!entry.isDirectory() || entry.name.startsWith(TEMP_PREFIX)) continue;
    if (entry.name === LAYOUT_FOLDER) {
      if ((await readLayoutIndex(join(folder, entry.name))) !== undefined) names.push(parts.join('/'));
      continue;
    }
    if (entry.name.startsWith('_') || entry.name.startsWith('.')) continue;
    await collectRepositories(join(folder, entry.name), [...parts, entry.name], names);
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function nameUnknown(repository: string): RegistryError {
  return new RegistryError('NAME_UNKNOWN', `repository ${repository} is not known to the registry`, {
    name: repository,
  });
}

function manifestUnknown(repository: string, reference: string): RegistryError {
  return new RegistryError('MANIFEST_UNKNOWN', `manifest ${reference} is not in repository ${repository}`, {
    name: repository,
    reference,
  });
}

function blobUnknown(repository: string, digest: Digest): RegistryError {
  return new RegistryError('BLOB_UNKNOWN', `blob ${digest} is not in repository ${repository}`, {
    name: repository,
    digest,
  });
}
