/**
 * Operations on single manifests, blobs and tags, the building blocks the oras CLI offers as
 * `resolve`, `tag`, `repo ls`, `manifest get|push|delete` and `blob fetch|push|delete`
 * (distribution-spec `spec.md`: "Pulling manifests", "Pushing Manifests", "Deleting Manifests",
 * "Pushing Blobs", "Deleting Blobs", "Listing Repositories" is the catalog extension).
 */
import { createReadStream } from 'node:fs';
import { rename, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FetchedManifest } from '../content/source.js';
import { createDigester, type Digest, digestOf } from '../oci/digest.js';
import { DigestMismatchError } from '../oci/errors.js';
import { parseManifest } from '../oci/manifest.js';
import { DOCKER_HUB, DOCKER_HUB_API_HOST, isTag, type Reference } from '../oci/reference.js';
import { type ConnectOptions, clientOptions, toReference, withClient } from './connect.js';
import { downloadBlob } from './download.js';
import { InvalidInputError } from './errors.js';
import type { ProgressListener } from './progress.js';
import { type ManifestInfo, RegistryClient } from './registry-client.js';
import { fetchTop } from './resolve.js';

/**
 * Returns the digest, media type and size of the manifest `reference` names (`HEAD`, then `GET`
 * when the registry sends no `Docker-Content-Digest`). A reference without tag or digest means `latest`.
 * @throws ArtifactNotFoundError when the registry does not have it.
 */
export async function resolveDigest(
  reference: string | Reference,
  options: ConnectOptions = {},
): Promise<ManifestInfo> {
  const target = toReference(reference, 'latest');
  return withClient(target, options, async (client) => {
    const head = await client.headManifest(target.repository, target.reference!);
    if (head !== undefined && head.digest !== target.reference && head.mediaType !== '') return head;
    const fetched = await fetchTop(client, target);
    return { digest: fetched.digest, mediaType: fetched.mediaType, size: fetched.bytes.byteLength };
  });
}

/** Fetches the manifest or index that `reference` names, verified when it names a digest. */
export async function fetchManifest(
  reference: string | Reference,
  options: ConnectOptions = {},
): Promise<FetchedManifest> {
  const target = toReference(reference, 'latest');
  return withClient(target, options, (client) => fetchTop(client, target));
}

/**
 * Uploads manifest bytes under the reference's tag, or under their digest when the reference has
 * none. The media type comes from `mediaType`, else from the manifest's own `mediaType` field.
 * @throws InvalidManifestError when the bytes are not a manifest or index.
 * @throws DigestMismatchError when the reference names a digest the bytes do not have.
 */
export async function putManifest(
  reference: string | Reference,
  bytes: Buffer,
  options: ConnectOptions & { mediaType?: string } = {},
): Promise<Digest> {
  const target = toReference(reference);
  const parsed = parseManifest(bytes, options.mediaType);
  const mediaType = options.mediaType ?? parsed.mediaType;
  const digest = digestOf(bytes);
  if (target.digest !== undefined && target.digest !== digest) {
    throw new DigestMismatchError(
      `the manifest has digest ${digest}, not ${target.digest} as the reference names`,
    );
  }
  return withClient(target, options, (client) =>
    client.putManifest(target.repository, target.tag ?? digest, bytes, mediaType),
  );
}

/**
 * Deletes the manifest that `reference` names; a tag is resolved to its digest first, as the
 * specification deletes manifests by digest.
 * @returns the deleted digest.
 */
export async function deleteManifest(
  reference: string | Reference,
  options: ConnectOptions = {},
): Promise<Digest> {
  const target = toReference(reference);
  requireTagOrDigest(target, 'manifest delete');
  return withClient(target, options, async (client) => {
    const digest = target.digest ?? (await fetchTop(client, target)).digest;
    await client.deleteManifest(target.repository, digest);
    return digest;
  });
}

/**
 * Adds tags to the manifest `reference` names, by uploading its exact bytes under each tag.
 * @returns the manifest's digest.
 * @throws InvalidInputError for an invalid tag, before anything is sent.
 */
export async function tagManifest(
  reference: string | Reference,
  tags: string[],
  options: ConnectOptions = {},
): Promise<Digest> {
  const source = toReference(reference, 'latest');
  for (const tag of tags) {
    if (!isTag(tag)) {
      throw new InvalidInputError(
        `invalid tag ${JSON.stringify(tag)}: use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'`,
      );
    }
  }
  if (tags.length === 0) throw new InvalidInputError('no tag given: name at least one new tag');
  return withClient(source, options, async (client) => {
    const fetched = await fetchTop(client, source);
    for (const tag of tags)
      await client.putManifest(source.repository, tag, fetched.bytes, fetched.mediaType);
    return fetched.digest;
  });
}

/**
 * Downloads the blob `reference@digest` names into `output`, verified, through a `.partial` file
 * that is renamed when the digest matches (and resumed when an earlier attempt left one).
 * @returns the blob's digest and size.
 */
export async function fetchBlobToFile(
  reference: string | Reference,
  output: string,
  options: ConnectOptions & { onProgress?: ProgressListener } = {},
): Promise<{ digest: Digest; size: number }> {
  const target = toReference(reference);
  const digest = requireDigest(target, 'blob get');
  return withClient(target, options, async (client) => {
    let size = (await client.headBlob(target.repository, digest))?.size ?? Number.NaN;
    if (!Number.isSafeInteger(size)) {
      // A GET reports a missing blob in the registry's own words, and a size where HEAD gave none.
      const reader = await client.getBlob(target.repository, digest);
      reader.stream.destroy();
      size = reader.size;
    }
    const partial = join(dirname(output), `.${basename(output)}.partial`);
    const title = basename(output);
    const report = (transferred: number, state: 'started' | 'running' | 'done') =>
      options.onProgress?.({ title, digest, transferred, total: size, state });
    report(0, 'started');
    await downloadBlob(client, target.repository, { mediaType: '', digest, size }, partial, (bytes) =>
      report(bytes, 'running'),
    );
    await rename(partial, output);
    report(size, 'done');
    return { digest, size };
  });
}

/**
 * Streams the blob `reference@digest` names into `output` (such as stdout), hashing it on the way.
 * @throws DigestMismatchError after the last byte when the content does not match; the bytes are
 *   already written then, so write to a file with {@link fetchBlobToFile} where that matters.
 */
export async function fetchBlobToStream(
  reference: string | Reference,
  output: Writable,
  options: ConnectOptions = {},
): Promise<{ digest: Digest; size: number }> {
  const target = toReference(reference);
  const digest = requireDigest(target, 'blob get');
  return withClient(target, options, async (client) => {
    const reader = await client.getBlob(target.repository, digest);
    const digester = createDigester();
    reader.stream.on('data', (chunk: Buffer) => digester.update(chunk));
    await pipeline(reader.stream, output, { end: false });
    const actual = digester.digest();
    if (actual !== digest) throw new DigestMismatchError(`blob ${target} has digest ${actual}`);
    return { digest, size: digester.size };
  });
}

/**
 * Uploads a file as a blob to the reference's repository, unless the registry has it.
 * @returns its digest, size, and whether bytes were sent.
 */
export async function putBlob(
  repository: string | Reference,
  path: string,
  options: ConnectOptions & { chunkSize?: number } = {},
): Promise<{ digest: Digest; size: number; uploaded: boolean }> {
  const target = toReference(repository);
  const digester = createDigester();
  for await (const chunk of createReadStream(path)) digester.update(chunk as Buffer);
  const blob = { digest: digester.digest(), size: digester.size };
  const { size } = await stat(path);
  if (size !== blob.size) throw new InvalidInputError(`${path} changed while it was read; try again`);

  return withClient(target, options, async (client) => {
    const result = await client.uploadBlob(
      target.repository,
      blob,
      (range) => createReadStream(path, range === undefined ? {} : range),
      options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize },
    );
    return { ...blob, uploaded: result.uploaded };
  });
}

/** Deletes the blob `reference@digest` names. */
export async function deleteBlob(
  reference: string | Reference,
  options: ConnectOptions = {},
): Promise<Digest> {
  const target = toReference(reference);
  const digest = requireDigest(target, 'blob delete');
  await withClient(target, options, (client) => client.deleteBlob(target.repository, digest));
  return digest;
}

/**
 * Lists the repositories of a registry through the catalog (`GET /v2/_catalog`), which not every
 * registry offers. `registry` is a host such as `localhost:5000`; `docker.io` means Docker Hub.
 */
export async function listRepositories(
  registry: string,
  options: Omit<ConnectOptions, 'client'> = {},
): Promise<string[]> {
  const host = registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
  const client = new RegistryClient(host, clientOptions(options));
  try {
    return await client.catalog();
  } finally {
    await client.close();
  }
}

function requireDigest(reference: Reference, command: string): Digest {
  if (reference.digest === undefined) {
    throw new InvalidInputError(
      `${command} needs a reference with a digest, got ${JSON.stringify(reference.toString())}: write ${reference.registry}/${reference.repository}@sha256:...`,
    );
  }
  return reference.digest;
}

function requireTagOrDigest(reference: Reference, command: string): void {
  if (reference.reference === undefined) {
    throw new InvalidInputError(
      `${command} needs a tag or digest, got ${JSON.stringify(reference.toString())}: add :TAG or @sha256:...`,
    );
  }
}
