/**
 * The safety check on file titles (`org.opencontainers.image.title`) before a pull writes them:
 * a title comes from the publisher of the artifact, so it must be a plain file name that stays
 * inside the output folder.
 */
import { titleProblem } from '../oci/title.js';
import { UnsafeTitleError } from './errors.js';

/**
 * Throws {@link UnsafeTitleError} unless `title` is a plain file name: not empty, not `.`, without
 * `..`, without `/` or `\`, not absolute (including a Windows drive such as `C:`), and without
 * control characters.
 */
export function validateTitle(title: string): void {
  const reason = titleProblem(title);
  if (reason !== undefined) throw new UnsafeTitleError(title, reason);
}

/**
 * Checks every title of a manifest before anything is written, so that one bad title stops the
 * whole pull. Two blobs with the same title are rejected too, since one would overwrite the other.
 */
export function validateTitles(titles: string[]): void {
  const seen = new Set<string>();
  for (const title of titles) {
    validateTitle(title);
    // Case-insensitive file systems (macOS, Windows) would write both to one file.
    const key = title.toLowerCase();
    if (seen.has(key))
      throw new UnsafeTitleError(title, 'two blobs have this title, so one would overwrite the other');
    seen.add(key);
  }
}
