/**
 * The embedded OCI registry as one request handler for every path under `/v2/`, implementing
 * the OCI Distribution Specification v1.1 over an {@link FsStore}. Endpoint handlers throw
 * `RegistryError`; this module catches every error and writes it with {@link sendError}.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { isClientAbort } from '../content/client-abort.js';
import { RegistryError } from '../oci/errors.js';
import { isRepositoryName } from '../oci/reference.js';
import type { FsStore } from '../storage/fs-store.js';
import { checkRepositoryName } from '../storage/layout.js';
import type { AccessPolicy, AccessScope, RepositoryAction } from './access.js';
import {
  cancelUpload,
  completeUpload,
  deleteBlob,
  getBlob,
  getUpload,
  patchUpload,
  startUpload,
} from './blobs.js';
import { type RequestContext, sendJson } from './context.js';
import { sendError } from './http.js';
import { listReferrers, listRepositories, listTags } from './listing.js';
import { deleteManifest, getManifest, putManifest } from './manifests.js';
import { matchRoute, type Route } from './routes.js';
import { TokenRequestError } from './token-endpoint.js';
import { UploadLimitError, UploadSessionLimit, type UploadSessionLimitOptions } from './upload-limit.js';

/**
 * Path of the token endpoint of the Docker token flow, served when the access policy issues
 * tokens: `GET` with HTTP Basic, or the OAuth2 `POST` form.
 */
export const TOKEN_PATH = '/v2/token';

/** Options of {@link createRegistryHandler}. */
export interface RegistryHandlerOptions {
  /** Logs each request that fails with a 5xx, once, with the error. The caller logs access lines. */
  logger?: Logger;
  /** Decides who may pull, push and delete; without one, every request is allowed. */
  access?: AccessPolicy;
  /**
   * Rejects every push and delete with `405` `UNSUPPORTED`.
   * @default false
   */
  readOnly?: boolean;
  /**
   * Smallest chunk size in bytes to advertise as `OCI-Chunk-Min-Length` when an upload session
   * starts (distribution-spec `spec.md`, "Pushing a blob in chunks"). The store accepts chunks of
   * any size, so the header only suggests fewer, larger `PATCH` requests to clients and is not enforced.
   * @default none, so the header is not sent
   */
  minChunkLength?: number;
  /**
   * Caps on open upload sessions, per repository and in total; a `POST` past a cap gets
   * `429 TOOMANYREQUESTS` with `Retry-After`.
   * @default 100 per repository, 1000 in total
   */
  uploadSessions?: UploadSessionLimitOptions;
}

/** A request handler whose returned promise never rejects, because it writes every error as a response. */
export type RegistryHandler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * Creates the handler for `/v2` and every path below it. The caller dispatches those paths here
 * and everything else elsewhere. `Location` headers are relative paths, which the spec allows.
 */
export function createRegistryHandler(store: FsStore, options: RegistryHandlerOptions = {}): RegistryHandler {
  const uploadLimit = new UploadSessionLimit(options.uploadSessions);
  return async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://registry.invalid');
      if (url.pathname === TOKEN_PATH && options.access?.issueToken) {
        await serveToken({ req, res, url, store }, options.access.issueToken.bind(options.access));
        return;
      }
      const route = matchRoute(url.pathname);
      if (!route) {
        req.resume();
        throw new RegistryError('NAME_UNKNOWN', `no registry endpoint at ${url.pathname}`, {
          path: url.pathname,
        });
      }
      await dispatch({ req, res, url, store }, route, options, uploadLimit);
    } catch (error) {
      // A client that reset the connection gets no answer, and its request is no server failure:
      // the access log records it as aborted.
      if (isClientAbort(req, res, error)) {
        res.destroy();
        return;
      }
      // A body left unread would stall a keep-alive connection, so drain what remains.
      if (!req.complete) req.resume();
      const status = sendError(req, res, error);
      if (status >= 500)
        options.logger?.error(
          { err: error, method: req.method, path: pathOf(req) },
          'registry request failed',
        );
    }
  };
}

async function dispatch(
  ctx: RequestContext,
  route: Route,
  options: RegistryHandlerOptions,
  uploadLimit: UploadSessionLimit,
): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  if ('name' in route) checkRepositoryName(route.name);

  const authorize = async (scopes: AccessScope[]): Promise<void> => {
    if (options.access) await options.access.authorize(ctx.req, scopes);
  };
  const repository = (name: string, action: RepositoryAction): AccessScope => ({
    type: 'repository',
    name,
    actions: [action],
  });
  const write = async (name: string, action: RepositoryAction): Promise<void> => {
    if (options.readOnly) {
      ctx.req.resume();
      throw new RegistryError('UNSUPPORTED', `the registry is read-only: ${method} is not allowed`);
    }
    await authorize([repository(name, action)]);
  };

  switch (route.kind) {
    case 'base':
      allow(method, ['GET', 'HEAD']);
      await authorize([]);
      sendJson(ctx, 200, {});
      return;

    case 'catalog':
      allow(method, ['GET']);
      await authorize([{ type: 'registry', name: 'catalog', actions: ['*'] }]);
      await listRepositories(ctx, async (name) => canAccess(options, ctx.req, repository(name, 'pull')));
      return;

    case 'tags':
      allow(method, ['GET']);
      await authorize([repository(route.name, 'pull')]);
      await listTags(ctx, route.name);
      return;

    case 'referrers':
      allow(method, ['GET']);
      await authorize([repository(route.name, 'pull')]);
      await listReferrers(ctx, route.name, route.digest);
      return;

    case 'manifest':
      allow(method, ['GET', 'HEAD', 'PUT', 'DELETE']);
      if (method === 'PUT') {
        await write(route.name, 'push');
        await putManifest(ctx, route.name, route.reference);
      } else if (method === 'DELETE') {
        await write(route.name, 'delete');
        await deleteManifest(ctx, route.name, route.reference);
      } else {
        await authorize([repository(route.name, 'pull')]);
        await getManifest(ctx, route.name, route.reference);
      }
      return;

    case 'blob':
      allow(method, ['GET', 'HEAD', 'DELETE']);
      if (method === 'DELETE') {
        await write(route.name, 'delete');
        await deleteBlob(ctx, route.name, route.digest);
      } else {
        await authorize([repository(route.name, 'pull')]);
        await getBlob(ctx, route.name, route.digest);
      }
      return;

    case 'uploads': {
      allow(method, ['POST']);
      await write(route.name, 'push');
      const reservation = reserveUploadSession(ctx, uploadLimit, route.name);
      try {
        await startUpload(
          ctx,
          route.name,
          async (scope) => canAccess(options, ctx.req, scope),
          options.minChunkLength,
        );
      } finally {
        // A mount or a single-POST upload answers 201 and leaves no session behind.
        const id = ctx.res.statusCode === 202 ? ctx.res.getHeader('Docker-Upload-UUID') : undefined;
        if (typeof id === 'string') uploadLimit.opened(reservation, id);
        else uploadLimit.closed(reservation);
      }
      return;
    }

    case 'upload':
      allow(method, ['GET', 'PATCH', 'PUT', 'DELETE']);
      await write(route.name, 'push');
      try {
        if (method === 'GET') await getUpload(ctx, route.name, route.id);
        else if (method === 'PATCH') await patchUpload(ctx, route.name, route.id);
        else if (method === 'PUT') await completeUpload(ctx, route.name, route.id);
        else await cancelUpload(ctx, route.name, route.id);
      } catch (error) {
        if (method === 'PUT' || method === 'DELETE')
          await forgetEndedSession(ctx, uploadLimit, route.name, route.id);
        else uploadLimit.touch(route.id);
        throw error;
      }
      // The slot is freed before any further I/O, so the client's next request finds it free.
      if (method === 'PUT' || method === 'DELETE') uploadLimit.closed(route.id, route.name);
      else uploadLimit.touch(route.id);
      return;
  }
}

// Reserves a slot under the upload session cap; past it, the 429 carries Retry-After.
function reserveUploadSession(ctx: RequestContext, limit: UploadSessionLimit, repository: string): string {
  try {
    return limit.reserve(repository);
  } catch (error) {
    ctx.req.resume();
    if (error instanceof UploadLimitError) ctx.res.setHeader('Retry-After', String(error.retryAfterSeconds));
    throw error;
  }
}

// A failed PUT or DELETE removes its session only when it failed after reaching it, so the store decides.
async function forgetEndedSession(
  ctx: RequestContext,
  limit: UploadSessionLimit,
  repository: string,
  id: string,
): Promise<void> {
  try {
    await ctx.store.uploads.status(repository, id);
    limit.touch(id);
  } catch {
    limit.closed(id, repository);
  }
}

async function serveToken(
  ctx: RequestContext,
  issueToken: NonNullable<AccessPolicy['issueToken']>,
): Promise<void> {
  const method = ctx.req.method ?? 'GET';
  if (method !== 'POST') ctx.req.resume();
  allow(method, ['GET', 'POST']);
  try {
    const body = await issueToken(ctx.req, ctx.url);
    sendJson(ctx, 200, body, { 'Cache-Control': 'no-store' });
  } catch (error) {
    if (!(error instanceof TokenRequestError)) throw error;
    sendJson(ctx, error.status, error.toBody(), { 'Cache-Control': 'no-store' });
  }
}

function allow(method: string, methods: string[]): void {
  if (!methods.includes(method)) {
    throw new RegistryError(
      'UNSUPPORTED',
      `method ${method} is not allowed here: use ${methods.join(', ')}`,
      { method },
    );
  }
}

async function canAccess(
  options: RegistryHandlerOptions,
  req: IncomingMessage,
  scope: AccessScope,
): Promise<boolean> {
  if (scope.type === 'repository' && !isRepositoryName(scope.name)) return false;
  if (!options.access) return true;
  try {
    await options.access.authorize(req, [scope]);
    return true;
  } catch {
    return false;
  }
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  return query >= 0 ? url.slice(0, query) : url;
}
