/**
 * Maps a gateway URL path to a route. Repository names contain slashes (`team/app`), so the path is
 * read from the right: the last segments name the action (`download`, `files/<name>`, `latest.json`,
 * `install.sh`...), and what remains is the repository and, for some actions, the version.
 */
import semver from 'semver';
import { isDigest } from '../oci/digest.js';
import { isRepositoryName, isTag } from '../oci/reference.js';
import { GatewayError } from './errors.js';

/** The word in a URL that means "the newest version" instead of a tag. */
export const LATEST = 'latest';

/** Bundle formats of a whole build. */
export type ArchiveFormat = 'zip' | 'tar.gz';

/** A parsed gateway path. `version` is `latest`, a tag or a manifest digest. */
export type Route =
  | { kind: 'home' }
  /** `/<repository>` or `/<repository>/<version>`: the ambiguity of a two-part path is settled by the handler. */
  | {
      kind: 'page';
      repository: string;
      version: string | undefined;
      alternative: { repository: string; version: string } | undefined;
    }
  | { kind: 'download'; repository: string; version: string }
  | { kind: 'file'; repository: string; version: string; name: string }
  | { kind: 'archive'; repository: string; version: string; format: ArchiveFormat }
  | { kind: 'json'; repository: string; version: string }
  | { kind: 'install'; repository: string; shell: 'sh' | 'ps1' };

/**
 * Parses a URL path (without the query).
 *
 * Every segment is percent-decoded once. Before anything is fetched, the repository must match the
 * distribution spec's name grammar, and the version its tag grammar or the digest grammar.
 * @throws GatewayError `NOT_FOUND` for a path that names no route, `BAD_REQUEST` for broken encoding.
 */
export function parseRoute(pathname: string): Route {
  if (pathname === '/' || pathname === '') return { kind: 'home' };
  const segments = splitPath(pathname);
  const last = segments.at(-1)!;
  const rest = segments.slice(0, -1);

  if (last === 'latest.json') return { kind: 'json', repository: repository(rest), version: LATEST };
  if (last === 'install.sh') return { kind: 'install', repository: repository(rest), shell: 'sh' };
  if (last === 'install.ps1') return { kind: 'install', repository: repository(rest), shell: 'ps1' };

  if (segments.length >= 3) {
    const versionSegment = segments.at(-2)!;
    const head = segments.slice(0, -2);
    if (last === 'download' && isVersion(versionSegment)) {
      return { kind: 'download', repository: repository(head), version: versionSegment };
    }
    if (last === 'release.json' && isVersion(versionSegment)) {
      return { kind: 'json', repository: repository(head), version: versionSegment };
    }
    if ((last === 'archive.zip' || last === 'archive.tar.gz') && isVersion(versionSegment)) {
      return {
        kind: 'archive',
        repository: repository(head),
        version: versionSegment,
        format: last === 'archive.zip' ? 'zip' : 'tar.gz',
      };
    }
  }
  if (segments.length >= 4 && segments.at(-2) === 'files' && isVersion(segments.at(-3)!)) {
    return {
      kind: 'file',
      repository: repository(segments.slice(0, -3)),
      version: segments.at(-3)!,
      name: last,
    };
  }

  // `/a/b` may be the repository `a/b` or version `b` of `a`; keep both readings when both are valid.
  const whole = segments.join('/');
  const asVersion =
    rest.length > 0 && isVersion(last) && isRepositoryName(rest.join('/'))
      ? { repository: rest.join('/'), version: last }
      : undefined;
  if (isRepositoryName(whole))
    return { kind: 'page', repository: whole, version: undefined, alternative: asVersion };
  if (asVersion)
    return {
      kind: 'page',
      repository: asVersion.repository,
      version: asVersion.version,
      alternative: undefined,
    };
  throw notFound(pathname);
}

/** Tells whether a URL segment can name a version: `latest`, a tag or a manifest digest. */
export function isVersion(segment: string): boolean {
  return segment === LATEST || isTag(segment) || isDigest(segment);
}

/**
 * Checks the `current` query parameter of `latest.json`: the version the caller runs. When the
 * version it is compared with is a semantic version, `current` must be one too (a leading `v` is
 * allowed), so that a typo never reports an update.
 * @throws GatewayError `BAD_REQUEST` naming the invalid value.
 */
export function checkCurrentVersion(version: string, current: string): void {
  const expectsSemver = semver.parse(version) !== null;
  if (current.length > 0 && current.length <= 128 && (!expectsSemver || semver.parse(current) !== null))
    return;
  throw new GatewayError(
    'BAD_REQUEST',
    `invalid current version ${JSON.stringify(current.slice(0, 128))}: pass the ${expectsSemver ? 'semantic ' : ''}version the app runs, such as 1.0.0`,
  );
}

function splitPath(pathname: string): string[] {
  const raw = pathname.replace(/^\/+/, '').replace(/\/+$/, '');
  if (raw === '') return [];
  return raw.split('/').map((segment) => {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      throw new GatewayError(
        'BAD_REQUEST',
        `invalid percent-encoding in URL segment ${JSON.stringify(segment)}`,
      );
    }
    if (decoded === '' || decoded === '.' || decoded === '..') throw notFound(pathname);
    return decoded;
  });
}

function repository(segments: string[]): string {
  const name = segments.join('/');
  if (!isRepositoryName(name)) {
    throw new GatewayError(
      'NOT_FOUND',
      `invalid repository name ${JSON.stringify(name)}: names use lowercase letters, digits and separators (. _ __ - /)`,
    );
  }
  return name;
}

function notFound(pathname: string): GatewayError {
  return new GatewayError('NOT_FOUND', `no page at ${JSON.stringify(pathname)}`);
}
