/**
 * Paths for operators under the reserved prefix `/-/`: `/-/healthz` and `/-/metrics`. A repository
 * name cannot start with `-` (distribution spec, "Pulling manifests": each path component starts
 * with a lowercase letter or digit), so these paths never hide a repository.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GatewayError } from './errors.js';
import type { GatewayMetrics } from './metrics.js';

/** The prefix of operator paths. */
export const OPERATIONS_PREFIX = '/-/';

/** Path of the health check. */
export const HEALTHZ_PATH = '/-/healthz';

/** Path of the Prometheus metrics. */
export const METRICS_PATH = '/-/metrics';

/** Tells whether a path is under {@link OPERATIONS_PREFIX}. */
export function isOperationsPath(pathname: string): boolean {
  return pathname.startsWith(OPERATIONS_PREFIX);
}

/**
 * Serves an operator path: `/-/healthz` returns `200 ok` while the process serves requests, and
 * `/-/metrics` returns the Prometheus text format.
 * @throws GatewayError `NOT_FOUND` for another path under the prefix or for metrics that are not
 *   collected, `METHOD_NOT_ALLOWED` for a method other than GET and HEAD.
 */
export async function serveOperations(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  metrics: GatewayMetrics | undefined,
): Promise<void> {
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

  let body: string;
  let contentType: string;
  if (pathname === HEALTHZ_PATH) {
    body = 'ok\n';
    contentType = 'text/plain; charset=utf-8';
  } else if (pathname === METRICS_PATH && metrics !== undefined) {
    body = await metrics.render();
    contentType = metrics.contentType;
  } else {
    throw new GatewayError('NOT_FOUND', `no page at ${JSON.stringify(pathname)}`);
  }

  res.writeHead(200, {
    'Content-Type': contentType,
    'Content-Length': String(Buffer.byteLength(body)),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}
