/**
 * The download gateway: turns the repositories of a `ContentSource` into download pages, stable
 * download links, an update API and install scripts. Serves every path except `/v2/...`, which the
 * composition sends to the registry.
 *
 * It reads content only through `ContentSource`, so it works the same over the embedded store and a
 * remote registry. The `Host` header is used only to build the links shown to the visitor, never to
 * decide what to fetch.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { isClientAbort } from '../content/client-abort.js';
import type { ContentSource } from '../content/source.js';
import type { Digest } from '../oci/digest.js';
import { RegistryError } from '../oci/errors.js';
import { formatPlatform } from '../oci/platform.js';
import { visibleFileName } from '../oci/title.js';
import { AccessControl, type GatewayAccessOptions, type Grant } from './access.js';
import { sendArchive } from './archive.js';
import { DiskBlobCache, type DiskBlobCacheOptions } from './blob-cache.js';
import { CachingSource, type ManifestCacheOptions } from './cache.js';
import {
  CLIENT_HINTS,
  candidatesFor,
  DETECTION_HEADERS,
  type DetectedPlatform,
  detectPlatform,
} from './detect.js';
import { sendFile } from './download.js';
import { GatewayError, toGatewayError } from './errors.js';
import { renderInstallPs1, renderInstallSh } from './install.js';
import { commandLineHint, downloadPath, filePath, pagePath, platformQuery } from './links.js';
import type { GatewayMetrics } from './metrics.js';
import { loadReferrerNotes } from './notes.js';
import { isOperationsPath, serveOperations } from './operations.js';
import { PAGE_CSP, renderErrorPage, renderHomePage, renderReleasePage } from './pages.js';
import {
  type Build,
  commonFileBuild,
  createdOf,
  findFile,
  loadRelease,
  platformsOf,
  type Release,
  safeFiles,
  unsafeFileError,
} from './release.js';
import { checkCurrentVersion, isVersion, LATEST, parseRoute, type Route } from './routes.js';
import { type Selection, selectBuild } from './select.js';
import { type Channel, isNewerVersion, latestSemverTag, sortVersions, type VersionTag } from './versions.js';

/** The home page lists at most this many repositories. */
export const MAX_LISTED_REPOSITORIES = 1000;

/** Without semantic-version tags, `latest` compares the creation dates of at most this many tags. */
export const MAX_DATED_TAGS = 50;

/** Cache lifetime of responses that change when a version is pushed (pages, `latest` redirects, `latest.json`), in seconds. */
export const SHORT_MAX_AGE = 60;

/** `Cache-Control` of downloads addressed by version or digest. */
export const IMMUTABLE = 'public, max-age=31536000, immutable';

/** Options of {@link createGatewayHandler}. */
export interface GatewayOptions {
  /** Logger for failures that end in a 5xx response. The composition logs the access line itself. */
  logger?: Logger;
  /**
   * Public base URL of the gateway, such as `https://get.example.com`, for links and commands on pages,
   * in `latest.json` and in install scripts.
   * @default `http://` and the request's `Host` header
   */
  publicUrl?: string;
  /**
   * The versions `latest` may pick when a request has no `?channel=` parameter.
   * @default 'stable'
   */
  channel?: Channel;
  /**
   * Manifest caching. Digest-addressed manifests are always cached, because their content cannot change.
   * Set `tagTtlMs` to also cache tags and listings, which pays off in front of a remote registry.
   */
  cache?: ManifestCacheOptions;
  /** A size-bounded disk cache of blobs; none by default, because a local store needs none. */
  blobCache?: DiskBlobCacheOptions;
  /** Private repositories, users and signed links. @default every repository public, no signed links */
  access?: GatewayAccessOptions;
  /** The metrics that count downloads and upstream timings, and that `/-/metrics` renders. */
  metrics?: GatewayMetrics;
  /**
   * Redirect a download of a public repository to the blob's presigned storage URL when the
   * source offers one (`ContentSource.blobUrl`), so that the bytes do not pass through the gateway.
   * Private and signed downloads are always streamed, because a storage URL would outlive the grant.
   * @default false
   */
  redirectToStorage?: boolean;
  /**
   * Hash every download of a blob that the source verified when it stored it (the embedded
   * store's), to catch a blob file changed on disk since. It caps each such download at the
   * speed of sha256 in node. Blobs from remote registries are always hashed.
   * @default false
   */
  verifyStoredBlobs?: boolean;
}

/** A request handler that writes every response itself, errors included, and never rejects. */
export type GatewayHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/** How an error is written: the URL decides, so that scripts get JSON and people get a page. */
type ErrorFormat = 'html' | 'json' | 'text';

// A `Host` header is only trusted as a host name, IPv4 or [IPv6] with an optional port.
const HOST_HEADER =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

const PLATFORM_PART = /^[a-z0-9][a-z0-9._-]{0,31}$/;

/**
 * Creates the gateway's request handler over a content source.
 *
 * Routes:
 * - `/` lists repositories.
 * - `/<repository>` shows the newest version, and `/<repository>/<version>` a given one.
 * - `/<repository>/<version>/download` and `.../files/<name>` send files; with `latest`, they redirect.
 * - `/<repository>/latest.json` and `/<repository>/<version>/release.json` describe a build.
 * - `/<repository>/install.sh` and `install.ps1` install the newest version, or `?version=`.
 * - `/<repository>/<version>/archive.zip` and `archive.tar.gz` bundle a build.
 */
export function createGatewayHandler(source: ContentSource, options: GatewayOptions = {}): GatewayHandler {
  const blobs = options.blobCache ? new DiskBlobCache(source, options.blobCache) : source;
  const cache: ManifestCacheOptions = {
    // The visitor gets the stale page; the operator learns from the log that the registry failed.
    onStaleServed: (key, error) =>
      options.logger?.warn({ err: error, entry: key }, 'registry unavailable, serving a stale cache entry'),
    ...options.cache,
  };
  const gateway = new Gateway(new CachingSource(blobs, cache), options);
  return (req, res) => gateway.handle(req, res);
}

/** One request's parsed URL and the values derived from it. */
interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  query: URLSearchParams;
  baseUrl: string;
  channel: Channel;
  /** The credential that allowed the request: a user, a signed link or neither. */
  grant: Grant;
  /** True when the response must not be kept by shared caches: the repository is private or the link signed. */
  restricted: boolean;
}

class Gateway {
  private readonly source: ContentSource;
  private readonly options: GatewayOptions;
  private readonly publicUrl: string | undefined;
  private readonly access: AccessControl;

  constructor(source: ContentSource, options: GatewayOptions) {
    this.source = source;
    this.options = options;
    this.publicUrl = options.publicUrl?.replace(/\/+$/, '');
    this.access = new AccessControl(options.access);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://gateway.invalid');
    let format: ErrorFormat = errorFormatOf(url.pathname);
    let route: Route | undefined;
    try {
      if (isOperationsPath(url.pathname)) {
        await serveOperations(req, res, url.pathname, this.options.metrics);
        return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        throw new GatewayError(
          'METHOD_NOT_ALLOWED',
          `method ${req.method} is not allowed here; use GET or HEAD`,
          {},
          {
            headers: { Allow: 'GET, HEAD' },
          },
        );
      }
      route = parseRoute(url.pathname);
      format = errorFormatOfRoute(route);
      const channelParam = url.searchParams.get('channel');
      const repository = 'repository' in route ? route.repository : undefined;
      const grant = await this.access.authorize(
        req,
        url.pathname,
        url.searchParams,
        signedPlatform(url.searchParams),
        repository,
      );
      const context: RequestContext = {
        req,
        res,
        query: url.searchParams,
        baseUrl: this.baseUrl(req),
        channel:
          channelParam === 'prerelease' || channelParam === 'stable'
            ? channelParam
            : (this.options.channel ?? 'stable'),
        grant,
        restricted: grant.signed || (repository !== undefined && this.access.isPrivate(repository)),
      };
      await this.dispatch(context, route);
    } catch (error) {
      this.sendError(req, res, error, format, route);
    }
  }

  private async dispatch(context: RequestContext, route: Route): Promise<void> {
    switch (route.kind) {
      case 'home':
        return this.home(context);
      case 'page':
        return this.page(context, route);
      case 'download':
      case 'file':
        return this.download(context, route);
      case 'archive':
        return this.archive(context, route);
      case 'json':
        return this.json(context, route);
      case 'install':
        return this.install(context, route);
    }
  }

  private async home(context: RequestContext): Promise<void> {
    let repositories: string[];
    try {
      repositories = await this.source.repositories();
    } catch (error) {
      if (!isCatalogRefusal(error)) throw error;
      sendHtml(context, 200, renderHomePage(undefined, false), `public, max-age=${SHORT_MAX_AGE}`);
      return;
    }
    if (context.grant.user === undefined) {
      repositories = repositories.filter((name) => !this.access.isPrivate(name));
    }
    const listed = repositories.slice(0, MAX_LISTED_REPOSITORIES);
    // What the list shows depends on who is signed in, so only the visitor's own cache may keep it.
    sendHtml(
      context,
      200,
      renderHomePage(listed, repositories.length > listed.length),
      this.options.access?.users ? `private, max-age=${SHORT_MAX_AGE}` : `public, max-age=${SHORT_MAX_AGE}`,
    );
  }

  private async page(context: RequestContext, route: Extract<Route, { kind: 'page' }>): Promise<void> {
    let { repository, version } = route;
    let tags: string[];
    try {
      tags = await this.source.tags(repository);
    } catch (error) {
      if (!(route.alternative && error instanceof RegistryError && error.code === 'NAME_UNKNOWN')) {
        throw toGatewayError(error, { repository });
      }
      ({ repository, version } = route.alternative);
      // The path reads as another repository now, which may be private.
      if (this.access.isPrivate(repository)) {
        context.grant = await this.access.authorize(
          context.req,
          new URL(context.req.url ?? '/', 'http://gateway.invalid').pathname,
          context.query,
          signedPlatform(context.query),
          repository,
        );
        context.restricted = true;
      }
      tags = await this.tagsOf(repository);
    }

    const versions = sortVersions(tags);
    const latest = await this.findLatest(repository, versions, context.channel, false);
    if (version === LATEST) {
      if (latest === undefined) throw noVersion(repository, versions);
      redirect(
        context,
        pagePath(repository, latest) + rawQuery(context),
        cacheControl(context, `public, max-age=${SHORT_MAX_AGE}`),
      );
      return;
    }
    const shownVersion = version ?? latest;
    if (shownVersion === undefined) throw noVersion(repository, versions);

    const loaded = await this.release(repository, shownVersion);
    const detected = this.detect(context);
    const selection = selectBuild(loaded, detected);
    const release = await this.withReferrerNotes(
      loaded,
      // Without a chosen build there is no platform manifest to fall back to, only the index.
      'build' in selection ? [selection.build.digest] : [],
    );
    sendHtml(
      context,
      200,
      renderReleasePage({ release, versions, latest, detected, selection, baseUrl: context.baseUrl }),
      cacheControl(context, `public, max-age=${SHORT_MAX_AGE}`),
      true,
    );
  }

  private async download(
    context: RequestContext,
    route: Extract<Route, { kind: 'download' | 'file' }>,
  ): Promise<void> {
    const { repository } = route;
    const version = await this.resolveVersion(context, repository, route.version);
    const release = await this.release(repository, version);
    const { build, fromHeaders, emulated, portable } = this.chooseBuild(
      context,
      release,
      route.kind === 'file' ? route.name : undefined,
    );
    const headers: Record<string, string> = {};
    if (build.platform) headers['Ocidrop-Platform'] = formatPlatform(build.platform);
    if (emulated) headers['Ocidrop-Emulated'] = '?1';
    // The CPU was hidden, so the build that runs on every candidate was chosen; the page lets people choose.
    if (portable) headers['Ocidrop-Portable'] = '?1';

    // A signed link covers one path only, so `latest` is served in place rather than redirected.
    if (route.version === LATEST && !context.grant.signed) {
      const target =
        route.kind === 'download'
          ? downloadPath(repository, version, build.platform)
          : filePath(repository, version, route.name, build.platform);
      redirect(
        context,
        target,
        cacheControl(context, `public, max-age=${SHORT_MAX_AGE}`),
        fromHeaders,
        headers,
      );
      return;
    }

    const file = route.kind === 'download' ? build.main : findFile(build.files, route.name);
    if (file?.problem !== undefined) throw unsafeFileError(repository, version, file);
    if (file === undefined) {
      const problem =
        route.kind === 'download' ? 'has no files' : `has no file ${JSON.stringify(route.name)}`;
      throw new GatewayError(
        'FILE_NOT_FOUND',
        `${repository} ${version} for ${describeBuild(build)} ${problem}`,
        {
          repository,
          version,
          files: build.files.map((candidate) => candidate.name),
        },
      );
    }

    if (this.options.redirectToStorage && !context.restricted && this.source.blobUrl) {
      const location = await this.source.blobUrl(repository, file.digest);
      if (location !== undefined) {
        this.count(repository, version, build, file.size);
        redirect(context, location, 'no-store', fromHeaders, headers);
        return;
      }
    }

    // A browser must not save a hidden file, so the suggested name loses its leading dots.
    const offered = { ...file, name: visibleFileName(file.name) };
    const sent = await sendFile(context.req, context.res, this.source, repository, offered, {
      cacheControl: cacheControl(context, IMMUTABLE),
      vary: fromHeaders ? DETECTION_HEADERS : [],
      created: release.created,
      headers,
      verifyStoredBlobs: this.options.verifyStoredBlobs === true,
    });
    if (context.req.method === 'GET' && context.res.statusCode !== 304)
      this.count(repository, version, build, sent);
  }

  private count(repository: string, version: string, build: Build, bytes: number): void {
    const platform = build.platform ? formatPlatform(build.platform) : 'any';
    this.options.metrics?.recordDownload(repository, version, platform, bytes);
  }

  private async archive(context: RequestContext, route: Extract<Route, { kind: 'archive' }>): Promise<void> {
    const { repository } = route;
    const version = await this.resolveVersion(context, repository, route.version);
    const release = await this.release(repository, version);
    const { build, fromHeaders } = this.chooseBuild(context, release);
    const name = `${repository.replaceAll('/', '-')}-${version}${build.platform ? `-${build.platform.os}-${build.platform.architecture}` : ''}`;
    if (route.version === LATEST && !context.grant.signed) {
      const target = `/${repository}/${encodeURIComponent(version)}/archive.${route.format}${platformQuery(build.platform)}`;
      redirect(context, target, cacheControl(context, `public, max-age=${SHORT_MAX_AGE}`), fromHeaders);
      return;
    }
    await sendArchive(context.req, context.res, this.source, repository, build, {
      format: route.format,
      name,
      created: release.created,
      cacheControl: cacheControl(context, IMMUTABLE),
      vary: fromHeaders ? DETECTION_HEADERS : [],
    });
  }

  private async json(context: RequestContext, route: Extract<Route, { kind: 'json' }>): Promise<void> {
    const { repository } = route;
    const version = await this.resolveVersion(context, repository, route.version);
    const current = context.query.get('current');
    if (current !== null) checkCurrentVersion(version, current);
    const loaded = await this.release(repository, version);
    // Without a platform, the body lists the files that every build has and the platforms to choose from.
    const { build, fromHeaders, emulated, portable } = this.chooseBuild(context, loaded, '');
    // Notes from a referrer cost extra registry reads, so they are looked up only for an update check.
    const release = current === null ? loaded : await this.withReferrerNotes(loaded, [build.digest]);
    const main = build.main?.problem === undefined ? build.main : undefined;
    const link = (name: string): string =>
      `${context.baseUrl}${filePath(repository, version, name, build.platform)}`;

    const body: Record<string, unknown> = {
      repository,
      version,
      digest: release.digest,
      created: release.created ?? null,
      platform: build.platform ? formatPlatform(build.platform) : null,
      emulated,
      portable,
      notes: release.notes ?? null,
      notesTruncated: release.notesTruncated === true,
      main: main
        ? {
            name: main.name,
            digest: main.digest,
            sha256: main.digest.startsWith('sha256:') ? main.digest.slice(7) : null,
            size: main.size,
            url: `${context.baseUrl}${downloadPath(repository, version, build.platform)}`,
          }
        : null,
      files: safeFiles(build.files).map((file) => ({
        name: file.name,
        digest: file.digest,
        size: file.size,
        main: file.main,
        url: link(file.name),
      })),
    };
    if (build.platform === undefined && release.builds.some((candidate) => candidate.platform)) {
      body['platforms'] = platformsOf(release).map(formatPlatform);
    }

    if (current !== null) {
      body['current'] = current;
      body['updateAvailable'] = isNewerVersion(version, current);
    }

    const text = `${JSON.stringify(body, null, 2)}\n`;
    const headers: Record<string, string> = {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(text)),
      // Short-lived: `latest` moves with every push, and a tag can be pushed again.
      'Cache-Control': cacheControl(context, `public, max-age=${SHORT_MAX_AGE}`),
      'X-Content-Type-Options': 'nosniff',
      'Access-Control-Allow-Origin': '*',
    };
    if (fromHeaders) headers['Vary'] = DETECTION_HEADERS.join(', ');
    context.res.writeHead(200, headers);
    context.res.end(context.req.method === 'HEAD' ? undefined : text);
  }

  // NOTE: the script downloads through unsigned URLs, so for a private repository it works only with
  // credentials (which `curl | sh` does not pass on), not through a signed link.
  private async install(context: RequestContext, route: Extract<Route, { kind: 'install' }>): Promise<void> {
    const { repository } = route;
    const requested = context.query.get('version') ?? LATEST;
    if (!isVersion(requested)) {
      throw new GatewayError(
        'BAD_REQUEST',
        `invalid version ${JSON.stringify(requested)}: pass a tag such as 1.0.0, or leave version out for the newest`,
      );
    }
    const version = await this.resolveVersion(context, repository, requested);
    const release = await this.release(repository, version);
    const script =
      route.shell === 'sh'
        ? renderInstallSh(release, context.baseUrl)
        : renderInstallPs1(release, context.baseUrl);
    context.res.writeHead(200, {
      'Content-Type':
        route.shell === 'sh' ? 'text/x-shellscript; charset=utf-8' : 'text/plain; charset=utf-8',
      'Content-Length': String(Buffer.byteLength(script)),
      'Cache-Control': cacheControl(context, `public, max-age=${SHORT_MAX_AGE}`),
      'X-Content-Type-Options': 'nosniff',
    });
    context.res.end(context.req.method === 'HEAD' ? undefined : script);
  }

  /** Turns `latest` into a tag. Any other version is returned as it is, and loading it later checks that it exists. */
  private async resolveVersion(
    context: RequestContext,
    repository: string,
    version: string,
  ): Promise<string> {
    if (version !== LATEST) return version;
    const versions = sortVersions(await this.tagsOf(repository));
    const latest = await this.findLatest(repository, versions, context.channel, true);
    if (latest === undefined) throw noVersion(repository, versions, context.channel);
    return latest;
  }

  /**
   * Finds the version `latest` means: the highest semantic version of the channel, else the newest tag by
   * `org.opencontainers.image.created`. Unless `strict`, a repository with only prereleases gets its newest one.
   */
  private async findLatest(
    repository: string,
    versions: VersionTag[],
    channel: Channel,
    strict: boolean,
  ): Promise<string | undefined> {
    const semverTag = latestSemverTag(versions, channel);
    if (semverTag !== undefined) return semverTag;

    const others = versions.filter((version) => version.semver === undefined).slice(0, MAX_DATED_TAGS);
    if (others.length > 0)
      return this.newestByDate(
        repository,
        others.map((version) => version.tag),
      );
    return strict ? undefined : versions[0]?.tag;
  }

  private async newestByDate(repository: string, tags: string[]): Promise<string | undefined> {
    const dated = await Promise.all(
      tags.map(async (tag) => {
        try {
          const created = await createdOf(this.source, repository, tag);
          return { tag, time: created ? Date.parse(created) : Number.NaN };
        } catch {
          // A tag whose content cannot be read is not a candidate for `latest`.
          return { tag, time: Number.NaN };
        }
      }),
    );
    const readable = dated.filter((entry) => !Number.isNaN(entry.time));
    readable.sort((a, b) => b.time - a.time);
    return readable[0]?.tag ?? tags[0];
  }

  private async tagsOf(repository: string): Promise<string[]> {
    try {
      return await this.source.tags(repository);
    } catch (error) {
      throw toGatewayError(error, { repository });
    }
  }

  /**
   * Adds the notes of a release-notes referrer of the release's index or manifest, or else of the
   * first of `builds` that has one, to a release without an `org.opencontainers.image.description`,
   * which wins when present. A failed lookup leaves the notes out and logs a warning, because notes
   * must never break a page or an update check.
   */
  private async withReferrerNotes(release: Release, builds: readonly Digest[]): Promise<Release> {
    if (release.notes !== undefined || release.kind !== 'artifact') return release;
    try {
      const notes = await loadReferrerNotes(this.source, release.repository, [release.digest, ...builds]);
      if (notes === undefined) return release;
      return { ...release, notes: notes.text, notesTruncated: notes.truncated };
    } catch (error) {
      this.options.logger?.warn(
        { err: error, repository: release.repository, version: release.version },
        'reading the release notes referrer failed, showing the release without notes',
      );
      return release;
    }
  }

  private async release(repository: string, version: string): Promise<Release> {
    try {
      return await loadRelease(this.source, repository, version);
    } catch (error) {
      const converted = toGatewayError(error, { repository, version });
      if (converted.code === 'VERSION_NOT_FOUND') {
        const versions = await this.source.tags(repository).then(sortVersions, () => []);
        converted.detail.versions = versions.map((entry) => entry.tag);
      }
      throw converted;
    }
  }

  /**
   * Picks the build a download, archive or `latest.json` serves, or throws the error that explains why none fits.
   * `emulated` marks an x64 build chosen for an Arm CPU; `portable` marks a build chosen because the CPU is
   * hidden and this build runs on every candidate (the x64 build on macOS and Windows).
   */
  private chooseBuild(
    context: RequestContext,
    release: Release,
    commonName?: string,
  ): { build: Build; fromHeaders: boolean; emulated: boolean; portable: boolean } {
    if (release.kind === 'container-image') {
      throw new GatewayError(
        'NOT_AN_ARTIFACT',
        `${release.repository} ${release.version} is a container image, not a downloadable artifact; pull it with a container runtime`,
        { repository: release.repository, version: release.version },
      );
    }
    const fromQuery = platformFromQuery(context.query);
    const detected = fromQuery ?? detectPlatform(context.req.headers);
    const selection: Selection = selectBuild(release, detected);
    const fromHeaders = fromQuery === undefined;
    const available = platformsOf(release);
    const detail = { repository: release.repository, version: release.version, available };
    const availableText = available.map(formatPlatform).join(', ') || 'none';
    // A file that every build has with one digest needs no platform; `commonName` '' asks for all such files.
    const common =
      fromQuery === undefined && commonName !== undefined ? commonFileBuild(release, commonName) : undefined;

    // A platform is needed only to choose between several builds that have the file. When one has it,
    // that build is served, and when none has it, `soleHolder` throws FILE_NOT_FOUND.
    const soleHolder = (): Build | undefined =>
      commonName === undefined || commonName === '' ? undefined : buildWithOnly(release, commonName);
    let only: Build | undefined;

    switch (selection.kind) {
      case 'exact':
        return { build: selection.build, fromHeaders, emulated: false, portable: false };
      case 'emulated':
        return { build: selection.build, fromHeaders, emulated: true, portable: false };
      case 'missing':
        throw new GatewayError(
          'PLATFORM_NOT_AVAILABLE',
          `${release.repository} ${release.version} has no build for ${selection.wanted.architecture ? `${selection.wanted.os}/${selection.wanted.architecture}` : selection.wanted.os}; available: ${availableText}`,
          detail,
        );
      case 'choice':
        if (selection.portable)
          return { build: selection.portable, fromHeaders, emulated: false, portable: true };
        if (common !== undefined) return { build: common, fromHeaders, emulated: false, portable: false };
        only = soleHolder();
        if (only !== undefined) return { build: only, fromHeaders, emulated: false, portable: false };
        throw new GatewayError(
          'PLATFORM_UNKNOWN',
          `cannot tell which build of ${release.repository} ${release.version} fits this client; add ?os=OS&arch=ARCH, one of: ${availableText}`,
          detail,
        );
      case 'unknown':
        if (common !== undefined) return { build: common, fromHeaders, emulated: false, portable: false };
        only = soleHolder();
        if (only !== undefined) return { build: only, fromHeaders, emulated: false, portable: false };
        throw new GatewayError(
          'PLATFORM_UNKNOWN',
          `cannot tell which build of ${release.repository} ${release.version} fits this client; add ?os=OS&arch=ARCH, one of: ${availableText}${commandLineHint(context.req, context.baseUrl, available)}`,
          detail,
        );
    }
  }

  private detect(context: RequestContext): DetectedPlatform {
    return platformFromQuery(context.query) ?? detectPlatform(context.req.headers);
  }

  private baseUrl(req: IncomingMessage): string {
    if (this.publicUrl) return this.publicUrl;
    const host = req.headers.host;
    const secure = (req.socket as { encrypted?: boolean }).encrypted === true;
    return `${secure ? 'https' : 'http'}://${host && HOST_HEADER.test(host) ? host : 'localhost'}`;
  }

  private sendError(
    req: IncomingMessage,
    res: ServerResponse,
    error: unknown,
    format: ErrorFormat,
    route: Route | undefined,
  ): void {
    if (isClientAbort(req, res, error)) {
      res.destroy();
      return;
    }
    const context =
      route && 'repository' in route
        ? { repository: route.repository, version: 'version' in route ? route.version : undefined }
        : {};
    const failure = toGatewayError(error, context);
    if (failure.status >= 500) {
      this.options.logger?.error(
        { err: error, method: req.method, path: stripQuery(req.url ?? '/') },
        'gateway request failed',
      );
    }
    if (res.headersSent) {
      // The status line is already sent, so breaking the connection is the only way left to flag the body as wrong.
      res.destroy();
      return;
    }

    const headers: Record<string, string> = {
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      ...failure.headers,
    };
    let body: string;
    if (format === 'json') {
      const payload: Record<string, unknown> = { code: failure.code, message: failure.message };
      const { available, versions, files } = failure.detail;
      if (available) payload['available'] = available.map(formatPlatform);
      if (versions) payload['versions'] = versions;
      if (files) payload['files'] = files;
      body = `${JSON.stringify({ error: payload })}\n`;
      headers['Content-Type'] = 'application/json; charset=utf-8';
    } else if (format === 'text') {
      body = `${failure.message}\n`;
      headers['Content-Type'] = 'text/plain; charset=utf-8';
    } else {
      body = renderErrorPage(failure);
      headers['Content-Type'] = 'text/html; charset=utf-8';
      headers['Content-Security-Policy'] = PAGE_CSP;
    }
    headers['Content-Length'] = String(Buffer.byteLength(body));
    res.writeHead(failure.status, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}

/** Keeps private and signed responses out of shared caches. */
function cacheControl(context: RequestContext, shared: string): string {
  return context.restricted ? 'private, no-store' : shared;
}

/** Returns the platform a signed link is bound to: `os/arch[/variant]` from the query, or `''` when unpinned. */
function signedPlatform(query: URLSearchParams): string {
  const os = query.get('os');
  if (os === null) return '';
  return [os, query.get('arch') ?? '', query.get('variant') ?? ''].join('/').replace(/\/+$/, '');
}

function sendHtml(
  context: RequestContext,
  status: number,
  body: string,
  cacheControl: string,
  detects = false,
): void {
  const headers: Record<string, string> = {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': cacheControl,
    'Content-Security-Policy': PAGE_CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'same-origin',
  };
  if (detects) {
    headers['Accept-CH'] = CLIENT_HINTS.join(', ');
    // Chromium retries the first request once with these hints, so even a first visit can tell Arm from x64.
    headers['Critical-CH'] = 'Sec-CH-UA-Arch, Sec-CH-UA-Bitness';
    headers['Vary'] = DETECTION_HEADERS.join(', ');
  }
  context.res.writeHead(status, headers);
  context.res.end(context.req.method === 'HEAD' ? undefined : body);
}

function redirect(
  context: RequestContext,
  location: string,
  cacheControl: string,
  varies = false,
  extra: Record<string, string> = {},
): void {
  const headers: Record<string, string> = {
    ...extra,
    Location: location,
    'Cache-Control': cacheControl,
    'Content-Length': '0',
  };
  if (varies) {
    headers['Vary'] = DETECTION_HEADERS.join(', ');
    headers['Accept-CH'] = CLIENT_HINTS.join(', ');
  }
  context.res.writeHead(302, headers);
  context.res.end();
}

/**
 * Reads `?os=OS&arch=ARCH` (and `&variant=`). `os` alone leaves the CPU open; `arch` alone is ignored.
 * @throws GatewayError `BAD_REQUEST` for a value that cannot be a platform name.
 */
function platformFromQuery(query: URLSearchParams): DetectedPlatform | undefined {
  const os = query.get('os');
  const arch = query.get('arch');
  const variant = query.get('variant');
  if (os === null) return undefined;
  for (const [name, value] of [
    ['os', os],
    ['arch', arch],
    ['variant', variant],
  ] as const) {
    if (value !== null && !PLATFORM_PART.test(value)) {
      throw new GatewayError(
        'BAD_REQUEST',
        `invalid ${name} ${JSON.stringify(value)}: use lowercase OCI names such as os=linux&arch=amd64`,
      );
    }
  }
  if (arch === null) return { os, architecture: undefined, candidates: candidatesFor(os), source: 'query' };
  return { os, architecture: arch, candidates: [arch], source: 'query' };
}

/**
 * Tells whether listing repositories failed because the registry does not offer `_catalog` to this
 * client (some hosted registries respond with 401, 403, 404 or 405 there), rather than because it is broken.
 */
function isCatalogRefusal(error: unknown): boolean {
  if (error instanceof RegistryError)
    return ['NAME_UNKNOWN', 'UNSUPPORTED', 'DENIED', 'UNAUTHORIZED'].includes(error.code);
  const status = (error as { status?: unknown } | undefined)?.status;
  return status === 401 || status === 403 || status === 404 || status === 405;
}

function noVersion(repository: string, versions: VersionTag[], channel: Channel = 'stable'): GatewayError {
  const hint =
    channel === 'stable' && versions.some((version) => version.prerelease)
      ? '; only prereleases exist, add ?channel=prerelease'
      : '';
  return new GatewayError('VERSION_NOT_FOUND', `${repository} has no published version${hint}`, {
    repository,
    versions: versions.map((version) => version.tag),
  });
}

function describeBuild(build: Build): string {
  return build.platform ? formatPlatform(build.platform) : 'every platform';
}

function rawQuery(context: RequestContext): string {
  const text = context.query.toString();
  return text ? `?${text}` : '';
}

function errorFormatOf(pathname: string): ErrorFormat {
  if (
    pathname.endsWith('.json') ||
    /\/download$/.test(pathname) ||
    /\/files\/[^/]+$/.test(pathname) ||
    /\/archive\.(?:zip|tar\.gz)$/.test(pathname)
  ) {
    return 'json';
  }
  if (pathname.endsWith('/install.sh') || pathname.endsWith('/install.ps1')) return 'text';
  return 'html';
}

function errorFormatOfRoute(route: Route): ErrorFormat {
  switch (route.kind) {
    case 'download':
    case 'file':
    case 'archive':
    case 'json':
      return 'json';
    case 'install':
      return 'text';
    default:
      return 'html';
  }
}

function stripQuery(path: string): string {
  const question = path.indexOf('?');
  return question < 0 ? path : path.slice(0, question);
}

/**
 * Returns the one build of `release` that has a file `name`, or undefined when several builds have it.
 * @throws GatewayError `FILE_NOT_FOUND`, listing the files of every build, when no build has it.
 */
function buildWithOnly(release: Release, name: string): Build | undefined {
  const holders = release.builds.filter((build) => findFile(build.files, name) !== undefined);
  if (holders.length === 1) return holders[0];
  if (holders.length > 1) return undefined;

  const files = [...new Set(release.builds.flatMap((build) => build.files.map((file) => file.name)))].sort();
  throw new GatewayError(
    'FILE_NOT_FOUND',
    `${release.repository} ${release.version} has no file ${JSON.stringify(name)} in any build; files: ${files.join(', ') || 'none'}`,
    { repository: release.repository, version: release.version, files },
  );
}
