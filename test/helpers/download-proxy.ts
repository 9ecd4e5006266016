/**
 * An HTTP proxy on 127.0.0.1 in front of a registry that can spoil blob downloads: it stops
 * sending a blob's body after a number of bytes and holds the connection open, or flips one byte
 * of it. Every other request is forwarded as it is. Tests use it to interrupt or corrupt a pull.
 */
import { createServer, request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/**
 * What the proxy does to the body of a blob `GET`: forward it, stop after `stallAfter` bytes
 * without closing the connection, or send it with the byte at `corruptAt` changed.
 */
export type DownloadFault = 'forward' | { stallAfter: number } | { corruptAt: number };

/** One `GET` of a blob that the proxy received. */
export interface BlobRequest {
  /** The blob's digest, from the request path. */
  digest: string;
  /** The `Range` header, if any. */
  range: string | undefined;
}

/** A running proxy. */
export interface DownloadProxy {
  /** `127.0.0.1:PORT`, the registry part of references that go through the proxy. */
  host: string;
  /** The blob requests received so far, in order of arrival. */
  blobRequests: BlobRequest[];
  /** Sets the fault applied to later downloads of the blob `digest`. */
  setFault(digest: string, fault: DownloadFault): void;
  close(): Promise<void>;
}

/** Starts a proxy to the registry at `upstream` (`127.0.0.1:PORT`) that forwards everything by default. */
export async function startDownloadProxy(upstream: string): Promise<DownloadProxy> {
  const [upstreamHost, upstreamPort] = upstream.split(':') as [string, string];
  const faults = new Map<string, DownloadFault>();
  const blobRequests: BlobRequest[] = [];

  const server = createServer((incoming, outgoing) => {
    const path = new URL(incoming.url ?? '/', 'http://proxy').pathname;
    const blob = incoming.method === 'GET' ? /\/blobs\/(sha256:[0-9a-f]{64})$/.exec(path) : null;
    const digest = blob?.[1];
    if (digest !== undefined) blobRequests.push({ digest, range: incoming.headers.range });
    const fault = (digest === undefined ? undefined : faults.get(digest)) ?? 'forward';

    const forwarded = httpRequest(
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
        pipeline(response, spoil(fault), outgoing).catch(() => outgoing.destroy());
      },
    );
    forwarded.on('error', () => outgoing.destroy());
    outgoing.on('close', () => forwarded.destroy());
    incoming.pipe(forwarded);
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    host,
    blobRequests,
    setFault: (digest, fault) => faults.set(digest, fault),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

// Returns the stream that a response body passes through on its way to the client.
function spoil(fault: DownloadFault): Transform {
  let offset = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback) {
      const start = offset;
      offset += chunk.byteLength;
      if (fault === 'forward') {
        callback(null, chunk);
        return;
      }
      if ('stallAfter' in fault) {
        // Bytes past the limit are dropped, and the body never ends, so the client waits.
        const kept = Math.max(0, Math.min(chunk.byteLength, fault.stallAfter - start));
        callback(null, chunk.subarray(0, kept));
        return;
      }
      if (fault.corruptAt >= start && fault.corruptAt < offset) {
        const copy = Buffer.from(chunk);
        copy[fault.corruptAt - start] = copy[fault.corruptAt - start]! ^ 0xff;
        callback(null, copy);
        return;
      }
      callback(null, chunk);
    },
    flush(callback: TransformCallback) {
      // A stalled body never ends: the client sees a response that stops part-way.
      if (fault !== 'forward' && 'stallAfter' in fault) return;
      callback();
    },
  });
}
