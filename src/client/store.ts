/**
 * The operations that push, pull, copy and the single-object commands need from where content
 * lives: a remote registry ({@link RegistryClient}) or an OCI image layout on disk (`OciLayout`).
 */
import type { RegistryClient } from './registry-client.js';

/**
 * A place that stores manifests and blobs by digest and manifests by tag. The `repository`
 * arguments name a repository of a registry and are ignored by an OCI image layout, which holds one.
 * `uploadBlobWhileHashing` is optional: a store without it gets each blob after its hash is known.
 */
export type ArtifactStore = Partial<Pick<RegistryClient, 'uploadBlobWhileHashing'>> &
  Pick<
    RegistryClient,
    | 'host'
    | 'getManifest'
    | 'headManifest'
    | 'putManifest'
    | 'pushManifest'
    | 'deleteManifest'
    | 'headBlob'
    | 'getBlob'
    | 'uploadBlob'
    | 'deleteBlob'
    | 'mountBlob'
    | 'referrers'
    | 'tags'
    | 'blobUrl'
    | 'close'
  >;
