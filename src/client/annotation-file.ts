/**
 * Annotations given on the command line: `KEY=VALUE` pairs and the JSON annotation file of the oras
 * CLI, `{"$manifest": {KEY: VALUE}, "<file title>": {KEY: VALUE}}`.
 */
import { readFile } from 'node:fs/promises';
import { TITLE } from '../oci/annotations.js';
import { titleProblem } from '../oci/title.js';
import { InvalidInputError } from './errors.js';

/** The key of an annotation file whose annotations go on the manifest, as oras names it. */
export const MANIFEST_ANNOTATIONS_KEY = '$manifest';

/** Annotations read from an annotation file. */
export interface AnnotationSet {
  /** Annotations of the manifests and the index. */
  manifest: Record<string, string>;
  /** Annotations per file, keyed by the file's title. */
  files: Record<string, Record<string, string>>;
}

/**
 * Parses one `KEY=VALUE` argument; the value may contain `=` and may be empty.
 * @throws InvalidInputError when there is no `=` or the key is empty.
 */
export function parseAnnotation(argument: string): [string, string] {
  const equals = argument.indexOf('=');
  if (equals <= 0) {
    throw new InvalidInputError(
      `invalid annotation ${JSON.stringify(argument)}: write KEY=VALUE, such as org.opencontainers.image.description=Release notes`,
    );
  }
  return [argument.slice(0, equals), argument.slice(equals + 1)];
}

/**
 * Reads an annotation file. `$config` is rejected, because ocidrop manifests use the empty config.
 * @throws InvalidInputError when the file is missing, is not JSON, or contains a value that is not a
 *   string, naming the key.
 */
export async function readAnnotationFile(path: string): Promise<AnnotationSet> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new InvalidInputError(
      `cannot read the annotation file ${JSON.stringify(path)}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (!isRecord(parsed)) {
    throw new InvalidInputError(
      `the annotation file ${JSON.stringify(path)} is not a JSON object of the form {"$manifest": {...}, "FILE": {...}}`,
    );
  }

  const result: AnnotationSet = { manifest: {}, files: {} };
  for (const [key, value] of Object.entries(parsed)) {
    if (key === '$config') {
      throw new InvalidInputError(
        `the annotation file ${JSON.stringify(path)} has "$config" annotations, but ocidrop artifacts use the empty config: move them to "$manifest"`,
      );
    }
    if (!isRecord(value) || !Object.values(value).every((entry) => typeof entry === 'string')) {
      throw new InvalidInputError(
        `the annotations of ${JSON.stringify(key)} in ${JSON.stringify(path)} are not an object of strings`,
      );
    }
    const title = (value as Record<string, string>)[TITLE];
    const problem = title === undefined ? undefined : titleProblem(title);
    if (problem !== undefined) {
      throw new InvalidInputError(
        `the annotations of ${JSON.stringify(key)} in ${JSON.stringify(path)} set the title ${JSON.stringify(title)}, which pull and the download gateway would reject: ${problem}; choose a plain file name`,
      );
    }
    if (key === MANIFEST_ANNOTATIONS_KEY) result.manifest = value as Record<string, string>;
    else result.files[key] = value as Record<string, string>;
  }
  return result;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
