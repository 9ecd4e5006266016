/**
 * ocidrop's library API: the OCI data model, the registry client, and push, pull and url.
 */
export * from './client/index.js';
export type { BlobReader, ByteRange, ContentSource, FetchedManifest } from './content/source.js';
export * from './oci/index.js';
