/**
 * A release as the gateway shows it: one version of a repository with its builds (one per platform)
 * and each build's files, read through a `ContentSource`.
 *
 * It reads what `ocidrop push` writes: an image index of per-platform artifact manifests, or a single
 * manifest. It also reads artifacts pushed by other tools (titles but no ocidrop annotations), and it
 * marks container images as not downloadable.
 */
import type { ContentSource } from '../content/source.js';
import * as annotations from '../oci/annotations.js';
import type { Digest } from '../oci/digest.js';
import { type Descriptor, type ImageManifest, parseManifest } from '../oci/manifest.js';
import {
  DOCKER_IMAGE_CONFIG,
  isImageManifestMediaType,
  OCI_IMAGE_CONFIG,
  OCI_LAYER_TAR,
  OCI_LAYER_TAR_GZIP,
} from '../oci/media-types.js';
import { formatPlatform, type Platform } from '../oci/platform.js';
import { isPackedFolder, packedFolderFileName, titleProblem } from '../oci/title.js';
import { GatewayError } from './errors.js';

const PLATFORM_NAME = /^[a-z0-9][a-z0-9._-]{0,31}$/;

/** An index with more entries than this is not read: no release has that many platforms. */
export const MAX_BUILDS = 64;

/** One file of a build. */
export interface ReleaseFile {
  /**
   * The file name the gateway offers: the blob's `org.opencontainers.image.title`, with `.tar.gz`
   * added for a packed folder (see {@link packedFolderFileName}).
   */
  name: string;
  /** The blob's `org.opencontainers.image.title` as pushed. */
  title: string;
  /** True for a folder packed as tar+gzip in the oras convention. */
  folder: boolean;
  /**
   * Why the title is not a plain file name (`..`, a path separator...), when it is not one. The
   * gateway shows such a file as unavailable and never serves it.
   */
  problem: string | undefined;
  digest: Digest;
  size: number;
  /** Unix permission bits from `io.ocidrop.file.mode`, when present. */
  mode: number | undefined;
  /** True for the build's program, the file a download link serves. */
  main: boolean;
}

/** The files of one platform. */
export interface Build {
  /** Undefined for a release with one manifest and no index: that build serves every platform. */
  platform: Platform | undefined;
  /** Digest of the build's manifest. */
  digest: Digest;
  files: ReleaseFile[];
  /** The program; undefined when the build has no file at all. */
  main: ReleaseFile | undefined;
  created: string | undefined;
}

/** One version of a repository. */
export interface Release {
  repository: string;
  /** The tag, or the digest when the release was asked for by digest. */
  version: string;
  /** Digest of the tag's manifest or index. */
  digest: Digest;
  /** `artifact` for files to download, `container-image` for an image that only a container runtime can use. */
  kind: 'artifact' | 'container-image';
  builds: Build[];
  /** `org.opencontainers.image.created` of the index or manifest, RFC 3339. */
  created: string | undefined;
  /**
   * Release notes: `org.opencontainers.image.description` when present, otherwise the file of a
   * release-notes referrer once the gateway has read one (see `notes.ts`).
   */
  notes: string | undefined;
  /** True when `notes` is the start of a referrer's notes file that was longer than the limit. */
  notesTruncated?: boolean;
}

/**
 * Reads one version of a repository.
 *
 * @param reference a tag or a manifest digest, already validated by the caller.
 * @throws RegistryError from the source when the repository or tag does not exist.
 * @throws InvalidManifestError when a manifest is not valid OCI content.
 */
export async function loadRelease(
  source: ContentSource,
  repository: string,
  reference: string,
): Promise<Release> {
  const fetched = await source.manifest(repository, reference);
  const parsed = parseManifest(fetched.bytes, fetched.mediaType);

  if (parsed.kind === 'manifest') {
    const build = toBuild(parsed.manifest, fetched.digest, undefined);
    return {
      repository,
      version: reference,
      digest: fetched.digest,
      kind: isContainerImage(parsed.manifest) ? 'container-image' : 'artifact',
      builds: [build],
      created: parsed.manifest.annotations?.[annotations.CREATED],
      notes: parsed.manifest.annotations?.[annotations.DESCRIPTION],
    };
  }

  // An index whose entries name no platform (some tools write those) is read as one build for every platform.
  let entries = parsed.manifest.manifests.filter(isPlatformEntry);
  if (entries.length === 0) {
    entries = parsed.manifest.manifests
      .filter((entry) => isImageManifestMediaType(entry.mediaType) && !entry.platform)
      .slice(0, 1);
  }
  if (entries.length > MAX_BUILDS) {
    throw new GatewayError(
      'UPSTREAM_INVALID',
      `the index of ${repository}:${reference} lists ${entries.length} manifests, more than ${MAX_BUILDS}`,
    );
  }
  const manifests = await Promise.all(
    entries.map(async (entry) => {
      const child = await source.manifest(repository, entry.digest);
      const childParsed = parseManifest(child.bytes, child.mediaType);
      if (childParsed.kind !== 'manifest') return undefined;
      return { entry, manifest: childParsed.manifest };
    }),
  );

  const builds: Build[] = [];
  let containerImage = false;
  let notes = parsed.manifest.annotations?.[annotations.DESCRIPTION];
  for (const item of manifests) {
    if (item === undefined) continue;
    containerImage ||= isContainerImage(item.manifest);
    notes ??= item.manifest.annotations?.[annotations.DESCRIPTION];
    builds.push(
      toBuild(
        item.manifest,
        item.entry.digest,
        item.entry.platform ? pickPlatform(item.entry.platform) : undefined,
      ),
    );
  }
  return {
    repository,
    version: reference,
    digest: fetched.digest,
    kind: containerImage ? 'container-image' : 'artifact',
    builds,
    created:
      parsed.manifest.annotations?.[annotations.CREATED] ?? builds.find((build) => build.created)?.created,
    notes,
  };
}

/** Reads `org.opencontainers.image.created` of a tag's manifest or index, without reading its children. */
export async function createdOf(
  source: ContentSource,
  repository: string,
  reference: string,
): Promise<string | undefined> {
  const fetched = await source.manifest(repository, reference);
  return parseManifest(fetched.bytes, fetched.mediaType).manifest.annotations?.[annotations.CREATED];
}

/**
 * Lists a manifest's files and picks its program.
 *
 * The program is the blob marked `io.ocidrop.file.main`. Content pushed by other tools has no such
 * mark, so there it is the first file whose mode is executable, else the first file.
 */
export function toBuild(manifest: ImageManifest, digest: Digest, platform: Platform | undefined): Build {
  const files: ReleaseFile[] = [];
  for (const layer of manifest.layers) {
    const name = layer.annotations?.[annotations.TITLE];
    // A blob without a title is not a file in the oras convention that ocidrop follows.
    if (name === undefined || name === '') continue;
    const folder = isPackedFolder(layer.mediaType, layer.annotations);
    const problem = titleProblem(name);
    files.push({
      name: folder && problem === undefined ? packedFolderFileName(name) : name,
      title: name,
      folder,
      problem,
      digest: layer.digest,
      size: layer.size,
      mode: annotations.parseFileMode(layer.annotations?.[annotations.FILE_MODE]),
      main: layer.annotations?.[annotations.FILE_MAIN] === 'true',
    });
  }

  let main = files.find((file) => file.main);
  main ??= files.find((file) => file.mode !== undefined && (file.mode & 0o111) !== 0);
  main ??= files[0];
  if (main !== undefined) main.main = true;
  return { platform, digest, files, main, created: manifest.annotations?.[annotations.CREATED] };
}

/**
 * Finds a file of a build by the name in a URL: the offered name (`fonts.tar.gz`) or the title as
 * pushed (`fonts`), so that links made before a folder got its `.tar.gz` name keep working.
 */
export function findFile(files: readonly ReleaseFile[], name: string): ReleaseFile | undefined {
  return files.find((file) => file.name === name) ?? files.find((file) => file.title === name);
}

/**
 * Lists the files that every build of a release has, under the same name and with the same digest,
 * such as a configuration file shipped with each platform. Returns the files of the first build.
 */
export function commonFiles(release: Pick<Release, 'builds'>): ReleaseFile[] {
  const [first, ...others] = release.builds;
  if (first === undefined) return [];
  return first.files.filter((file) =>
    others.every((build) =>
      build.files.some((other) => other.name === file.name && other.digest === file.digest),
    ),
  );
}

/**
 * Returns a build without a platform that holds the {@link commonFiles} of a release and no program:
 * what a request that names no platform may still download.
 */
export function commonBuild(release: Pick<Release, 'builds' | 'digest' | 'created'>): Build {
  return {
    platform: undefined,
    digest: release.digest,
    files: commonFiles(release),
    main: undefined,
    created: release.created,
  };
}

/**
 * Returns the {@link commonBuild} of a release when it can serve `name` (any of its files when `name`
 * is empty), else undefined.
 */
export function commonFileBuild(release: Release, name: string): Build | undefined {
  const common = commonBuild(release);
  if (name === '' || findFile(common.files, name) !== undefined) return common;
  return undefined;
}

/** Lists the files whose titles are plain file names, the only ones the gateway serves. */
export function safeFiles(files: readonly ReleaseFile[]): ReleaseFile[] {
  return files.filter((file) => file.problem === undefined);
}

/** Returns the error for a download of a file whose title is not a plain file name. */
export function unsafeFileError(repository: string, version: string, file: ReleaseFile): GatewayError {
  return new GatewayError(
    'FILE_NAME_UNSAFE',
    `${repository} ${version} names a file ${JSON.stringify(file.title)}, which the gateway does not serve because ${file.problem ?? 'it is not a plain file name'}; the publisher should push it again under a plain file name`,
    { repository, version },
  );
}

/** Tells whether a manifest is a container image: an image config, or tar layers without titles. */
export function isContainerImage(manifest: ImageManifest): boolean {
  if (manifest.config.mediaType === OCI_IMAGE_CONFIG || manifest.config.mediaType === DOCKER_IMAGE_CONFIG) {
    return true;
  }
  return (
    manifest.layers.length > 0 &&
    manifest.layers.every(
      (layer) => isTarLayer(layer.mediaType) && layer.annotations?.[annotations.TITLE] === undefined,
    )
  );
}

/** Lists the platforms a release has builds for. */
export function platformsOf(release: Release): Platform[] {
  return release.builds.flatMap((build) => (build.platform ? [build.platform] : []));
}

/** Returns a label such as `linux/amd64`, or `any platform` for a build without one. */
export function buildLabel(build: Build): string {
  return build.platform ? formatPlatform(build.platform) : 'any platform';
}

// Keeps the fields the gateway shows, so that an index cannot smuggle odd values into links.
function pickPlatform(platform: Platform): Platform {
  return platform.variant
    ? { os: platform.os, architecture: platform.architecture, variant: platform.variant }
    : { os: platform.os, architecture: platform.architecture };
}

function isTarLayer(mediaType: string): boolean {
  return (
    mediaType === OCI_LAYER_TAR ||
    mediaType === OCI_LAYER_TAR_GZIP ||
    mediaType.startsWith('application/vnd.docker.image.rootfs.') ||
    mediaType.startsWith(`${OCI_LAYER_TAR}+`)
  );
}

// Index entries without a platform, or with `unknown/unknown` (BuildKit's attestation manifests), are not builds.
// Platform names outside the lowercase OCI grammar are skipped, so they never reach links, headers or scripts.
function isPlatformEntry(entry: Descriptor): boolean {
  if (!isImageManifestMediaType(entry.mediaType)) return false;
  const platform = entry.platform;
  if (platform === undefined || platform.os === 'unknown' || platform.architecture === 'unknown')
    return false;
  return [platform.os, platform.architecture, platform.variant ?? 'v'].every((part) =>
    PLATFORM_NAME.test(part),
  );
}
