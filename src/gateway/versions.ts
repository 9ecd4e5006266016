/**
 * Version tags of a repository: their order, and the one that `latest` means.
 * Tags that parse as semantic versions (semver.org 2.0.0, a leading `v` allowed) sort by precedence;
 * other tags follow them in lexical order.
 */
import semver from 'semver';

/** The set of versions `latest` may pick: `stable` skips prereleases such as `2.0.0-rc.1`. */
export type Channel = 'stable' | 'prerelease';

/** A tag seen as a version. */
export interface VersionTag {
  tag: string;
  /** The parsed semantic version; undefined for tags such as `main` or `nightly`. */
  semver: semver.SemVer | undefined;
  prerelease: boolean;
}

// Tags that tools write for signatures, attestations and the referrers tag schema: `sha256-<hex>[.sig]`.
const DIGEST_TAG = /^sha(?:256|512)-[0-9a-f]{64,128}(?:\.[a-z]+)?$/;

/**
 * Sorts the tags that name versions, newest first: semantic versions by precedence, then the rest
 * in lexical order. Drops the tags that tools derive from digests (signatures, attestations).
 */
export function sortVersions(tags: readonly string[]): VersionTag[] {
  const versions: VersionTag[] = [];
  const others: VersionTag[] = [];
  for (const tag of tags) {
    if (DIGEST_TAG.test(tag)) continue;
    const parsed = semver.parse(tag);
    if (parsed === null) others.push({ tag, semver: undefined, prerelease: false });
    else versions.push({ tag, semver: parsed, prerelease: parsed.prerelease.length > 0 });
  }
  // Equal precedence (`1.0.0` and `v1.0.0`, or build metadata) falls back to the tag text so the order is stable.
  versions.sort((a, b) => semver.rcompare(a.semver!, b.semver!) || compareText(a.tag, b.tag));
  others.sort((a, b) => compareText(a.tag, b.tag));
  return [...versions, ...others];
}

/**
 * Picks the tag `latest` means: the highest semantic version of the channel.
 * Returns undefined when no tag is a semantic version of that channel; the caller then falls back to the
 * newest tag by creation date.
 */
export function latestSemverTag(versions: readonly VersionTag[], channel: Channel): string | undefined {
  return versions.find(
    (version) => version.semver !== undefined && (channel === 'prerelease' || !version.prerelease),
  )?.tag;
}

/**
 * Tells whether `candidate` is newer than `current`. Semantic versions compare by precedence; any
 * other pair of different strings counts as newer, because nothing orders them.
 */
export function isNewerVersion(candidate: string, current: string): boolean {
  const a = semver.parse(candidate);
  const b = semver.parse(current);
  if (a !== null && b !== null) return semver.gt(a, b);
  return candidate !== current;
}

function compareText(a: string, b: string): number {
  if (a < b) return -1;
  if (a > b) return 1;
  return 0;
}
