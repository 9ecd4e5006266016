/**
 * Detection of clients that went away, as opposed to failures of the server. A client that closes
 * or resets its connection mid-response surfaces as one of several stream or socket errors,
 * depending on where the copy was when it noticed. Such a request is logged as aborted, never as
 * a server error.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OcidropError } from '../oci/errors.js';

/**
 * Error codes that a write to, or a wait on, a response raises when its connection is gone:
 * closed before the end, written after `destroy`, reset by the peer, or a broken pipe.
 * `ECONNABORTED` is what a request body raises when its connection is cut while it is read.
 */
export const CLIENT_ABORT_CODES: ReadonlySet<string> = new Set([
  'ERR_STREAM_PREMATURE_CLOSE',
  'ERR_STREAM_DESTROYED',
  'ECONNRESET',
  'EPIPE',
  'ECONNABORTED',
]);

/**
 * A destination stream, such as an HTTP response, that failed or closed before a copy to it
 * ended. `cause` is the stream's own error, when it gave one.
 */
export class DestinationClosedError extends OcidropError {
  override name = 'DestinationClosedError';

  constructor(cause?: unknown) {
    super(
      'ERR_STREAM_PREMATURE_CLOSE',
      'the destination closed before the copy ended',
      cause === undefined ? undefined : { cause },
    );
  }
}

/**
 * Tells whether `error` only means that the client went away: the response or the connection was
 * destroyed before the response ended, and the error has one of {@link CLIENT_ABORT_CODES}.
 * A failure of the server, such as a read error of a blob file or a digest mismatch, has another
 * code and returns false even when the server cut the connection because of it.
 */
export function isClientAbort(req: IncomingMessage, res: ServerResponse, error: unknown): boolean {
  if (res.writableFinished) return false;
  if (!(res.destroyed || req.destroyed || req.socket.destroyed)) return false;
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && CLIENT_ABORT_CODES.has(code);
}
