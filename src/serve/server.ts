/**
 * The `ocidrop serve` process: the embedded OCI registry at `/v2/` and the download gateway at
 * every other path, on one HTTP server over one data folder. With a configuration file, the gateway
 * also fronts remote registries, keeps some repositories private and verifies signed links. In
 * gateway-only mode the embedded registry does not run and the process keeps no state of its own.
 *
 * Access is decided before the server listens: on a loopback address the registry may stay open,
 * and on any other address push and delete need users unless the operator opts out.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Logger, pino } from 'pino';
import { createGatewayHandler, type GatewayOptions } from '../gateway/handler.js';
import { GatewayMetrics } from '../gateway/metrics.js';
import { isLoopbackAddress } from '../oci/reference.js';
import { createRegistryHandler, type RegistryHandler } from '../registry/handler.js';
import { FsStore } from '../storage/fs-store.js';
import { type AccessFlags, resolveServeAccess } from './access.js';
import { type BodyRateOptions, watchRequestBody } from './body-timeout.js';
import { composeGateway } from './compose.js';
import type { ServeConfig } from './config.js';

/** How long a connection may stay idle, and how long shutdown waits for running transfers. */
const IDLE_TIMEOUT_MS = 120_000;
const SHUTDOWN_GRACE_MS = 30_000;

/** Options of {@link startServer}. */
export interface ServeOptions {
  /** Folder that contains the registry's content, created when missing. */
  dataDir: string;
  /** Address to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port to listen on; 0 picks a free one. @default 5000 */
  port?: number;
  /** Logger for the access log and errors. @default a pino logger on stdout at level `info` */
  logger?: Logger;
  /** The checked configuration file; without one, every embedded repository is public. */
  config?: ServeConfig;
  /**
   * Run the embedded registry at `/v2/`; false runs the gateway alone in front of the configured
   * remote registries. @default the configuration's `registry`, else true
   */
  registry?: boolean;
  /** Access settings from the command line, each one overriding the configuration file's. */
  access?: AccessFlags;
  /**
   * Minimum rate of request bodies: a body that delivers fewer than `minBytes` in a window of
   * `windowMs` is cut with 408. @default 1024 bytes per 30 s
   */
  requestBody?: BodyRateOptions;
  /**
   * Hash every download of a blob of the embedded store, to catch files changed on disk since
   * they were stored. @default the configuration's `verifyBlobs`, else false
   */
  verifyBlobs?: boolean;
}

/** A running server. */
export interface RunningServer {
  /** Base URL with the real port, such as `http://127.0.0.1:5000`. */
  url: string;
  /** `host:port` as a reference's registry part uses it. */
  registryHost: string;
  server: Server;
  /** The embedded registry's store; undefined in gateway-only mode. */
  store: FsStore | undefined;
  /** The gateway's metrics, as `/-/metrics` renders them. */
  metrics: GatewayMetrics;
  /**
   * Stops accepting connections, lets running requests finish for up to 30 s, then closes the rest.
   * Logs `shutting down` (with `signal`, when given) at once and `stopped` at the end, once
   * however many times it is called.
   */
  close(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * Opens the store in `dataDir` (unless in gateway-only mode) and starts the registry and gateway on one port.
 * @throws ConfigError when gateway-only mode has no remote repository to serve, or a file the configuration names cannot be used.
 * @throws RegistryConfigError when the registry would let anyone push on a non-loopback `host`
 *   (before anything listens), or when private repositories have no users.
 */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const logger = options.logger ?? pino({ name: 'ocidrop' });
  const runRegistry = options.registry ?? options.config?.registry ?? true;
  const access = await resolveServeAccess({
    host,
    dataDir: options.dataDir,
    registry: runRegistry,
    ...(options.config === undefined ? {} : { config: options.config }),
    ...(options.access === undefined ? {} : { flags: options.access }),
  });

  const store = runRegistry ? await FsStore.open(options.dataDir) : undefined;
  const metrics = new GatewayMetrics();
  const composed = await composeGateway({
    store,
    dataDir: options.dataDir,
    metrics,
    access,
    ...(options.config === undefined ? {} : { config: options.config }),
  });
  const gatewayOptions: GatewayOptions = { ...composed.gatewayOptions, logger };
  if (options.verifyBlobs !== undefined) gatewayOptions.verifyStoredBlobs = options.verifyBlobs;
  const gateway = createGatewayHandler(composed.source, gatewayOptions);
  const registryAccess = access.registry;
  const registry: RegistryHandler | undefined =
    store && registryAccess
      ? createRegistryHandler(store, {
          logger,
          readOnly: registryAccess.readOnly,
          ...(registryAccess.access === undefined ? {} : { access: registryAccess.access }),
        })
      : undefined;

  const server = createServer(
    { requestTimeout: 0, headersTimeout: 30_000, keepAliveTimeout: 5_000 },
    (req, res) => {
      logRequest(logger, req, res);
      // requestTimeout stays 0 so that large uploads on slow links are not cut; this bounds a drip instead.
      watchRequestBody(req, res, options.requestBody);
      const path = req.url ?? '/';
      const toRegistry = path === '/v2' || path.startsWith('/v2/') || path.startsWith('/v2?');
      const handler = toRegistry && registry ? registry : gateway;
      handler(req, res).catch((error: unknown) => {
        // Both handlers write their own error responses, so this catches only a bug in one of them.
        logger.error(
          { err: error, method: req.method, path: stripQuery(path) },
          'unhandled error in request handler',
        );
        if (!res.headersSent) {
          res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end('internal server error\n');
        } else {
          res.destroy();
        }
      });
    },
  );
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
  logger.info(
    {
      url: `http://${registryHost}`,
      dataDir: store ? options.dataDir : undefined,
      registry: store !== undefined,
      upstreams: composed.upstreams,
      signedLinks: composed.gatewayOptions.access?.signer !== undefined,
      loopback: isLoopbackAddress(address.address),
      users: access.users !== undefined,
      readOnly: registryAccess?.readOnly,
      tokenAuth: registryAccess?.access?.issueToken !== undefined || undefined,
    },
    'listening',
  );

  let closing: Promise<void> | undefined;
  const close = (signal?: NodeJS.Signals): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      logger.info(signal === undefined ? {} : { signal }, 'shutting down');
      const timer = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      timer.unref();
      server.close(() => {
        clearTimeout(timer);
        composed.close().then(
          () => {
            logger.info('stopped');
            resolve();
          },
          (error: unknown) => {
            logger.error({ err: error }, 'closing the upstream connections failed');
            resolve();
          },
        );
      });
      server.closeIdleConnections();
    });
    return closing;
  };
  return { url: `http://${registryHost}`, registryHost, server, store, metrics, close };
}

/**
 * Writes one access-log line when the response ends: `error` for 5xx, `info` otherwise. A request
 * that the client or a timeout ended early is logged at `info` with `aborted: true`, and with the
 * status only when the response had started, because no status was decided before that.
 */
function logRequest(logger: Logger, req: IncomingMessage, res: ServerResponse): void {
  const started = process.hrtime.bigint();
  // Handlers pass headers to writeHead, where getHeader cannot see them, so the socket counts the
  // bytes instead. Requests on one connection are answered in turn, so the difference is this response's.
  // The socket and its address are read now, because both may be gone once a failed request closes.
  const socket = req.socket;
  const remote = socket.remoteAddress;
  const bytesBefore = socket.bytesWritten;
  res.once('close', () => {
    const aborted = !res.writableFinished;
    const entry = {
      method: req.method,
      // The query is left out because signed links carry their signature there.
      path: stripQuery(req.url ?? '/'),
      status: aborted && !res.headersSent ? undefined : res.statusCode,
      // Status line and headers included.
      bytes: socket.bytesWritten - bytesBefore,
      ms: Number((process.hrtime.bigint() - started) / 1_000_000n),
      remote,
      aborted: aborted || undefined,
    };
    if (res.statusCode >= 500 && !aborted) logger.error(entry, 'request');
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
