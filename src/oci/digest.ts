/**
 * Content digests as the OCI image specification defines them (`descriptor.md`, "Digests"):
 * `algorithm ":" encoded`, with sha256 and sha512 as the registered algorithms.
 */
import { createHash, type Hash } from 'node:crypto';
import { InvalidDigestError } from './errors.js';

/** A digest string that passed {@link parseDigest}, such as `sha256:2c26b4...`. */
export type Digest = string & { readonly __digest: unique symbol };

/** The algorithms ocidrop can compute, with the length of their hex-encoded output. */
export const DIGEST_ALGORITHMS = { sha256: 64, sha512: 128 } as const;

/** A registered digest algorithm. */
export type DigestAlgorithm = keyof typeof DIGEST_ALGORITHMS;

// The grammar of image-spec `descriptor.md`: algorithm components joined by [+._-], then a colon.
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** The parts of a digest. */
export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  encoded: string;
}

/**
 * Parses and validates a digest of a registered algorithm.
 * @throws InvalidDigestError naming the value when it breaks the grammar, uses another algorithm,
 *   or its encoded part is not lowercase hex of the algorithm's length.
 */
export function parseDigest(value: string): ParsedDigest {
  if (!DIGEST_GRAMMAR.test(value)) {
    throw new InvalidDigestError(
      `invalid digest ${JSON.stringify(value)}: expected "algorithm:hex", such as "sha256:" followed by 64 hex digits`,
    );
  }
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const encoded = value.slice(colon + 1);
  if (!(algorithm in DIGEST_ALGORITHMS)) {
    throw new InvalidDigestError(
      `unsupported digest algorithm ${JSON.stringify(algorithm)} in ${JSON.stringify(value)}: use sha256 or sha512`,
    );
  }
  const length = DIGEST_ALGORITHMS[algorithm as DigestAlgorithm];
  if (encoded.length !== length || !/^[0-9a-f]+$/.test(encoded)) {
    throw new InvalidDigestError(
      `invalid digest ${JSON.stringify(value)}: ${algorithm} needs ${length} lowercase hex digits`,
    );
  }
  return { algorithm: algorithm as DigestAlgorithm, encoded };
}

/** Returns `value` as a {@link Digest} after validating it with {@link parseDigest}. */
export function toDigest(value: string): Digest {
  parseDigest(value);
  return value as Digest;
}

/** Tells whether `value` is a valid digest of a registered algorithm. */
export function isDigest(value: string): value is Digest {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

/** Creates an incremental hash for `algorithm`, for hashing data while it streams. */
export function createDigester(algorithm: DigestAlgorithm = 'sha256'): Digester {
  return new Digester(algorithm);
}

/** Hashes data in pieces and yields the digest string at the end. */
export class Digester {
  readonly algorithm: DigestAlgorithm;
  private readonly hash: Hash;
  private length = 0;

  constructor(algorithm: DigestAlgorithm) {
    this.algorithm = algorithm;
    this.hash = createHash(algorithm);
  }

  /** Adds bytes to the hash. */
  update(chunk: Uint8Array): void {
    this.hash.update(chunk);
    this.length += chunk.byteLength;
  }

  /** Number of bytes hashed so far. */
  get size(): number {
    return this.length;
  }

  /** Finishes the hash and returns the digest; the digester cannot be used afterwards. */
  digest(): Digest {
    return `${this.algorithm}:${this.hash.digest('hex')}` as Digest;
  }
}

/** Returns the digest of bytes held in memory, such as a manifest. */
export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = 'sha256'): Digest {
  return `${algorithm}:${createHash(algorithm).update(data).digest('hex')}` as Digest;
}
