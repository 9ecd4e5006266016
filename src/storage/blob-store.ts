/**
 * The blob store interface: content addressed by digest, written from a stream with its digest
 * and size checked while the bytes pass, and read whole or by byte range.
 */
import type { BlobReader, ByteRange } from '../content/source.js';
import type { Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';

/** Digest and size of one stored blob. */
export interface BlobInfo {
  digest: Digest;
  size: number;
}

/** The digest and size that content written to the store must have; either may be left out. */
export interface ExpectedContent {
  digest?: Digest;
  size?: number;
}

/**
 * Content-addressed blob storage.
 *
 * Every method throws `RegistryError`: `BLOB_UNKNOWN` for a missing blob, `RANGE_INVALID` for a
 * range outside the blob, `DIGEST_INVALID` or `SIZE_INVALID` when written content differs from
 * what was expected.
 */
export interface BlobStore {
  /** Returns the size of a stored blob. */
  stat(digest: Digest): Promise<BlobInfo>;
  /** Opens a stored blob for streaming, whole or only `range`. */
  read(digest: Digest, range?: ByteRange): Promise<BlobReader>;
  /** Stores content from a stream; it becomes visible only once complete and verified. */
  write(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    expected?: ExpectedContent,
  ): Promise<BlobInfo>;
  /** Removes a blob; removing a missing blob throws `BLOB_UNKNOWN`. */
  delete(digest: Digest): Promise<void>;
}

/**
 * Checks that an inclusive byte range lies inside a blob of `size` bytes.
 * @throws RegistryError `RANGE_INVALID` naming the range and the size.
 */
export function checkRange(range: ByteRange, size: number): void {
  const valid =
    Number.isSafeInteger(range.start) &&
    Number.isSafeInteger(range.end) &&
    range.start >= 0 &&
    range.start <= range.end &&
    range.end < size;
  if (!valid) {
    throw new RegistryError(
      'RANGE_INVALID',
      `byte range ${range.start}-${range.end} is outside the blob of ${size} bytes`,
      {
        range: `${range.start}-${range.end}`,
        size,
      },
    );
  }
}
