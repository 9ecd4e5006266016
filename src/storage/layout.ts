/**
 * Paths of the filesystem store and the checks that keep every request inside it.
 *
 * ```
 * DATA/blobs/<algorithm>/<hex>                         every blob and manifest, once
 * DATA/repositories/<name>/_oci/                       an OCI image layout per repository
 * DATA/repositories/<name>/_oci/oci-layout
 * DATA/repositories/<name>/_oci/index.json             every manifest; tags carry org.opencontainers.image.ref.name
 * DATA/repositories/<name>/_oci/blobs/<algorithm>/<hex> hard links to the shared blobs
 * DATA/uploads/<id>/data, DATA/uploads/<id>/session.json
 * ```
 *
 * The layout sits in `_oci` because a repository name component always starts with a letter or
 * digit, so `_oci` never collides with a nested repository such as `<name>/blobs`.
 */
import { join } from 'node:path';
import { RegistryError } from '../oci/errors.js';
import { isRepositoryName } from '../oci/reference.js';

/** Name of the folder inside a repository folder that contains its OCI image layout. */
export const LAYOUT_FOLDER = '_oci';

/** Content of the `oci-layout` file (image-spec `image-layout.md`). */
export const OCI_LAYOUT_FILE = '{"imageLayoutVersion":"1.0.0"}';

/** Upload session ids are UUIDs that the server generates. */
export const UPLOAD_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Checks a repository name against the distribution spec's grammar, before any disk access.
 * @throws RegistryError `NAME_INVALID` naming the value.
 */
export function checkRepositoryName(name: string): void {
  if (!isRepositoryName(name)) {
    throw new RegistryError(
      'NAME_INVALID',
      `invalid repository name ${JSON.stringify(name)}: use lowercase letters, digits and separators (. _ __ - /), at most 255 characters`,
      { name },
    );
  }
}

/**
 * Checks an upload session id against the pattern of the ids the server generates.
 * @throws RegistryError `BLOB_UPLOAD_UNKNOWN` naming the value.
 */
export function checkUploadId(id: string): void {
  if (!UPLOAD_ID_PATTERN.test(id)) {
    throw new RegistryError('BLOB_UPLOAD_UNKNOWN', `upload session ${JSON.stringify(id)} is unknown`, { id });
  }
}

/** Paths under one store folder. */
export class StoreLayout {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  get blobs(): string {
    return join(this.root, 'blobs');
  }

  get repositories(): string {
    return join(this.root, 'repositories');
  }

  get uploads(): string {
    return join(this.root, 'uploads');
  }

  /** Returns the OCI image layout folder of a repository whose name has passed {@link checkRepositoryName}. */
  repository(name: string): string {
    return join(this.repositories, ...name.split('/'), LAYOUT_FOLDER);
  }

  /** Returns the folder of an upload session whose id has passed {@link checkUploadId}. */
  upload(id: string): string {
    return join(this.uploads, id);
  }
}
