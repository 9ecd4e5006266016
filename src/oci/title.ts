/**
 * Checks on file titles (`org.opencontainers.image.title`) and the oras convention for folders.
 * A title comes from whoever pushed the artifact, so every reader that turns it into a file name
 * (a pull into a folder, a download's suggested name, an archive entry) checks it the same way.
 */
import { OCI_LAYER_TAR_GZIP } from './media-types.js';

/**
 * Annotation that oras and ocidrop set to `true` on a blob that is a folder packed as tar+gzip, so
 * that a pull unpacks it under its title.
 */
export const UNPACK = 'io.deis.oras.content.unpack';

/**
 * Returns why `title` is not a plain file name, or undefined when it is one. A plain file name is not
 * empty and not `.`, contains no `..`, no `/` or `\`, no control characters, and does not start with a
 * Windows drive letter such as `C:`.
 */
export function titleProblem(title: string): string | undefined {
  if (title === '') return 'it is empty';
  if (title === '.') return 'it names the output folder itself';
  if (title.includes('..')) return 'it contains ".."';
  if (title.includes('/') || title.includes('\\')) return 'it contains a path separator';
  if (/^[a-zA-Z]:/.test(title)) return 'it starts with a Windows drive letter';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters.
  if (/[\u0000-\u001f\u007f]/.test(title)) return 'it contains a control character';
  return undefined;
}

/**
 * Tells whether a blob is a packed folder in the oras convention: media type
 * `application/vnd.oci.image.layer.v1.tar+gzip` and the annotation {@link UNPACK} set to `true`.
 */
export function isPackedFolder(mediaType: string, annotations: Record<string, string> | undefined): boolean {
  return mediaType === OCI_LAYER_TAR_GZIP && annotations?.[UNPACK] === 'true';
}

/**
 * Returns the file name under which a packed folder is offered as one file: the title with `.tar.gz`
 * added, unless it already ends with `.tar.gz` or `.tgz`.
 */
export function packedFolderFileName(title: string): string {
  return /\.(?:tar\.gz|tgz)$/i.test(title) ? title : `${title}.tar.gz`;
}

/**
 * Returns the name a browser should save a file under: the title without its leading dots, so that
 * a download never creates a hidden file. Returns the title itself when nothing would be left.
 */
export function visibleFileName(title: string): string {
  const stripped = title.replace(/^\.+/, '');
  return stripped === '' ? title : stripped;
}
