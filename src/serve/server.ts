/**
 * The `ocidrop serve` process: the embedded OCI registry at `/v2/` and the download gateway at
 * every other path, on one HTTP server over one data folder.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { createGatewayHandler } from '../gateway/handler.js';
import { createRegistryHandler } from '../registry/handler.js';
import { FsStore } from '../storage/fs-store.js';
import { isLoopbackHost } from './paths.js';

/** How long a connection may stay idle, and how long shutdown waits for running transfers. */
const IDLE_TIMEOUT_MS = 120_000;
const SHUTDOWN_GRACE_MS = 30_000;

/** Options of {@link startServer}. */
export interface ServeOptions {
  /** Folder that holds the registry's content; created when missing. */
  dataDir: string;
  /** Address to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port to listen on; 0 picks a free one. @default 5000 */
  port?: number;
  /** Logger for the access log and errors. @default a pino logger on stdout at level `info` */
  logger?: Logger;
}

/** A running server. */
export interface RunningServer {
  /** Base URL with the real port, such as `http://127.0.0.1:5000`. */
  url: string;
  /** `host:port` as a reference's registry part uses it. */
  registryHost: string;
  server: Server;
  store: FsStore;
  /** Stops accepting connections, lets running requests finish for up to 30 s, then closes the rest. */
  close(): Promise<void>;
}

/** Opens the store in `dataDir` and starts the registry and gateway on one port. */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? pino({ name: 'ocidrop' });
  const store = await FsStore.open(options.dataDir);
  const registry = createRegistryHandler(store, { logger });
  const gateway = createGatewayHandler(store, { logger });

  const server = createServer({ requestTimeout: 0, headersTimeout: 30_000, keepAliveTimeout: 5_000 }, (req, res) => {
    logRequest(logger, req, res);
    const path = req.url ?? '/';
    const handler = path === '/v2' || path.startsWith('/v2/') || path.startsWith('/v2?') ? registry : gateway;
    handler(req, res).catch((error: unknown) => {
      // Both handlers answer their own errors; this is the last resort for a bug in one of them.
      logger.error({ err: error, method: req.method, path: stripQuery(path) }, 'unhandled error in request handler');
      if (!res.headersSent) {
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('internal server error\n');
      } else {
        res.destroy();
      }
    });
  });
  server.setTimeout(IDLE_TIMEOUT_MS);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 5000, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostForUrl = urlHost(address);
  const registryHost = `${hostForUrl}:${address.port}`;
  logger.info({ url: `http://${registryHost}`, dataDir: options.dataDir, loopback: isLoopbackHost(address.address) }, 'listening');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      const timer = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      timer.unref();
      server.close(() => {
        clearTimeout(timer);
        logger.info('stopped');
        resolve();
      });
      server.closeIdleConnections();
    });
    return closing;
  };
  return { url: `http://${registryHost}`, registryHost, server, store, close };
}

/** Writes one access-log line when the response ends: `error` for 5xx, `info` otherwise. */
function logRequest(logger: Logger, req: IncomingMessage, res: ServerResponse): void {
  const started = process.hrtime.bigint();
  res.once('close', () => {
    const entry = {
      method: req.method,
      // The query is left out because signed links carry their signature there.
      path: stripQuery(req.url ?? '/'),
      status: res.statusCode,
      bytes: Number(res.getHeader('content-length') ?? 0) || undefined,
      ms: Number((process.hrtime.bigint() - started) / 1_000_000n),
      remote: req.socket.remoteAddress,
      aborted: !res.writableFinished || undefined,
    };
    if (res.statusCode >= 500) logger.error(entry, 'request');
    else logger.info(entry, 'request');
  });
}

/** Formats the listening address for a URL, naming loopback where the server listens on every address. */
function urlHost(address: AddressInfo): string {
  if (address.address === '0.0.0.0') return '127.0.0.1';
  if (address.address === '::') return '[::1]';
  return address.family === 'IPv6' ? `[${address.address}]` : address.address;
}

function stripQuery(path: string): string {
  const question = path.indexOf('?');
  return question < 0 ? path : path.slice(0, question);
}
