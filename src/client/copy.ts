/**
 * `copy`: copies a manifest or index with everything it points at from one repository to another,
 * on the same registry or across registries, optionally with its referrers. Children go first and
 * the tag last, so the target tag never points at content that is not there yet.
 */
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ByteRange } from '../content/source.js';
import type { Digest } from '../oci/digest.js';
import { type Descriptor, parseManifest } from '../oci/manifest.js';
import type { Reference } from '../oci/reference.js';
import { DEFAULT_CONCURRENCY, mapWithLimit } from './concurrency.js';
import { type ConnectOptions, toReference, withClient } from './connect.js';
import { InvalidInputError } from './errors.js';
import { MAX_REFERRER_DEPTH, pushReferrer } from './referrers.js';
import { fetchTop } from './resolve.js';
import type { ArtifactStore } from './store.js';

/** Options of {@link copy}. */
export interface CopyOptions {
  /** Connection settings of the source registry. */
  source?: ConnectOptions;
  /** Connection settings of the target registry. */
  target?: ConnectOptions;
  /** Copy the referrers too (signatures, SBOMs, notes), and theirs. @default false */
  referrers?: boolean;
  /** Blobs copied at once. @default {@link DEFAULT_CONCURRENCY} */
  concurrency?: number;
}

/** Summary of a {@link copy}. */
export interface CopyResult {
  source: string;
  target: string;
  digest: Digest;
  /** Manifests and indexes written, the top one included. */
  manifests: number;
  /** Blobs sent, mounted or found present. */
  blobs: { uploaded: number; mounted: number; skipped: number };
}

/**
 * Copies `sourceReference` to `targetReference`. A target without tag or digest takes the source's tag.
 * Within one registry, blobs are mounted from the source repository instead of sent again.
 * @throws InvalidInputError when the target names a digest other than the source's.
 */
export async function copy(
  sourceReference: string | Reference,
  targetReference: string | Reference,
  options: CopyOptions = {},
): Promise<CopyResult> {
  const source = toReference(sourceReference, 'latest');
  const parsedTarget = toReference(targetReference);
  const target =
    parsedTarget.reference === undefined && source.tag !== undefined
      ? parsedTarget.withTag(source.tag)
      : parsedTarget;

  return withClient(source, options.source ?? {}, (from) =>
    withClient(target, options.target ?? {}, async (to) => {
      const copier = new Copier(from, source.repository, to, target.repository, {
        mount: source.registry === target.registry,
        concurrency: options.concurrency ?? DEFAULT_CONCURRENCY,
      });
      const top = await fetchTop(from, source);
      if (target.digest !== undefined && target.digest !== top.digest) {
        throw new InvalidInputError(`${target} names another digest than ${source}, which is ${top.digest}`);
      }
      await copier.copyChildren(top.bytes, top.mediaType);
      await to.putManifest(target.repository, target.tag ?? top.digest, top.bytes, top.mediaType);
      copier.manifests++;
      if (options.referrers) await copier.copyReferrers(top.digest, 1);
      return {
        source: source.toString(),
        target: target.toString(),
        digest: top.digest,
        manifests: copier.manifests,
        blobs: copier.blobs,
      };
    }),
  );
}

class Copier {
  manifests = 0;
  readonly blobs = { uploaded: 0, mounted: 0, skipped: 0 };
  private readonly copied = new Set<Digest>();

  constructor(
    private readonly from: ArtifactStore,
    private readonly fromRepository: string,
    private readonly to: ArtifactStore,
    private readonly toRepository: string,
    private readonly options: { mount: boolean; concurrency: number },
  ) {}

  // Copies what a manifest points at: the manifests of an index, or the config and blobs of a manifest.
  async copyChildren(bytes: Buffer, mediaType: string): Promise<void> {
    const parsed = parseManifest(bytes, mediaType);
    if (parsed.kind === 'index') {
      for (const entry of parsed.manifest.manifests) await this.copyManifest(entry.digest);
      return;
    }
    const blobs = [parsed.manifest.config, ...parsed.manifest.layers];
    await mapWithLimit(blobs, this.options.concurrency, (blob) => this.copyBlob(blob));
  }

  async copyReferrers(subject: Digest, depth: number): Promise<void> {
    const referrers = await this.from.referrers(this.fromRepository, subject);
    for (const referrer of referrers) {
      const fetched = await this.from.getManifest(this.fromRepository, referrer.digest);
      await this.copyChildren(fetched.bytes, fetched.mediaType);
      const parsed = parseManifest(fetched.bytes, fetched.mediaType);
      await pushReferrer(this.to, this.toRepository, fetched.bytes, parsed.manifest);
      this.manifests++;
      if (depth < MAX_REFERRER_DEPTH) await this.copyReferrers(referrer.digest, depth + 1);
    }
  }

  private async copyManifest(digest: Digest): Promise<void> {
    if (this.copied.has(digest)) return;
    const fetched = await this.from.getManifest(this.fromRepository, digest);
    await this.copyChildren(fetched.bytes, fetched.mediaType);
    await this.to.putManifest(this.toRepository, digest, fetched.bytes, fetched.mediaType);
    this.copied.add(digest);
    this.manifests++;
  }

  private async copyBlob(blob: Descriptor): Promise<void> {
    if (this.copied.has(blob.digest)) return;
    this.copied.add(blob.digest);
    if (this.options.mount && this.fromRepository !== this.toRepository) {
      if (await this.to.mountBlob(this.toRepository, blob.digest, this.fromRepository)) {
        this.blobs.mounted++;
        return;
      }
    }
    const result = await this.to.uploadBlob(this.toRepository, blob, (range) => this.openSource(blob, range));
    if (result.uploaded) this.blobs.uploaded++;
    else this.blobs.skipped++;
  }

  // Streams the blob from the source into the upload; the target registry checks the digest.
  private openSource(blob: Descriptor, range: ByteRange | undefined): Readable {
    const stream = new PassThrough();
    this.from
      .getBlob(this.fromRepository, blob.digest, range)
      .then((reader) => pipeline(reader.stream, stream))
      .catch((error: unknown) => stream.destroy(error as Error));
    return stream;
  }
}
