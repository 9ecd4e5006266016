/**
 * Media types of the OCI image specification, the Docker formats registries still serve,
 * and the ones ocidrop gives its own artifacts.
 */

/** OCI image manifest (image-spec `manifest.md`). */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** OCI image index (image-spec `image-index.md`). */
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
/** OCI image configuration, the config of a container image. */
export const OCI_IMAGE_CONFIG = 'application/vnd.oci.image.config.v1+json';
/** The empty descriptor's media type; its content is the two bytes `{}` (image-spec 1.1 "Guidance for an Empty Descriptor"). */
export const OCI_EMPTY = 'application/vnd.oci.empty.v1+json';
/** Layer of a container image, a tar archive, and its gzip variant. */
export const OCI_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const OCI_LAYER_TAR_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** Docker image manifest, schema 2. */
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
/** Docker manifest list, the Docker counterpart of an OCI image index. */
export const DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
/** Docker container image configuration. */
export const DOCKER_IMAGE_CONFIG = 'application/vnd.docker.container.image.v1+json';

/** `artifactType` of every manifest and index that ocidrop pushes. */
export const OCIDROP_ARTIFACT = 'application/vnd.ocidrop.release.v1';
/**
 * `artifactType` of release notes attached to a release as a referrer (`ocidrop attach`), which the
 * download gateway shows on the release's page. The gateway also accepts `text/markdown` and `text/plain`.
 */
export const RELEASE_NOTES_ARTIFACT = 'application/vnd.ocidrop.notes.v1';
/** Media type of a file that ocidrop publishes as it is, not wrapped in an archive. */
export const FILE_BLOB = 'application/octet-stream';

/** Every manifest media type that a registry stores and serves as a manifest. */
export const MANIFEST_MEDIA_TYPES: readonly string[] = [
  OCI_MANIFEST,
  OCI_INDEX,
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
];

/** The `Accept` header a client sends to get any manifest in its native form. */
export const MANIFEST_ACCEPT = MANIFEST_MEDIA_TYPES.join(', ');

/** Tells whether `mediaType` names an index (OCI index or Docker manifest list). */
export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === OCI_INDEX || mediaType === DOCKER_MANIFEST_LIST;
}

/** Tells whether `mediaType` names a single-platform manifest (OCI or Docker). */
export function isImageManifestMediaType(mediaType: string | undefined): boolean {
  return mediaType === OCI_MANIFEST || mediaType === DOCKER_MANIFEST;
}
