/**
 * Resolution of a reference to the manifests of an ocidrop artifact. An index is narrowed to one
 * platform's manifest (or all of them), and a single manifest is taken as it is. Content that is
 * not a file artifact is reported with what it is instead.
 */

import type { FetchedManifest } from '../content/source.js';
import { TITLE } from '../oci/annotations.js';
import type { Digest } from '../oci/digest.js';
import { type Descriptor, type ImageManifest, parseManifest } from '../oci/manifest.js';
import { formatPlatform, type Platform, platformMatches } from '../oci/platform.js';
import type { Reference } from '../oci/reference.js';
import {
  ArtifactNotFoundError,
  NotAnArtifactError,
  PlatformNotFoundError,
  RegistryResponseError,
} from './errors.js';
import type { ArtifactStore } from './store.js';

/** One manifest of an artifact with the platform its index entry names. */
export interface ResolvedManifest {
  /** Unset for an artifact pushed as a single manifest, whose files fit every platform. */
  platform?: Platform;
  digest: Digest;
  manifest: ImageManifest;
}

/** A blob of a manifest that carries a title, the files that pull writes. */
export interface TitledBlob {
  title: string;
  descriptor: Descriptor;
}

/**
 * Fetches the manifests of `reference` for `platform`, or for every platform when it is undefined.
 * @throws PlatformNotFoundError listing the platforms the index has, when none matches.
 * @throws NotAnArtifactError when a manifest has no titled blobs, such as a container image.
 */
export async function resolveManifests(
  client: ArtifactStore,
  reference: Reference,
  platform: Platform | undefined,
): Promise<{ digest: Digest; manifests: ResolvedManifest[] }> {
  const fetched = await fetchTop(client, reference);
  const parsed = parseManifest(fetched.bytes, fetched.mediaType);
  if (parsed.kind === 'manifest') {
    return { digest: fetched.digest, manifests: [{ digest: fetched.digest, manifest: parsed.manifest }] };
  }

  const entries = parsed.manifest.manifests.filter(
    (entry): entry is Descriptor & { platform: Platform } =>
      entry.platform !== undefined && entry.platform.os !== 'unknown',
  );
  const selected =
    platform === undefined ? entries : entries.filter((entry) => platformMatches(platform, entry.platform));
  if (selected.length === 0) {
    throw new PlatformNotFoundError(
      reference.toString(),
      platform === undefined ? 'any platform' : formatPlatform(platform),
      entries.map((entry) => formatPlatform(entry.platform)),
    );
  }
  // A pull wants one build; the first match is the index's preferred one.
  const chosen = platform === undefined ? selected : selected.slice(0, 1);

  const manifests: ResolvedManifest[] = [];
  for (const entry of chosen) {
    const child = await client.getManifest(reference.repository, entry.digest);
    const childParsed = parseManifest(child.bytes, child.mediaType);
    if (childParsed.kind !== 'manifest') {
      throw new NotAnArtifactError(
        `${reference} lists a nested index for ${formatPlatform(entry.platform)}; ocidrop expects one manifest per platform`,
      );
    }
    manifests.push({ platform: entry.platform, digest: child.digest, manifest: childParsed.manifest });
  }
  return { digest: fetched.digest, manifests };
}

/**
 * Fetches the manifest a reference names, turning a 404 into an {@link ArtifactNotFoundError} that
 * names what to check.
 */
export async function fetchTop(client: ArtifactStore, reference: Reference): Promise<FetchedManifest> {
  try {
    return await client.getManifest(reference.repository, reference.reference!);
  } catch (error) {
    if (error instanceof RegistryResponseError && error.status === 404) {
      const repository = `${reference.registry}/${reference.repository}`;
      const code = error.errors[0]?.code ?? 'not found';
      throw new ArtifactNotFoundError(
        `${reference} not found (${code}): check the name, and list the tags with "ocidrop tags ${repository}"`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * Returns the titled blobs of a manifest.
 * @throws NotAnArtifactError describing the manifest when none of its blobs has a title.
 */
export function titledBlobs(reference: Reference, resolved: ResolvedManifest): TitledBlob[] {
  const blobs: TitledBlob[] = [];
  for (const descriptor of resolved.manifest.layers) {
    const title = descriptor.annotations?.[TITLE];
    if (title !== undefined) blobs.push({ title, descriptor });
  }
  if (blobs.length === 0) throw new NotAnArtifactError(describeUntitled(reference, resolved.manifest));
  return blobs;
}

function describeUntitled(reference: Reference, manifest: ImageManifest): string {
  const layers = manifest.layers.length;
  // Container layers are tar archives: the OCI types end in `.tar[+gzip|+zstd]`, Docker's in `.tar.gzip`.
  const tarLayers = manifest.layers.filter((layer) => /\.tar(?:$|[+.])/.test(layer.mediaType)).length;
  const kind = tarLayers > 0 ? 'a container image' : 'an artifact without file names';
  const types = [...new Set(manifest.layers.map((layer) => layer.mediaType))].join(', ') || 'none';
  return (
    `${reference} is ${kind} (config ${manifest.config.mediaType}, ${layers} blob(s) of type ${types}) ` +
    `and none of its blobs has an ${TITLE} annotation, so there are no files to write; ` +
    'use a container tool such as skopeo or docker for images'
  );
}
