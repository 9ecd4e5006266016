/**
 * Referrers: artifacts attached to another manifest through their `subject` field (image-spec
 * `manifest.md`, "subject"), such as release notes, checksums, signatures and SBOMs attached to a
 * release. `attach` pushes one, `discover` lists them (distribution-spec "Listing Referrers").
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CREATED, TITLE } from '../oci/annotations.js';
import { type Digest, digestOf } from '../oci/digest.js';
import {
  type Descriptor,
  encodeManifest,
  type ImageIndex,
  type ImageManifest,
  parseManifest,
} from '../oci/manifest.js';
import { FILE_BLOB, OCI_INDEX, OCI_LAYER_TAR_GZIP, OCI_MANIFEST } from '../oci/media-types.js';
import type { Reference } from '../oci/reference.js';
import { EMPTY_CONFIG, EMPTY_CONFIG_DESCRIPTOR } from './artifact.js';
import { type ConnectOptions, toReference, withClient } from './connect.js';
import { resolveDigest } from './content.js';
import { ORAS_CONTENT_DIGEST, ORAS_CONTENT_UNPACK } from './directory.js';
import { InvalidInputError, RegistryResponseError } from './errors.js';
import { type InspectedFile, inspectInput } from './plan.js';
import { referrersTag } from './registry-client.js';
import type { ArtifactStore } from './store.js';

/** Options of {@link attach}. */
export interface AttachOptions extends ConnectOptions {
  /** The `artifactType` of the attached manifest, such as `application/vnd.ocidrop.notes.v1`. Required. */
  artifactType: string;
  /** Annotations of the attached manifest. */
  annotations?: Record<string, string>;
  /** Annotations per file, keyed by title. */
  fileAnnotations?: Record<string, Record<string, string>>;
  /** Recorded as `org.opencontainers.image.created`. @default now */
  created?: Date;
}

/** The result of {@link attach}: the subject and the attached manifest. */
export interface AttachResult {
  /** The subject, pinned to its digest. */
  subject: string;
  /** The attached manifest's digest, under which it is stored. */
  digest: Digest;
  /** Whether the registry indexed the subject itself (`OCI-Subject`); otherwise the fallback tag was updated. */
  subjectProcessed: boolean;
}

/** One referrer that {@link discover} found. */
export interface Referrer extends Descriptor {
  /** Referrers of this referrer, such as the signature of an SBOM. */
  referrers: Referrer[];
}

/** Nesting followed by {@link discover} and by a copy with referrers. */
export const MAX_REFERRER_DEPTH = 4;

/**
 * Pushes `paths` (files or folders) as one artifact manifest whose `subject` is the manifest that
 * `subjectReference` names. A registry that does not process `subject` gets the referrer added to
 * the fallback index under the tag `<alg>-<hex>` of the subject ("Referrers Tag Schema").
 * @throws InvalidInputError when `artifactType` is empty or a path cannot be read.
 */
export async function attach(
  subjectReference: string | Reference,
  paths: string[],
  options: AttachOptions,
): Promise<AttachResult> {
  if (options.artifactType.trim() === '') {
    throw new InvalidInputError(
      'attach needs an artifact type: pass --artifact-type, such as application/vnd.ocidrop.notes.v1',
    );
  }
  const target = toReference(subjectReference, 'latest');
  const workDir = await mkdtemp(join(tmpdir(), 'ocidrop-attach-'));
  try {
    const files: InspectedFile[] = [];
    for (const path of paths) files.push(await inspectInput({ path }, workDir));

    return await withClient(target, options, async (client) => {
      const subject = await resolveDigest(target, { client });
      const layers: Descriptor[] = [];
      for (const file of files) {
        const source = file.directory?.archive ?? file.path;
        await client.uploadBlob(target.repository, file, (range) =>
          createReadStream(source, range === undefined ? {} : range),
        );
        const annotations: Record<string, string> = { [TITLE]: file.title };
        if (file.directory !== undefined) {
          annotations[ORAS_CONTENT_DIGEST] = file.directory.contentDigest;
          annotations[ORAS_CONTENT_UNPACK] = 'true';
        }
        Object.assign(annotations, options.fileAnnotations?.[file.title]);
        const mediaType = file.directory === undefined ? FILE_BLOB : OCI_LAYER_TAR_GZIP;
        layers.push({ mediaType, digest: file.digest, size: file.size, annotations });
      }
      await client.uploadBlob(target.repository, EMPTY_CONFIG_DESCRIPTOR, () => EMPTY_CONFIG);

      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: options.artifactType,
        config: EMPTY_CONFIG_DESCRIPTOR,
        layers,
        subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
        annotations: { [CREATED]: (options.created ?? new Date()).toISOString(), ...options.annotations },
      };
      const bytes = encodeManifest(manifest);
      const pushed = await pushReferrer(client, target.repository, bytes, manifest);
      return {
        subject: target.withDigest(subject.digest).toString(),
        digest: pushed.digest,
        subjectProcessed: pushed.subjectProcessed,
      };
    });
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Lists the referrers of the manifest that `reference` names, and theirs in turn up to
 * {@link MAX_REFERRER_DEPTH} levels, optionally only those of one `artifactType` at the first level.
 */
export async function discover(
  reference: string | Reference,
  options: ConnectOptions & { artifactType?: string } = {},
): Promise<{ subject: string; digest: Digest; referrers: Referrer[] }> {
  const target = toReference(reference, 'latest');
  return withClient(target, options, async (client) => {
    const subject = await resolveDigest(target, { client });
    const referrers = await referrerTree(client, target.repository, subject.digest, options.artifactType, 1);
    return { subject: target.toString(), digest: subject.digest, referrers };
  });
}

/**
 * Uploads a manifest that has a `subject` by its digest, and updates the fallback referrers index
 * when the registry did not process the subject itself.
 */
export async function pushReferrer(
  client: ArtifactStore,
  repository: string,
  bytes: Buffer,
  manifest: ImageManifest | ImageIndex,
): Promise<{ digest: Digest; subjectProcessed: boolean }> {
  const digest = digestOf(bytes);
  const pushed = await client.pushManifest(repository, digest, bytes, manifest.mediaType ?? OCI_MANIFEST);
  if (pushed.subjectProcessed || manifest.subject === undefined) return pushed;

  const descriptor: Descriptor = {
    mediaType: manifest.mediaType ?? OCI_MANIFEST,
    digest,
    size: bytes.byteLength,
  };
  if (manifest.artifactType !== undefined) descriptor.artifactType = manifest.artifactType;
  if (manifest.annotations !== undefined) descriptor.annotations = manifest.annotations;
  await addToFallbackIndex(client, repository, manifest.subject.digest, descriptor);
  return pushed;
}

// NOTE: two clients attaching to one subject at the same moment can overwrite each other's update
// of the fallback tag. The specification accepts this race for registries without the API.
async function addToFallbackIndex(
  client: ArtifactStore,
  repository: string,
  subject: Digest,
  descriptor: Descriptor,
): Promise<void> {
  const tag = referrersTag(subject);
  let index: ImageIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
  try {
    const fetched = await client.getManifest(repository, tag);
    const parsed = parseManifest(fetched.bytes, fetched.mediaType);
    if (parsed.kind === 'index') index = parsed.manifest;
  } catch (error) {
    if (!(error instanceof RegistryResponseError && error.status === 404)) throw error;
  }
  if (index.manifests.some((entry) => entry.digest === descriptor.digest)) return;
  index = { ...index, manifests: [...index.manifests, descriptor] };
  await client.putManifest(repository, tag, encodeManifest(index), OCI_INDEX);
}

async function referrerTree(
  client: ArtifactStore,
  repository: string,
  digest: Digest,
  artifactType: string | undefined,
  depth: number,
): Promise<Referrer[]> {
  const found = await client.referrers(repository, digest, artifactType);
  const tree: Referrer[] = [];
  for (const descriptor of found) {
    const nested =
      depth < MAX_REFERRER_DEPTH
        ? await referrerTree(client, repository, descriptor.digest, undefined, depth + 1)
        : [];
    tree.push({ ...descriptor, referrers: nested });
  }
  return tree;
}
