/**
 * The registry client and the push, pull and url operations built on it.
 */
export * from './annotation-file.js';
export * from './artifact.js';
export * from './challenge.js';
export * from './concurrency.js';
export type { ConnectOptions } from './connect.js';
export * from './content.js';
export * from './copy.js';
export * from './credentials.js';
export * from './directory.js';
export * from './download.js';
export * from './errors.js';
export * from './login.js';
export * from './oci-layout.js';
export * from './plan.js';
export * from './progress.js';
export * from './pull.js';
export * from './push.js';
export * from './referrers.js';
export * from './registry-client.js';
export * from './remote-source.js';
export * from './resolve.js';
export type { ArtifactStore } from './store.js';
export * from './titles.js';
export * from './unpack.js';
export * from './urls.js';
