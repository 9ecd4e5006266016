/**
 * Annotation keys: the predefined ones of the OCI image specification (`annotations.md`)
 * and the few that ocidrop adds under its own `io.ocidrop` prefix.
 */

/** Human-readable title of a file; ocidrop sets it to the file's base name on every file blob. */
export const TITLE = 'org.opencontainers.image.title';
/** Version of the packaged software; ocidrop sets it to the tag it pushes. */
export const VERSION = 'org.opencontainers.image.version';
/** Date and time the artifact was created, RFC 3339. */
export const CREATED = 'org.opencontainers.image.created';
/** Human-readable description; the gateway shows it as release notes. */
export const DESCRIPTION = 'org.opencontainers.image.description';
/** Tag name of a manifest in an OCI image layout's `index.json`. */
export const REF_NAME = 'org.opencontainers.image.ref.name';

/** Unix permission bits of a file as four octal digits, such as `0755`, so that a pull restores them. */
export const FILE_MODE = 'io.ocidrop.file.mode';
/** `true` on the file that is a platform's program, the one a download link serves. */
export const FILE_MAIN = 'io.ocidrop.file.main';

/** Parses a `FILE_MODE` value; returns undefined for anything but one to four octal digits. */
export function parseFileMode(value: string | undefined): number | undefined {
  if (value === undefined || !/^[0-7]{1,4}$/.test(value)) return undefined;
  return Number.parseInt(value, 8);
}

/** Formats permission bits for `FILE_MODE`. */
export function formatFileMode(mode: number): string {
  return (mode & 0o7777).toString(8).padStart(4, '0');
}
