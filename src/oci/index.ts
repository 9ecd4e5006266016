/**
 * The OCI data model: references, digests, descriptors, manifests, indexes, media types,
 * platforms and errors. Pure functions and types with no I/O.
 */
export * as annotations from './annotations.js';
export * from './digest.js';
export * from './errors.js';
export * from './executable.js';
export * from './known-platforms.js';
export * from './manifest.js';
export * as mediaTypes from './media-types.js';
export * from './platform.js';
export * from './reference.js';
export * from './title.js';
