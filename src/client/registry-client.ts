/**
 * An HTTP client for one registry host that speaks the OCI Distribution Specification
 * (distribution-spec v1.1 `spec.md`): manifests, blobs, uploads, tags and the catalog.
 *
 * It authenticates on demand (a 401 with `WWW-Authenticate`), sends `Authorization` only to the
 * registry's own origin, reuses connections through one undici `Agent`, and streams blobs in both
 * directions without buffering them.
 */
import { Readable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, type Dispatcher, request } from 'undici';
import type { BlobReader, ByteRange, FetchedManifest } from '../content/source.js';
import { type Digest, digestOf, isDigest, parseDigest } from '../oci/digest.js';
import { DigestMismatchError, InvalidManifestError } from '../oci/errors.js';
import { type Descriptor, type ImageIndex, MAX_MANIFEST_SIZE, parseManifest } from '../oci/manifest.js';
import { FILE_BLOB, MANIFEST_ACCEPT, OCI_INDEX } from '../oci/media-types.js';
import { Authenticator, repositoryScope, type Scope } from './auth.js';
import { parseWwwAuthenticate } from './challenge.js';
import { type CredentialResolver, defaultCredentialResolver } from './credentials.js';
import { checkDestination } from './destination.js';
import { RegistryConnectionError, RegistryResponseError } from './errors.js';
import {
  discard,
  header,
  nextLink,
  parseContentRange,
  readCapped,
  redactUrl,
  responseError,
} from './http.js';

/** The `User-Agent` the client sends. */
export const USER_AGENT = 'ocidrop/0.1';

/** Tag and catalog pages larger than this are rejected. */
const MAX_LIST_PAGE = 4 * 1024 * 1024;

/** Maximum wait between two attempts of one request, in milliseconds, whatever `Retry-After` requests. */
export const MAX_RETRY_DELAY = 30_000;

/** Redirects followed for one GET or HEAD, as blob downloads often go to a storage host. */
const MAX_REDIRECTS = 5;

/** Pages of one tag or catalog listing followed through `Link` headers. */
export const MAX_LIST_PAGES = 1000;

/** Chunk size of an upload that is repeated in chunks after a 413 (Payload Too Large). */
const FALLBACK_CHUNK_SIZE = 4 * 1024 * 1024;

/**
 * Blobs up to this size go in a single `POST ?digest=` with their content ("Single POST" in
 * distribution-spec `spec.md`), which saves the round trip of a `POST` that only opens a session.
 * Larger blobs use a session, because a registry that does not support the single `POST` responds
 * with 202 only after the whole body has been sent for nothing.
 */
const SINGLE_POST_MAX_SIZE = 4 * 1024 * 1024;

/** Options of {@link RegistryClient}. */
export interface RegistryClientOptions {
  /**
   * Speak HTTP instead of HTTPS.
   * @default true for `localhost`, `127.0.0.1` and `[::1]` (with any port), false elsewhere
   */
  plainHttp?: boolean;
  /**
   * Source of credentials.
   * @default podman's `$REGISTRY_AUTH_FILE`, Docker's `config.json`, then podman's
   *   `$XDG_RUNTIME_DIR/containers/auth.json` ({@link defaultCredentialResolver})
   */
  credentials?: CredentialResolver;
  /** The undici dispatcher to send through; the client creates and closes its own `Agent` when none is given. */
  dispatcher?: Dispatcher;
  /** @default {@link USER_AGENT} */
  userAgent?: string;
  /**
   * Retries after a connection error or a 408, 429 or 5xx response, with jittered exponential
   * backoff, or after the delay a `Retry-After` header names (capped at {@link MAX_RETRY_DELAY} ms).
   * @default 3
   */
  retries?: number;
  /** First backoff delay in milliseconds; each retry doubles it. @default 250 */
  retryDelay?: number;
  /** Accept any TLS certificate, as for a registry with a self-signed one (`--insecure`). @default false */
  insecure?: boolean;
  /** PEM certificates of extra certificate authorities to trust (`--ca-file`). */
  ca?: string | Buffer;
}

/** Digest, media type and size of a manifest, from a HEAD request. */
export interface ManifestInfo {
  digest: Digest;
  mediaType: string;
  size: number;
}

/** Options of {@link RegistryClient.tags} and {@link RegistryClient.catalog}. */
export interface ListOptions {
  /** Entries per page (`n`); the registry picks when unset. Every page is fetched either way. */
  pageSize?: number;
}

/** Tells whether `host` is a loopback registry that gets plain HTTP by default. */
export function isLoopbackHost(host: string): boolean {
  return /^(?:localhost|127\.0\.0\.1|\[::1\])(?::\d+)?$/i.test(host);
}

/** A client for one registry host, such as `localhost:5000` or `ghcr.io`. */
export class RegistryClient {
  /** The registry host and port as given. */
  readonly host: string;
  /** `http://host` or `https://host`. */
  readonly baseUrl: string;
  private readonly origin: string;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly userAgent: string;
  private readonly auth: Authenticator;
  private readonly retries: number;
  private readonly retryDelay: number;
  /** False once the registry has responded to a single `POST` upload with anything but 201. */
  private singlePost = true;
  /** False once the registry has rejected a whole blob sent in one `PATCH` ({@link uploadBlobWhileHashing}). */
  private streamedPatch = true;

  constructor(host: string, options: RegistryClientOptions = {}) {
    const plainHttp = options.plainHttp ?? isLoopbackHost(host);
    this.host = host;
    this.baseUrl = `${plainHttp ? 'http' : 'https'}://${host}`;
    this.origin = new URL(this.baseUrl).origin;
    this.ownsDispatcher = options.dispatcher === undefined;
    const tls = {
      ...(options.insecure ? { rejectUnauthorized: false } : {}),
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    };
    this.dispatcher =
      options.dispatcher ?? new Agent({ keepAliveTimeout: 10_000, connections: 16, connect: tls });
    this.userAgent = options.userAgent ?? USER_AGENT;
    this.retries = options.retries ?? 3;
    this.retryDelay = options.retryDelay ?? 250;
    this.auth = new Authenticator(
      host,
      options.credentials ?? defaultCredentialResolver(),
      this.dispatcher,
      this.userAgent,
      !plainHttp,
    );
  }

  /**
   * Checks that the host is a registry and that the client may talk to it (`GET /v2/`,
   * "Determining support" in the spec), authenticating when asked to.
   */
  async ping(): Promise<void> {
    const { response } = await this.send({ method: 'GET', url: this.url('/v2/'), expect: [200] });
    await discard(response.body);
  }

  /**
   * Fetches a manifest or index by tag or digest (`GET /v2/<name>/manifests/<reference>`),
   * accepting every manifest media type. Verifies the bytes when `reference` is a digest.
   * @throws RegistryResponseError with status 404 when it does not exist.
   * @throws DigestMismatchError when the bytes do not match the requested digest.
   */
  async getManifest(repository: string, reference: string): Promise<FetchedManifest> {
    const url = this.url(`/v2/${repository}/manifests/${reference}`);
    const { response } = await this.send({
      method: 'GET',
      url,
      headers: { accept: MANIFEST_ACCEPT },
      scope: repositoryScope(repository, false),
      expect: [200],
    });
    const bytes = await readCapped(response.body, MAX_MANIFEST_SIZE);
    if (bytes === undefined) {
      throw new InvalidManifestError(
        `manifest ${repository}:${reference} is larger than the limit of ${MAX_MANIFEST_SIZE} bytes`,
      );
    }

    const algorithm = isDigest(reference) ? parseDigest(reference).algorithm : 'sha256';
    const digest = digestOf(bytes, algorithm);
    if (isDigest(reference) && digest !== reference) {
      throw new DigestMismatchError(
        `manifest ${repository}@${reference} from ${this.host} has digest ${digest}`,
      );
    }
    const contentType = header(response.headers, 'content-type')?.split(';')[0]?.trim();
    const mediaType = parseManifest(bytes, contentType).mediaType;
    return { digest, mediaType, bytes };
  }

  /** Returns a manifest's digest, media type and size (`HEAD`), or undefined when it does not exist. */
  async headManifest(repository: string, reference: string): Promise<ManifestInfo | undefined> {
    const url = this.url(`/v2/${repository}/manifests/${reference}`);
    const { response } = await this.send({
      method: 'HEAD',
      url,
      headers: { accept: MANIFEST_ACCEPT },
      scope: repositoryScope(repository, false),
      expect: [200, 404],
    });
    await discard(response.body);
    if (response.statusCode === 404) return undefined;
    const digest = header(response.headers, 'docker-content-digest');
    return {
      digest: (digest !== undefined && isDigest(digest) ? digest : reference) as Digest,
      mediaType: header(response.headers, 'content-type')?.split(';')[0]?.trim() ?? '',
      size: Number(header(response.headers, 'content-length') ?? 0),
    };
  }

  /**
   * Uploads a manifest or index under a tag or its digest (`PUT /v2/<name>/manifests/<reference>`,
   * "Pushing Manifests"). Returns the digest of the bytes.
   * @throws DigestMismatchError when the registry reports another digest than the bytes have.
   */
  async putManifest(
    repository: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
  ): Promise<Digest> {
    return (await this.pushManifest(repository, reference, bytes, mediaType)).digest;
  }

  /**
   * Uploads a manifest like {@link putManifest} and also tells whether the registry processed its
   * `subject`: an `OCI-Subject` header in the answer ("Pushing Manifests with Subject"). A registry
   * that did not is expected to get the fallback referrers tag from the client.
   */
  async pushManifest(
    repository: string,
    reference: string,
    bytes: Buffer,
    mediaType: string,
  ): Promise<{ digest: Digest; subjectProcessed: boolean }> {
    const digest = digestOf(bytes);
    const { response } = await this.send({
      method: 'PUT',
      url: this.url(`/v2/${repository}/manifests/${reference}`),
      headers: { 'content-type': mediaType, 'content-length': String(bytes.byteLength) },
      body: () => bytes,
      scope: repositoryScope(repository, true),
      expect: [201],
    });
    await discard(response.body);
    const reported = header(response.headers, 'docker-content-digest');
    if (reported?.startsWith('sha256:') && reported !== digest) {
      throw new DigestMismatchError(
        `${this.host} stored manifest ${repository}:${reference} as ${reported}, expected ${digest}`,
      );
    }
    return { digest, subjectProcessed: header(response.headers, 'oci-subject') !== undefined };
  }

  /** Returns a blob's size (`HEAD /v2/<name>/blobs/<digest>`), or undefined when the registry lacks it. */
  async headBlob(repository: string, digest: Digest): Promise<{ size: number } | undefined> {
    const { response } = await this.send({
      method: 'HEAD',
      url: this.url(`/v2/${repository}/blobs/${digest}`),
      scope: repositoryScope(repository, false),
      expect: [200, 404],
    });
    await discard(response.body);
    if (response.statusCode === 404) return undefined;
    return { size: Number(header(response.headers, 'content-length') ?? Number.NaN) };
  }

  /**
   * Opens a blob as a stream (`GET /v2/<name>/blobs/<digest>`), optionally a byte range of it,
   * following redirects to storage hosts without sending them the registry's `Authorization`.
   * The stream is not verified: callers hash it while it flows.
   * @throws RegistryResponseError with status 404 when the blob does not exist, 416 for a range outside it.
   */
  async getBlob(repository: string, digest: Digest, range?: ByteRange): Promise<BlobReader> {
    const headers: Record<string, string> = {};
    if (range !== undefined) headers['range'] = `bytes=${range.start}-${range.end}`;
    const { response, url } = await this.send({
      method: 'GET',
      url: this.url(`/v2/${repository}/blobs/${digest}`),
      headers,
      scope: repositoryScope(repository, false),
      expect: range === undefined ? [200] : [200, 206],
    });

    if (response.statusCode === 206) {
      const served = parseContentRange(header(response.headers, 'content-range'));
      if (served === undefined) {
        throw await responseError(
          'GET',
          url,
          response,
          'the partial response has no valid Content-Range header',
        );
      }
      return { size: served.total, stream: response.body, range: { start: served.start, end: served.end } };
    }
    const length = header(response.headers, 'content-length');
    if (length === undefined) {
      await discard(response.body);
      throw await responseError('GET', url, response, 'the blob response has no Content-Length header');
    }
    return { size: Number(length), stream: response.body };
  }

  /**
   * Uploads a blob unless the registry has it already ("Pushing Blobs"). Sends `HEAD`, then, for a
   * blob of up to 4 MiB without `chunkSize`, its content in a single `POST ?digest=`. Otherwise, or
   * when the registry responds to that `POST` with a session (202) or rejects it, a `POST` opens an
   * upload session, and the content goes in one monolithic `PUT <location>?digest=`,
   * or, when `chunkSize` is set and smaller than the blob, in one `PATCH` per chunk with its
   * `Content-Range` followed by a `PUT` that closes the session ("Pushing a blob in chunks").
   *
   * @param open returns a fresh stream of the content, or of the inclusive byte `range` of it, each
   *   time it is called, because a request repeated after authentication cannot reuse a consumed stream.
   * @param options.signal stops the upload, deletes its session and rejects with the signal's reason.
   * @returns whether bytes were sent (false when the blob existed).
   */
  async uploadBlob(
    repository: string,
    blob: { digest: Digest; size: number },
    open: (range?: ByteRange) => Readable | Buffer,
    options: { chunkSize?: number; signal?: AbortSignal } = {},
  ): Promise<{ uploaded: boolean }> {
    options.signal?.throwIfAborted();
    const existing = await this.headBlob(repository, blob.digest);
    if (existing !== undefined && existing.size === blob.size) return { uploaded: false };

    await this.uploadMissingBlob(repository, blob, open, options.chunkSize, options.signal);
    return { uploaded: true };
  }

  /**
   * Uploads a blob whose digest is still being computed, so that its content is sent while the
   * caller hashes it instead of after. A blob over 4 MiB, without `chunkSize`, goes to a new
   * upload session in one `PATCH` with `Content-Range: 0-<size - 1>` as soon as the call starts
   * ("Pushing a blob in chunks" with a single chunk). Once `blob.digest` resolves, a `HEAD` checks
   * whether the registry has the blob. If it does, the `PATCH` is aborted and the session deleted.
   * If not, a `PUT <location>?digest=` with an empty body closes the session after the `PATCH`.
   *
   * Any other blob waits for its digest and goes through {@link uploadBlob}. So does every blob
   * once the registry has rejected the one-chunk `PATCH` with a 4xx other than 401, 403, 408, 413
   * and 429. After a 413 the blob goes again in smaller chunks, as {@link uploadBlob} does.
   *
   * NOTE: CNCF Distribution 2.8 keeps the session of an aborted `PATCH` until its upload purging
   * removes it, because it rejects the `DELETE` (404 `BLOB_UPLOAD_INVALID`) once the offset signed
   * into the session's `_state` no longer matches the data received.
   *
   * @param blob the size, and the digest, which rejects when hashing fails (the upload then stops
   *   and the session is deleted). The bytes must be the ones the digest is computed from.
   * @param open as in {@link uploadBlob}.
   * @param options.signal stops the upload, deletes its session and rejects with the signal's reason.
   * @returns whether bytes were kept by the registry (false when the blob existed).
   */
  async uploadBlobWhileHashing(
    repository: string,
    blob: { size: number; digest: Promise<Digest> },
    open: (range?: ByteRange) => Readable | Buffer,
    options: { chunkSize?: number; signal?: AbortSignal } = {},
  ): Promise<{ uploaded: boolean }> {
    const { signal } = options;
    // The caller awaits the digest as well, but a rejection that arrives after this method has
    // returned early must not surface as an unhandled rejection.
    blob.digest.catch(() => undefined);
    if (!this.streamedPatch || options.chunkSize !== undefined || blob.size <= SINGLE_POST_MAX_SIZE) {
      const digest = await untilAborted(blob.digest, signal);
      signal?.throwIfAborted();
      return this.uploadBlob(repository, { digest, size: blob.size }, open, options);
    }

    // The POST gets no signal: aborted in flight, it could leave a session whose Location the
    // client never learns, so the session is opened and then deleted instead.
    const scope = repositoryScope(repository, true);
    const { session, minimum } = await this.openSession(repository, scope);
    if (signal?.aborted) {
      await this.cancelUpload(session, scope);
      throw signal.reason;
    }

    const patching = new AbortController();
    const stopPatch = () => patching.abort(signal?.reason);
    signal?.addEventListener('abort', stopPatch, { once: true });
    const patched = this.patchWholeBlob(session, blob.size, open, scope, patching.signal);
    patched.catch(() => undefined);

    let digest: Digest;
    let failure: RegistryResponseError;
    try {
      digest = await untilAborted(blob.digest, signal);
      const existing = await this.headBlob(repository, digest);
      signal?.throwIfAborted();
      if (existing !== undefined && existing.size === blob.size) {
        await this.abandonUpload(session, scope, patching, patched);
        return { uploaded: false };
      }

      const closing = await patched.catch((error: unknown) => {
        const status = error instanceof RegistryResponseError ? error.status : 0;
        if (status === 413 || isPatchRefusal(status)) return error as RegistryResponseError;
        throw error;
      });
      if (closing instanceof URL) {
        await this.closeSession(closing, digest, scope);
        return { uploaded: true };
      }
      failure = closing;
    } catch (error) {
      await this.abandonUpload(session, scope, patching, patched);
      throw error;
    } finally {
      signal?.removeEventListener('abort', stopPatch);
    }

    // The registry took no data from the rejected PATCH, so the blob goes again in another form.
    await this.cancelUpload(session, scope);
    const blobWithDigest = { digest, size: blob.size };
    if (failure.status === 413) {
      await this.uploadInChunks(repository, blobWithDigest, open, scope, minimum, signal);
    } else {
      // A 416 means that the session had data already, as after a PATCH repeated on a new
      // connection, so the form itself works.
      if (failure.status !== 416) this.streamedPatch = false;
      await this.uploadMissingBlob(repository, blobWithDigest, open, options.chunkSize, signal);
    }
    return { uploaded: true };
  }

  /**
   * Deletes a manifest by digest (`DELETE /v2/<name>/manifests/<digest>`, "Deleting Manifests").
   * Registries may refuse deletion with 405 (CNCF Distribution does unless deletion is enabled).
   * @throws RegistryResponseError with the status, such as 404 or 405.
   */
  async deleteManifest(repository: string, digest: Digest): Promise<void> {
    const { response } = await this.send({
      method: 'DELETE',
      url: this.url(`/v2/${repository}/manifests/${digest}`),
      scope: repositoryDeleteScope(repository),
      expect: [202],
    });
    await discard(response.body);
  }

  /**
   * Deletes a blob (`DELETE /v2/<name>/blobs/<digest>`, "Deleting Blobs").
   * @throws RegistryResponseError with the status, such as 404 or 405.
   */
  async deleteBlob(repository: string, digest: Digest): Promise<void> {
    const { response } = await this.send({
      method: 'DELETE',
      url: this.url(`/v2/${repository}/blobs/${digest}`),
      scope: repositoryDeleteScope(repository),
      expect: [202],
    });
    await discard(response.body);
  }

  /**
   * Lists the manifests whose `subject` is `digest` ("Listing Referrers",
   * `GET /v2/<name>/referrers/<digest>`), optionally only those of one `artifactType`. A registry
   * without the referrers API (404) is asked for the fallback tag `<alg>-<hex>` instead
   * ("Referrers Tag Schema"), which CNCF Distribution 2.8 needs.
   */
  async referrers(repository: string, digest: Digest, artifactType?: string): Promise<Descriptor[]> {
    const url = this.url(`/v2/${repository}/referrers/${digest}`);
    if (artifactType !== undefined) url.searchParams.set('artifactType', artifactType);
    const { response } = await this.send({
      method: 'GET',
      url,
      headers: { accept: OCI_INDEX },
      scope: repositoryScope(repository, false),
      expect: [200, 404],
    });
    let index: ImageIndex | undefined;
    let filtered = false;
    if (response.statusCode === 200) {
      filtered = (header(response.headers, 'oci-filters-applied') ?? '').includes('artifactType');
      index = parseReferrersIndex(await readCapped(response.body, MAX_MANIFEST_SIZE), url);
    } else {
      await discard(response.body);
      index = await this.referrersTagIndex(repository, digest);
    }
    const entries = index?.manifests ?? [];
    if (artifactType === undefined || filtered) return entries;
    return entries.filter((entry) => entry.artifactType === artifactType);
  }

  /**
   * Mounts a blob from another repository of the same registry ("Mounting a blob from another
   * repository", `POST /v2/<name>/blobs/uploads/?mount=<digest>&from=<other>`). Asks for `pull,push`
   * on the target and `pull` on the source.
   * @returns true when the registry mounted it (201), false when it did not (202) and the blob must be uploaded.
   */
  async mountBlob(repository: string, digest: Digest, from: string): Promise<boolean> {
    const url = this.url(`/v2/${repository}/blobs/uploads/`);
    url.searchParams.set('mount', digest);
    url.searchParams.set('from', from);
    const scope = `${repositoryScope(repository, true)} ${repositoryScope(from, false)}`;
    const sent = await this.send({
      method: 'POST',
      url,
      headers: { 'content-length': '0' },
      scope,
      expect: [201, 202],
    });
    await discard(sent.response.body);
    if (sent.response.statusCode === 201) return true;
    // The registry opened an upload session instead; it is closed, since uploadBlob opens its own.
    await this.cancelUpload(await this.uploadLocation('POST', sent), scope);
    return false;
  }

  /**
   * Lists a repository's tags (`GET /v2/<name>/tags/list`, "Listing Tags"), following `Link`
   * pagination to the end.
   */
  async tags(repository: string, options: ListOptions = {}): Promise<string[]> {
    return this.list(`/v2/${repository}/tags/list`, 'tags', repositoryScope(repository, false), options);
  }

  /** Lists the registry's repositories (`GET /v2/_catalog`), following `Link` pagination. */
  async catalog(options: ListOptions = {}): Promise<string[]> {
    return this.list('/v2/_catalog', 'repositories', 'registry:catalog:*', options);
  }

  /** Returns the direct URL of a blob, `<scheme>://<host>/v2/<name>/blobs/<digest>`. */
  blobUrl(repository: string, digest: Digest): string {
    return `${this.baseUrl}/v2/${repository}/blobs/${digest}`;
  }

  /**
   * Returns the storage URL that the registry redirects a blob download to (a presigned S3 or CDN
   * URL, as Distribution on S3 and cloud registries answer "Pulling blobs"), or undefined when the
   * registry serves the bytes itself or redirects within its own origin. Sends an authenticated
   * `GET` and does not follow the redirect; the body of a direct answer is dropped unread.
   */
  async blobLocation(repository: string, digest: Digest): Promise<string | undefined> {
    const { response, url } = await this.send({
      method: 'GET',
      url: this.url(`/v2/${repository}/blobs/${digest}`),
      scope: repositoryScope(repository, false),
      expect: [200, 301, 302, 303, 307, 308],
      followRedirects: false,
    });
    await discard(response.body);
    const location = header(response.headers, 'location');
    if (response.statusCode === 200 || location === undefined) return undefined;

    const target = new URL(location, url);
    checkNoDowngrade('GET', url, target, 'the blob redirect');
    return target.origin === this.origin ? undefined : target.href;
  }

  /** Closes the client's connections, unless the dispatcher was passed in by the caller. */
  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  private async list(path: string, key: string, scope: Scope, options: ListOptions): Promise<string[]> {
    const entries: string[] = [];
    let url: URL | undefined = this.url(path);
    if (options.pageSize !== undefined) url.searchParams.set('n', String(options.pageSize));

    for (let pages = 0; url !== undefined; pages++) {
      if (pages >= MAX_LIST_PAGES) {
        throw new RegistryResponseError({
          method: 'GET',
          url: redactUrl(url),
          status: 200,
          errors: [],
          hint: `the listing has more than ${MAX_LIST_PAGES} pages; ask with a larger page size`,
        });
      }
      const page = await this.send({ method: 'GET', url, scope, expect: [200] });
      const body = await readCapped(page.response.body, MAX_LIST_PAGE);
      const parsed = body === undefined ? undefined : parseJson(body);
      const values = (parsed as Record<string, unknown> | undefined)?.[key];
      if (values !== null && !(Array.isArray(values) && values.every((value) => typeof value === 'string'))) {
        const hint = `the body is not a JSON object with a "${key}" list`;
        throw new RegistryResponseError({
          method: 'GET',
          url: redactUrl(page.url),
          status: 200,
          errors: [],
          hint,
        });
      }
      entries.push(...(values ?? []));
      url = nextLink(header(page.response.headers, 'link'), page.url);
      // A next page on another origin would receive the registry's credentials' scope and tokens.
      if (url !== undefined && url.origin !== this.origin) {
        throw new RegistryResponseError({
          method: 'GET',
          url: redactUrl(page.url),
          status: 200,
          errors: [],
          hint: `the Link header points the next page to another origin, ${url.origin}; ocidrop follows pages on ${this.origin} only`,
        });
      }
    }
    return entries;
  }

  // Uploads a blob that the registry lacks: the single POST, or a session with the content in one
  // PUT or in chunks, and chunks again after a 413.
  private async uploadMissingBlob(
    repository: string,
    blob: { digest: Digest; size: number },
    open: (range?: ByteRange) => Readable | Buffer,
    requestedChunkSize: number | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    const scope = repositoryScope(repository, true);
    let started: { response: Dispatcher.ResponseData; url: URL } | undefined;
    if (this.singlePost && requestedChunkSize === undefined && blob.size <= SINGLE_POST_MAX_SIZE) {
      // An aborted single POST leaves no session that the client could delete: the registry
      // returns a session's Location only in its response.
      const posted = await this.postBlob(repository, blob, open, scope, signal);
      if (posted === 'created') return;
      started = posted;
    }
    // The POST that opens a session gets no signal, as in uploadBlobWhileHashing.
    const { session, minimum } = await this.openSession(repository, scope, started);
    const chunkSize = requestedChunkSize === undefined ? undefined : Math.max(requestedChunkSize, minimum);
    try {
      signal?.throwIfAborted();
      await this.sendContent(session, blob, open, scope, chunkSize, signal);
      return;
    } catch (error) {
      // The spec recommends a DELETE for a session the client gives up on, so the registry drops its data.
      await this.cancelUpload(session, scope);
      const tooLarge = error instanceof RegistryResponseError && error.status === 413;
      if (!tooLarge || (chunkSize !== undefined && chunkSize < blob.size)) throw error;
    }
    await this.uploadInChunks(repository, blob, open, scope, minimum, signal);
  }

  // Opens an upload session with an empty POST ("Pushing Blobs"), or takes the session that a
  // registry opened in response to a single POST. Returns its URL and the minimum chunk size.
  private async openSession(
    repository: string,
    scope: Scope,
    started?: { response: Dispatcher.ResponseData; url: URL },
  ): Promise<{ session: URL; minimum: number }> {
    const opened =
      started ??
      (await this.send({
        method: 'POST',
        url: this.url(`/v2/${repository}/blobs/uploads/`),
        headers: { 'content-length': '0' },
        scope,
        expect: [202],
      }));
    await discard(opened.response.body);
    const session = await this.uploadLocation('POST', opened);
    const minimum = Number(header(opened.response.headers, 'oci-chunk-min-length') ?? 0) || 0;
    return { session, minimum };
  }

  // Completes a session whose content has been sent with an empty PUT ?digest=.
  private async closeSession(session: URL, digest: Digest, scope: Scope): Promise<void> {
    session.searchParams.set('digest', digest);
    const { response } = await this.send({
      method: 'PUT',
      url: session,
      headers: { 'content-length': '0' },
      scope,
      expect: [201],
    });
    await discard(response.body);
  }

  // Uploads a blob in chunks of at most 4 MiB, at least a quarter of the blob and at least
  // `minimum`, after the registry (or a proxy in front of it) rejected a body as too large.
  private async uploadInChunks(
    repository: string,
    blob: { digest: Digest; size: number },
    open: (range?: ByteRange) => Readable | Buffer,
    scope: Scope,
    minimum: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const chunkSize = Math.max(minimum, Math.min(FALLBACK_CHUNK_SIZE, Math.ceil(blob.size / 4)), 1);
    const { session: second } = await this.openSession(repository, scope);
    try {
      signal?.throwIfAborted();
      await this.sendContent(second, blob, open, scope, chunkSize, signal);
    } catch (error) {
      await this.cancelUpload(second, scope);
      throw error;
    }
  }

  // Sends the whole content to an open session in one PATCH and returns the Location to close it at.
  private async patchWholeBlob(
    session: URL,
    size: number,
    open: (range?: ByteRange) => Readable | Buffer,
    scope: Scope,
    signal: AbortSignal,
  ): Promise<URL> {
    const sent = await this.send({
      method: 'PATCH',
      url: session,
      headers: {
        'content-type': FILE_BLOB,
        'content-length': String(size),
        'content-range': `0-${size - 1}`,
      },
      body: () => open(),
      scope,
      expect: [202],
      signal,
    });
    await discard(sent.response.body);
    return this.uploadLocation('PATCH', sent);
  }

  // Aborts a PATCH still in flight, waits until it has settled so that the registry is done with
  // the session, then deletes the session.
  private async abandonUpload(
    session: URL,
    scope: Scope,
    patching: AbortController,
    patched: Promise<URL>,
  ): Promise<void> {
    patching.abort();
    await patched.catch(() => undefined);
    await this.cancelUpload(session, scope);
  }

  // Sends a blob in a single POST ?digest=. Returns 'created' on 201, the response of a registry
  // that opened a session instead (202, whose body the caller discards), or undefined when the
  // registry rejected the request. Either of the last two turns the single POST off for this client.
  private async postBlob(
    repository: string,
    blob: { digest: Digest; size: number },
    open: (range?: ByteRange) => Readable | Buffer,
    scope: Scope,
    signal: AbortSignal | undefined,
  ): Promise<'created' | { response: Dispatcher.ResponseData; url: URL } | undefined> {
    const url = this.url(`/v2/${repository}/blobs/uploads/`);
    url.searchParams.set('digest', blob.digest);
    let posted: { response: Dispatcher.ResponseData; url: URL };
    try {
      posted = await this.send({
        method: 'POST',
        url,
        headers: { 'content-type': FILE_BLOB, 'content-length': String(blob.size) },
        body: () => open(),
        scope,
        expect: [201, 202],
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      // A registry without the single POST may respond with 400, 404, 405 or 415. Authorization
      // failures (401, 403), rate limits (408, 429, already retried), server errors and content
      // that does not match its digest or size are real failures of the upload.
      if (!(error instanceof RegistryResponseError)) throw error;
      const status = error.status;
      const fatal = [401, 403, 408, 429];
      if (status < 400 || status >= 500 || fatal.includes(status)) throw error;
      if (error.hasCode('DIGEST_INVALID') || error.hasCode('SIZE_INVALID')) throw error;
      this.singlePost = false;
      return undefined;
    }
    if (posted.response.statusCode === 202) {
      this.singlePost = false;
      return posted;
    }
    await discard(posted.response.body);
    return 'created';
  }

  // Sends the content to an open upload session in one PUT, or in PATCH chunks and a closing PUT.
  private async sendContent(
    session: URL,
    blob: { digest: Digest; size: number },
    open: (range?: ByteRange) => Readable | Buffer,
    scope: Scope,
    chunkSize: number | undefined,
    signal?: AbortSignal,
  ): Promise<void> {
    let target = session;
    if (chunkSize !== undefined && chunkSize > 0 && chunkSize < blob.size) {
      for (let start = 0; start < blob.size; start += chunkSize) {
        const end = Math.min(start + chunkSize, blob.size) - 1;
        const chunk = await this.send({
          method: 'PATCH',
          url: target,
          headers: {
            'content-type': FILE_BLOB,
            'content-length': String(end - start + 1),
            // The distribution spec writes the range without the "bytes " unit of RFC 9110.
            'content-range': `${start}-${end}`,
          },
          body: () => open({ start, end }),
          scope,
          expect: [202],
          ...(signal === undefined ? {} : { signal }),
        });
        await discard(chunk.response.body);
        target = await this.uploadLocation('PATCH', chunk);
      }
      await this.closeSession(target, blob.digest, scope);
      return;
    }

    target.searchParams.set('digest', blob.digest);
    const { response } = await this.send({
      method: 'PUT',
      url: target,
      headers: { 'content-type': FILE_BLOB, 'content-length': String(blob.size) },
      body: () => open(),
      scope,
      expect: [201],
      ...(signal === undefined ? {} : { signal }),
    });
    await discard(response.body);
  }

  // Sends DELETE to an upload session; a failure here is ignored, since the upload error matters more.
  private async cancelUpload(session: URL, scope: Scope): Promise<void> {
    try {
      const { response } = await this.send({
        method: 'DELETE',
        url: session,
        scope,
        expect: [202, 204, 404],
      });
      await discard(response.body);
    } catch {
      // Registries expire abandoned sessions on their own.
    }
  }

  // Resolves the upload session URL from a response, relative or absolute; it may carry a query (upload state).
  private async uploadLocation(
    method: string,
    sent: { response: Dispatcher.ResponseData; url: URL },
  ): Promise<URL> {
    const location = header(sent.response.headers, 'location');
    if (location === undefined) {
      throw new RegistryResponseError({
        method,
        url: redactUrl(sent.url),
        status: sent.response.statusCode,
        errors: [],
        hint: 'the registry sent no Location for the upload session',
      });
    }
    const target = new URL(location, sent.url);
    checkNoDowngrade(method, sent.url, target, 'the upload Location');
    checkDestination(new URL(this.baseUrl), target, 'the upload Location');
    return target;
  }

  // Reads the fallback referrers index under the tag `<alg>-<hex>`; none means no referrers.
  private async referrersTagIndex(repository: string, digest: Digest): Promise<ImageIndex | undefined> {
    const tag = referrersTag(digest);
    try {
      const fetched = await this.getManifest(repository, tag);
      const parsed = parseManifest(fetched.bytes, fetched.mediaType);
      return parsed.kind === 'index' ? parsed.manifest : undefined;
    } catch (error) {
      if (error instanceof RegistryResponseError && error.status === 404) return undefined;
      throw error;
    }
  }

  private url(path: string): URL {
    return new URL(path, this.baseUrl);
  }

  /**
   * Sends one request: adds `Authorization` for the registry's origin, meets one 401 challenge
   * and repeats the request, follows redirects for GET and HEAD, and turns a status outside `expect` into a
   * {@link RegistryResponseError}. The caller consumes or destroys the returned body.
   */
  private async send(init: {
    method: Dispatcher.HttpMethod;
    url: URL;
    headers?: Record<string, string>;
    body?: () => Readable | Buffer;
    scope?: Scope;
    expect: number[];
    /** Follow redirects of GET and HEAD. @default true */
    followRedirects?: boolean;
    /** Aborts the request, and every later attempt, with the signal's reason. */
    signal?: AbortSignal;
  }): Promise<{ response: Dispatcher.ResponseData; url: URL }> {
    let url = init.url;
    let challenged = false;
    let redirects = 0;

    for (;;) {
      const headers: Record<string, string> = { 'user-agent': this.userAgent, ...init.headers };
      // Authorization goes to the registry's origin only, never to a redirect or upload target elsewhere.
      if (url.origin === this.origin) {
        const authorization = await this.auth.authorization(init.scope);
        if (authorization !== undefined) headers['authorization'] = authorization;
      }
      const response = await this.dispatchWithRetries(init.method, url, headers, init.body, init.signal);

      if (response.statusCode === 401 && !challenged && url.origin === this.origin) {
        await discard(response.body);
        challenged = true;
        const retry = await this.auth.respond(
          parseWwwAuthenticate(response.headers['www-authenticate']),
          init.scope,
        );
        if (retry) continue;
        throw await responseError(init.method, url, response, await this.unauthorizedHint());
      }

      const location = header(response.headers, 'location');
      const isRedirect = [301, 302, 303, 307, 308].includes(response.statusCode);
      const follow = init.followRedirects !== false && (init.method === 'GET' || init.method === 'HEAD');
      if (isRedirect && location !== undefined && follow) {
        await discard(response.body);
        if (++redirects > MAX_REDIRECTS) {
          throw await responseError(init.method, url, response, `more than ${MAX_REDIRECTS} redirects`);
        }
        const next = new URL(location, url);
        checkNoDowngrade(init.method, url, next, 'the redirect');
        checkDestination(new URL(this.baseUrl), next, 'the redirect');
        url = next;
        continue;
      }

      if (!init.expect.includes(response.statusCode)) {
        const hint = response.statusCode === 401 ? await this.unauthorizedHint() : undefined;
        throw await responseError(init.method, url, response, hint);
      }
      return { response, url };
    }
  }

  // Every request the client sends is safe to repeat: GET and HEAD read, a POST opens a fresh
  // upload session, and PUT of a blob or manifest names its digest or tag.
  private async dispatchWithRetries(
    method: Dispatcher.HttpMethod,
    url: URL,
    headers: Record<string, string>,
    openBody: (() => Readable | Buffer) | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Dispatcher.ResponseData> {
    for (let attempt = 0; ; attempt++) {
      signal?.throwIfAborted();
      const body = openBody?.();
      let response: Dispatcher.ResponseData;
      try {
        response = await this.dispatch(method, url, headers, body, signal);
      } catch (error) {
        if (body instanceof Readable) body.destroy();
        if (attempt >= this.retries || signal?.aborted) throw error;
        await delay(this.backoff(attempt));
        continue;
      }
      if (attempt >= this.retries || !isRetryableStatus(response.statusCode)) return response;

      const wait = retryAfter(header(response.headers, 'retry-after')) ?? this.backoff(attempt);
      await discard(response.body);
      if (body instanceof Readable) body.destroy();
      await delay(Math.min(wait, MAX_RETRY_DELAY));
    }
  }

  private backoff(attempt: number): number {
    const ceiling = Math.min(this.retryDelay * 2 ** attempt, MAX_RETRY_DELAY);
    // Jitter spreads the retries of many clients that failed at the same moment.
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  private async dispatch(
    method: Dispatcher.HttpMethod,
    url: URL,
    headers: Record<string, string>,
    body: Readable | Buffer | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Dispatcher.ResponseData> {
    try {
      return await request(url, {
        method,
        headers,
        body,
        dispatcher: this.dispatcher,
        // By default undici closes the connection after every HEAD, in case a server sends a body
        // with it. With `reset: false` it keeps a connection whose response carries
        // `Connection: keep-alive`, so a push does not open one connection per blob it checks.
        ...(method === 'HEAD' ? { reset: false } : {}),
        ...(signal === undefined ? {} : { signal }),
      });
    } catch (error) {
      // An aborted request failed on purpose, so it is no connection error.
      if (signal?.aborted) throw signal.reason;
      const reason = describeNetworkError(error);
      const hint = connectionHint(url, reason);
      const init = { method, url: redactUrl(url), reason };
      throw new RegistryConnectionError(hint === undefined ? init : { ...init, hint }, { cause: error });
    }
  }

  private async unauthorizedHint(): Promise<string> {
    if (await this.auth.hasCredentials()) {
      return `the registry rejected the credentials for ${this.host} from Docker's config.json; check or renew them`;
    }
    return `add credentials for ${this.host} to Docker's config.json ($DOCKER_CONFIG/config.json or ~/.docker/config.json), for example with "docker login ${this.host}"`;
  }
}

/**
 * Tells whether a status that rejects the one-`PATCH` upload means the registry lacks that form.
 * That is any 4xx except 413 (body too large) and the statuses that fail every upload: 401 and
 * 403 (authorization), 408 and 429 (rate limits).
 */
function isPatchRefusal(status: number): boolean {
  return status >= 400 && status < 500 && ![401, 403, 408, 413, 429].includes(status);
}

/** Resolves as `promise` does, or rejects with the signal's reason once `signal` aborts first. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  signal.throwIfAborted();
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** Returns the fallback tag of a digest's referrers index, `<alg>-<hex>` ("Referrers Tag Schema"). */
export function referrersTag(digest: Digest): string {
  const { algorithm, encoded } = parseDigest(digest);
  return `${algorithm}-${encoded}`.slice(0, 128);
}

/** Tells whether a response status is worth another attempt: 408, 429 and 5xx except 501 and 505. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

/**
 * Parses `Retry-After` (RFC 9110): delay seconds or an HTTP date. Returns milliseconds, or
 * undefined when the header is missing or invalid.
 */
export function retryAfter(value: string | undefined, now: number = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(date - now, 0);
}

// Suggests the usual fix for the common connection failures.
function connectionHint(url: URL, reason: string): string | undefined {
  if (url.protocol === 'https:' && /EPROTO|SSL|TLS|wrong version/i.test(reason)) {
    return 'if the registry does not use TLS, use plain HTTP (--plain-http)';
  }
  if (/ECONNREFUSED/.test(reason)) return `check that a registry is running at ${url.host}`;
  if (/ENOTFOUND|EAI_AGAIN/.test(reason))
    return `check the registry host name ${JSON.stringify(url.hostname)}`;
  if (/timeout|ETIMEDOUT/i.test(reason))
    return `${url.host} did not respond in time; check the network or try again`;
  return undefined;
}

// Rejects a move from HTTPS to plain HTTP, which would expose the request to the network.
function checkNoDowngrade(method: string, from: URL, to: URL, what: string): void {
  if (from.protocol === 'https:' && to.protocol !== 'https:') {
    throw new RegistryResponseError({
      method,
      url: redactUrl(from),
      status: 0,
      errors: [],
      hint: `${what} leads from HTTPS to ${to.protocol.replace(':', '')} (${redactUrl(to)}), which ocidrop does not follow`,
    });
  }
}

/** Scope for deleting in a repository; the token specification names the action `delete`. */
function repositoryDeleteScope(repository: string): Scope {
  return `repository:${repository}:delete`;
}

function parseReferrersIndex(body: Buffer | undefined, url: URL): ImageIndex {
  const parsed = body === undefined ? undefined : parseManifest(body, OCI_INDEX);
  if (parsed?.kind !== 'index') {
    throw new RegistryResponseError({
      method: 'GET',
      url: redactUrl(url),
      status: 200,
      errors: [],
      hint: 'the referrers response is not an OCI image index',
    });
  }
  return parsed.manifest;
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
}

function describeNetworkError(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  while (current instanceof Error && parts.length < 4) {
    const code = (current as NodeJS.ErrnoException).code;
    parts.push(
      code !== undefined && !current.message.includes(code)
        ? `${current.message} (${code})`
        : current.message,
    );
    current = current.cause;
  }
  return parts.join(': ') || String(error);
}
