/**
 * The read side of a registry as one small interface, so that the download gateway works the same
 * over the embedded store on disk and over a remote registry reached through the client.
 */
import type { Readable, Writable } from 'node:stream';
import type { Digest } from '../oci/digest.js';
import type { Descriptor } from '../oci/manifest.js';

/** An inclusive byte range, as in an HTTP `Range: bytes=start-end` header. */
export interface ByteRange {
  start: number;
  end: number;
}

/** A manifest as stored: its exact bytes, digest and media type. */
export interface FetchedManifest {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

/** An open blob. `stream` yields the whole blob, or only `range` when one was asked for and served. */
export interface BlobReader {
  /** Size of the whole blob in bytes. */
  size: number;
  /** The bytes. A source may open it on first access, so a caller that never reads it keeps no file open. */
  stream: Readable;
  range?: ByteRange;
  /**
   * True when the source checked these bytes against the digest when it stored them and serves
   * them from storage named by that digest, as the embedded store does, so a reader need not hash
   * them again. Unset for bytes from the network.
   */
  verified?: boolean;
  /**
   * Set when the bytes come from a local file: writes them (the `range`, if any) to `destination`
   * without ending it, through two reused buffers, which is faster and lighter than piping
   * `stream` (see `copyFileTo`). It destroys `stream` if it was opened, and `stream` must not be
   * used after the call. A destination that closes first fails it with `DestinationClosedError`.
   */
  writeTo?(destination: Writable): Promise<void>;
}

/**
 * Read access to repositories, tags, manifests and blobs.
 *
 * Implementations throw `RegistryError` with `NAME_UNKNOWN`, `MANIFEST_UNKNOWN` or `BLOB_UNKNOWN`
 * when something does not exist, and `RANGE_INVALID` for a range outside the blob.
 */
export interface ContentSource {
  /** Lists repository names in lexical order. */
  repositories(): Promise<string[]>;
  /** Lists the tags of a repository in lexical order. */
  tags(repository: string): Promise<string[]>;
  /** Fetches a manifest or index by tag or digest. */
  manifest(repository: string, reference: string): Promise<FetchedManifest>;
  /** Opens a blob for streaming, optionally only a byte range of it. */
  blob(repository: string, digest: Digest, range?: ByteRange): Promise<BlobReader>;
  /**
   * Returns a URL that serves the blob without credentials for a short time, such as the presigned
   * storage URL a registry redirects a blob request to, or undefined when the source has none.
   * Optional: a source that cannot hand out such URLs leaves it out, and callers stream the blob.
   */
  blobUrl?(repository: string, digest: Digest): Promise<string | undefined>;
  /**
   * Lists the manifests whose `subject` is `digest`, as the descriptors of the referrers API
   * (distribution-spec `spec.md`, "Listing Referrers"), optionally only those of one `artifactType`.
   * A digest without referrers, or one that is not stored, has none. Optional: a source that cannot
   * list referrers leaves it out, and callers treat that as no referrers.
   */
  referrers?(repository: string, digest: Digest, artifactType?: string): Promise<Descriptor[]>;
}
