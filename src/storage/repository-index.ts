/**
 * The `index.json` of one repository's OCI image layout: every manifest of the repository as a
 * descriptor, tags as descriptors with the `org.opencontainers.image.ref.name` annotation
 * (image-spec `image-layout.md`, "index.json file").
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { REF_NAME } from '../oci/annotations.js';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';
import { OCI_INDEX } from '../oci/media-types.js';
import { writeFileAtomic } from './atomic.js';

/** The content of `index.json`. */
export interface LayoutIndex {
  schemaVersion: 2;
  mediaType: typeof OCI_INDEX;
  manifests: Descriptor[];
}

/** Returns an index with no manifests. */
export function emptyIndex(): LayoutIndex {
  return { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
}

/** Reads `index.json` from a layout folder; `undefined` when the file does not exist. */
export async function readLayoutIndex(layout: string): Promise<LayoutIndex | undefined> {
  let text: string;
  try {
    text = await readFile(join(layout, 'index.json'), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as LayoutIndex;
  if (!Array.isArray(parsed.manifests)) parsed.manifests = [];
  return parsed;
}

/** Writes `index.json` atomically. */
export async function writeLayoutIndex(layout: string, index: LayoutIndex): Promise<void> {
  await writeFileAtomic(join(layout, 'index.json'), `${JSON.stringify(index, null, 2)}\n`);
}

/** Returns the tag of an index entry, if it has one. */
export function tagOf(entry: Descriptor): string | undefined {
  return entry.annotations?.[REF_NAME];
}

/** Returns the entry tagged `tag`. */
export function findTag(index: LayoutIndex, tag: string): Descriptor | undefined {
  return index.manifests.find((entry) => tagOf(entry) === tag);
}

/** Returns any entry for `digest`. */
export function findDigest(index: LayoutIndex, digest: Digest): Descriptor | undefined {
  return index.manifests.find((entry) => entry.digest === digest);
}

/**
 * Points `tag` at `descriptor`. The manifest the tag pointed at before stays in the index as an
 * untagged entry when no other entry names it, because it can still be fetched by digest.
 */
export function setTag(index: LayoutIndex, tag: string, descriptor: Descriptor): void {
  const previous = findTag(index, tag);
  index.manifests = index.manifests.filter(
    (entry) => tagOf(entry) !== tag && !(entry.digest === descriptor.digest && tagOf(entry) === undefined),
  );
  index.manifests.push({ ...descriptor, annotations: { [REF_NAME]: tag } });
  if (previous && previous.digest !== descriptor.digest) keepUntagged(index, previous);
}

/** Adds an untagged entry for `descriptor` unless some entry already names its digest. */
export function addUntagged(index: LayoutIndex, descriptor: Descriptor): void {
  if (!findDigest(index, descriptor.digest)) index.manifests.push(untagged(descriptor));
}

/** Removes a tag; the manifest stays reachable by digest. Returns false when there was no such tag. */
export function removeTag(index: LayoutIndex, tag: string): boolean {
  const previous = findTag(index, tag);
  if (!previous) return false;
  index.manifests = index.manifests.filter((entry) => tagOf(entry) !== tag);
  keepUntagged(index, previous);
  return true;
}

/** Removes every entry for `digest`, tagged or not. Returns false when there was none. */
export function removeDigest(index: LayoutIndex, digest: Digest): boolean {
  const before = index.manifests.length;
  index.manifests = index.manifests.filter((entry) => entry.digest !== digest);
  return index.manifests.length !== before;
}

function keepUntagged(index: LayoutIndex, descriptor: Descriptor): void {
  addUntagged(index, descriptor);
}

function untagged(descriptor: Descriptor): Descriptor {
  const { annotations: _annotations, ...rest } = descriptor;
  return rest;
}
