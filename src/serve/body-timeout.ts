/**
 * A minimum rate for request bodies. The socket idle timeout restarts with every byte, so a client
 * that sends one body byte every few seconds would hold its connection, and an upload session,
 * forever. Node.js's `requestTimeout` bounds the whole request instead, which would cut large
 * uploads on slow links. This check cuts a body that delivers fewer than `minBytes` in a window,
 * and leaves fast or steady uploads alone however long they run.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Options of {@link watchRequestBody}. */
export interface BodyRateOptions {
  /** Length of one measuring window in milliseconds. @default 30_000 */
  windowMs?: number;
  /** Bytes a body must deliver in each window, or the request is cut. @default 1024 */
  minBytes?: number;
}

/** Default of {@link BodyRateOptions.windowMs}. */
export const DEFAULT_BODY_WINDOW_MS = 30_000;

/** Default of {@link BodyRateOptions.minBytes}: 1 KiB, so about 34 bytes per second. */
export const DEFAULT_BODY_MIN_BYTES = 1024;

/**
 * Watches one request's body until it is complete, and ends a request whose body is slower than
 * the minimum rate: with `408 Request Timeout` when no response has started, else by closing the
 * connection. A window in which the handler holds the body back (its buffer is full, as when the
 * disk is slow) does not count against the client.
 */
export function watchRequestBody(
  req: IncomingMessage,
  res: ServerResponse,
  options: BodyRateOptions = {},
): void {
  const windowMs = options.windowMs ?? DEFAULT_BODY_WINDOW_MS;
  const minBytes = options.minBytes ?? DEFAULT_BODY_MIN_BYTES;
  if (req.complete || !hasBody(req)) return;

  // Counted on the socket, because a 'data' listener on the request would start the body flowing
  // before the handler reads it. Only this request's body arrives on the socket until it is complete.
  const socket = req.socket;
  let readBefore = socket.bytesRead;

  const timer = setInterval(() => {
    if (req.complete) return stop();
    const received = socket.bytesRead - readBefore;
    readBefore = socket.bytesRead;
    const heldBack = req.readableLength >= req.readableHighWaterMark;
    if (received < minBytes && !heldBack) {
      stop();
      cut(req, res, windowMs, minBytes);
    }
  }, windowMs);
  timer.unref();

  const stop = (): void => clearInterval(timer);
  req.once('end', stop);
  res.once('close', stop);
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}

function cut(req: IncomingMessage, res: ServerResponse, windowMs: number, minBytes: number): void {
  const error = new Error(
    `request body sent fewer than ${minBytes} bytes in ${windowMs / 1000} s, the minimum rate`,
  );
  if (res.headersSent) {
    req.destroy(error);
    return;
  }
  res.writeHead(408, { 'Content-Type': 'text/plain; charset=utf-8', Connection: 'close' });
  // Destroying the request closes the socket, so it waits until the answer is written, or a second at most.
  const fallback = setTimeout(() => req.destroy(error), 1000);
  fallback.unref();
  res.end('request timeout: the request body arrived too slowly\n', () => {
    clearTimeout(fallback);
    req.destroy(error);
  });
}
