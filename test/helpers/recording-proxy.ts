/**
 * An HTTP proxy on 127.0.0.1 in front of a registry. It records every request it receives, and a
 * test can make it respond to some requests itself or forward their bodies slowly.
 */
import {
  type ClientRequest,
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream';

/** One request the proxy received. */
export interface RecordedRequest {
  method: string;
  /** The path without the query. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The status sent back, or `aborted` when the client closed the connection before the response ended. */
  outcome?: number | 'aborted';
}

/**
 * What the proxy does with a request. It forwards it, or responds with `status` and an error body
 * itself. It can also forward the body with a pause of `delayPerChunkMs` before each chunk, or
 * hold the request until the promise `after` has resolved.
 */
export type ProxyAction =
  | 'forward'
  | { status: number }
  | { delayPerChunkMs: number }
  | { after: Promise<unknown> };

/** A running proxy. */
export interface RecordingProxy {
  /** `127.0.0.1:PORT`, the registry part of references that go through the proxy. */
  host: string;
  /** The requests received so far, in order of arrival. */
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/**
 * Starts a proxy to the registry at `upstream` (`127.0.0.1:PORT`). `decide` picks the action for
 * each request; every request is forwarded by default. `Location` headers that name the upstream
 * are rewritten to the proxy, so upload sessions keep going through it.
 */
export async function startRecordingProxy(
  upstream: string,
  decide: (request: RecordedRequest) => ProxyAction = () => 'forward',
): Promise<RecordingProxy> {
  const requests: RecordedRequest[] = [];
  const [upstreamHost, upstreamPort] = upstream.split(':') as [string, string];
  let host = '';

  const server = createServer((incoming, outgoing) => {
    const url = new URL(incoming.url ?? '/', 'http://proxy');
    const record: RecordedRequest = {
      method: incoming.method ?? '',
      path: url.pathname,
      query: url.searchParams,
      headers: incoming.headers,
    };
    requests.push(record);
    let forwarded: ClientRequest | undefined;
    // A client that closes the connection before the response has ended aborted its request. The
    // proxy reads request bodies as they arrive, so it notices the close at once. It passes the
    // abort on to the registry by destroying the forwarded request.
    outgoing.on('close', () => {
      if (outgoing.writableFinished) {
        record.outcome = outgoing.statusCode;
        return;
      }
      record.outcome = 'aborted';
      forwarded?.destroy();
    });

    const action = decide(record);
    if (typeof action === 'object' && 'status' in action) {
      incoming.resume();
      const body = JSON.stringify({
        errors: [{ code: 'UNSUPPORTED', message: 'rejected by the test proxy' }],
      });
      outgoing.writeHead(action.status, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      });
      outgoing.end(body);
      return;
    }

    if (typeof action === 'object' && 'after' in action) {
      void action.after.then(() => forward(0));
      return;
    }
    forward(action === 'forward' ? 0 : action.delayPerChunkMs);

    function forward(delayPerChunkMs: number): void {
      const request = httpRequest(
        {
          host: upstreamHost,
          port: Number(upstreamPort),
          method: incoming.method,
          path: incoming.url,
          headers: incoming.headers,
        },
        (response) => {
          const headers: OutgoingHttpHeaders = { ...response.headers };
          const location = response.headers.location;
          if (location !== undefined) headers['location'] = location.replace(`//${upstream}`, `//${host}`);
          outgoing.writeHead(response.statusCode ?? 502, headers);
          pipeline(response, outgoing, () => undefined);
        },
      );
      forwarded = request;
      request.on('error', () => outgoing.destroy());
      if (delayPerChunkMs === 0) {
        incoming.pipe(request);
        return;
      }

      // The registry gets the headers at once and the body one chunk per delay.
      request.flushHeaders();
      const queue: Buffer[] = [];
      let ended = false;
      incoming.on('data', (chunk: Buffer) => queue.push(chunk));
      incoming.on('end', () => {
        ended = true;
      });
      const timer = setInterval(() => {
        const chunk = queue.shift();
        if (chunk !== undefined) request.write(chunk);
        else if (ended) request.end();
        if (request.writableEnded || request.destroyed) clearInterval(timer);
      }, delayPerChunkMs);
    }
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    requests,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Returns the recorded requests of `method` whose path contains `fragment`. */
export function requestsTo(proxy: RecordingProxy, method: string, fragment = ''): RecordedRequest[] {
  return proxy.requests.filter((request) => request.method === method && request.path.includes(fragment));
}
