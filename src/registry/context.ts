/**
 * What every endpoint handler of the registry receives: the request, the response, the parsed
 * URL and the store, with small helpers for the responses the spec describes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FsStore } from '../storage/fs-store.js';
import { API_VERSION_HEADER } from './http.js';

/** One request in flight. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  store: FsStore;
}

/** Sends a response with no body. */
export function sendEmpty(
  ctx: RequestContext,
  status: number,
  headers: Record<string, string | number> = {},
): void {
  ctx.res.statusCode = status;
  ctx.res.setHeader(API_VERSION_HEADER[0], API_VERSION_HEADER[1]);
  for (const [name, value] of Object.entries(headers)) ctx.res.setHeader(name, value);
  if (!ctx.res.hasHeader('Content-Length')) ctx.res.setHeader('Content-Length', 0);
  ctx.res.end();
}

/** Sends a JSON body (left out for `HEAD`). */
export function sendJson(
  ctx: RequestContext,
  status: number,
  body: unknown,
  headers: Record<string, string | number> = {},
): void {
  const text = JSON.stringify(body);
  sendBytes(ctx, status, Buffer.from(text), {
    'Content-Type': 'application/json; charset=utf-8',
    ...headers,
  });
}

/** Sends bytes held in memory (left out for `HEAD`, where `Content-Length` still gives their size). */
export function sendBytes(
  ctx: RequestContext,
  status: number,
  bytes: Buffer,
  headers: Record<string, string | number>,
): void {
  ctx.res.statusCode = status;
  ctx.res.setHeader(API_VERSION_HEADER[0], API_VERSION_HEADER[1]);
  for (const [name, value] of Object.entries(headers)) ctx.res.setHeader(name, value);
  ctx.res.setHeader('Content-Length', bytes.byteLength);
  ctx.res.end(ctx.req.method === 'HEAD' ? undefined : bytes);
}

/** Returns the single value of a query parameter, or `undefined`. */
export function queryValue(ctx: RequestContext, name: string): string | undefined {
  return ctx.url.searchParams.get(name) ?? undefined;
}

/** Drains a request body the handler does not use, so the connection can be reused. */
export function discardBody(ctx: RequestContext): void {
  ctx.req.resume();
}
