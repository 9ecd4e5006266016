/**
 * Release notes attached to a release as a referrer: an artifact manifest whose `subject` is the
 * release's index or manifest (image-spec `manifest.md`, "subject"), pushed by `ocidrop attach`.
 * The gateway shows the first file of the newest one as plain text.
 */
import { StringDecoder } from 'node:string_decoder';
import type { ContentSource } from '../content/source.js';
import { CREATED } from '../oci/annotations.js';
import { createDigester, type Digest, parseDigest } from '../oci/digest.js';
import { type Descriptor, parseManifest } from '../oci/manifest.js';
import { RELEASE_NOTES_ARTIFACT } from '../oci/media-types.js';
import { GatewayError } from './errors.js';

/** Upper bound on the bytes of release notes the gateway reads; longer notes are cut there. */
export const MAX_NOTES_BYTES = 64 * 1024;

/** The `artifactType` values whose referrers the gateway reads as release notes. */
export const RELEASE_NOTES_TYPES: readonly string[] = [RELEASE_NOTES_ARTIFACT, 'text/markdown', 'text/plain'];

/** Release notes read from a referrer. */
export interface ReferrerNotes {
  /** The text, decoded as UTF-8, at most {@link MAX_NOTES_BYTES} bytes of it. */
  text: string;
  /** True when the file is longer than {@link MAX_NOTES_BYTES} and `text` is its start. */
  truncated: boolean;
  /** Digest of the referrer manifest the notes come from. */
  referrer: Digest;
}

/**
 * Reads the release notes attached to the first of `subjects` (in order, such as the release's
 * index and then a platform manifest) that has any: the newest referrer by
 * `org.opencontainers.image.created` whose `artifactType` is one of {@link RELEASE_NOTES_TYPES}.
 *
 * @returns undefined when no subject has release notes or the source cannot list referrers.
 * @throws GatewayError `UPSTREAM_INVALID` when the notes file does not match its digest, and
 *   whatever the source throws.
 */
export async function loadReferrerNotes(
  source: ContentSource,
  repository: string,
  subjects: readonly Digest[],
): Promise<ReferrerNotes | undefined> {
  if (source.referrers === undefined) return undefined;

  for (const subject of new Set(subjects)) {
    const referrers = await source.referrers(repository, subject);
    const newest = pickNewest(referrers.filter((entry) => isReleaseNotesType(entry.artifactType)));
    if (newest === undefined) continue;

    const fetched = await source.manifest(repository, newest.digest);
    const parsed = parseManifest(fetched.bytes, fetched.mediaType);
    const layer = parsed.kind === 'manifest' ? parsed.manifest.layers[0] : undefined;
    if (layer === undefined) return { text: '', truncated: false, referrer: newest.digest };
    return { ...(await readCapped(source, repository, layer)), referrer: newest.digest };
  }
  return undefined;
}

/** Tells whether an `artifactType` is one that the gateway reads as release notes. */
export function isReleaseNotesType(artifactType: string | undefined): boolean {
  return artifactType !== undefined && RELEASE_NOTES_TYPES.includes(artifactType);
}

// Picks the newest by `created`. A referrer without a valid date counts as oldest. Equal dates go
// to the larger digest, so the choice does not depend on the order the registry lists them in.
function pickNewest(referrers: readonly Descriptor[]): Descriptor | undefined {
  let newest: { entry: Descriptor; time: number } | undefined;
  for (const entry of referrers) {
    const parsed = Date.parse(entry.annotations?.[CREATED] ?? '');
    const time = Number.isNaN(parsed) ? Number.NEGATIVE_INFINITY : parsed;
    if (
      newest === undefined ||
      time > newest.time ||
      (time === newest.time && entry.digest > newest.entry.digest)
    ) {
      newest = { entry, time };
    }
  }
  return newest?.entry;
}

// Streams at most MAX_NOTES_BYTES of the blob and stops there. A file read whole is checked
// against its digest unless the source already did so when it stored it.
async function readCapped(
  source: ContentSource,
  repository: string,
  layer: Descriptor,
): Promise<{ text: string; truncated: boolean }> {
  const reader = await source.blob(repository, layer.digest);
  const digester = createDigester(parseDigest(layer.digest).algorithm);
  const chunks: Buffer[] = [];
  let length = 0;
  let truncated = false;

  // Breaking out of the loop destroys the stream, so a cut file is not read to its end.
  for await (const chunk of reader.stream as AsyncIterable<Buffer>) {
    digester.update(chunk);
    const room = MAX_NOTES_BYTES - length;
    if (chunk.length > room) {
      chunks.push(chunk.subarray(0, room));
      length += room;
      truncated = true;
      break;
    }
    chunks.push(chunk);
    length += chunk.length;
  }

  if (!truncated && reader.verified !== true && digester.digest() !== layer.digest) {
    throw new GatewayError(
      'UPSTREAM_INVALID',
      `release notes blob ${layer.digest} in ${repository} does not match its digest`,
    );
  }

  // StringDecoder.write() keeps an incomplete character at the end back, so a cut inside a
  // multi-byte character drops that character rather than showing a replacement mark.
  const decoder = new StringDecoder('utf8');
  const text = decoder.write(Buffer.concat(chunks, length));
  return { text: truncated ? text : text + decoder.end(), truncated };
}
