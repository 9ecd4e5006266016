/**
 * Clients of the remote registries a configuration names. Each one sends through an undici
 * dispatcher that rejects every origin except the registry's own and its `allowHosts`. So neither a
 * redirect, a token realm nor anything else in a response can make the gateway contact another host.
 */
import { Agent, type Dispatcher } from 'undici';
import { RegistryClient } from '../client/registry-client.js';
import { RemoteSource } from '../client/remote-source.js';
import { OcidropError } from '../oci/errors.js';
import type { RemoteRegistryConfig } from './config.js';

/** A request to a host that the configuration does not name. */
export class HostNotAllowedError extends OcidropError {
  override name = 'HostNotAllowedError';
  constructor(origin: string, registry: string) {
    super(
      'ERR_HOST_NOT_ALLOWED',
      `refused to contact ${origin} for registry ${registry}: add its host to registries[].allowHosts if the registry really sends clients there`,
    );
  }
}

/** A remote registry's content source and what must be closed with it. */
export interface Upstream {
  name: string;
  source: RemoteSource;
  close(): Promise<void>;
}

/** Retries of one upstream request; a visitor waits for them, so fewer than the CLI's. */
const UPSTREAM_RETRIES = 1;

/** Seconds to wait for a remote registry's response headers, unless the configuration sets `headersTimeoutSeconds`. */
export const DEFAULT_UPSTREAM_HEADERS_TIMEOUT_SECONDS = 10;

/** Seconds to wait between two body chunks, unless the configuration sets `bodyTimeoutSeconds`. */
export const DEFAULT_UPSTREAM_BODY_TIMEOUT_SECONDS = 30;

/** Creates the client and source of one configured registry. */
export function connectUpstream(config: RemoteRegistryConfig): Upstream {
  // undici waits 300 s by default, and a visitor of a hung registry would wait as long. A timeout
  // fails the request with a connection error, which the gateway answers with a 504 page.
  const agent = new Agent({
    keepAliveTimeout: 10_000,
    connections: 32,
    headersTimeout: (config.headersTimeoutSeconds ?? DEFAULT_UPSTREAM_HEADERS_TIMEOUT_SECONDS) * 1000,
    bodyTimeout: (config.bodyTimeoutSeconds ?? DEFAULT_UPSTREAM_BODY_TIMEOUT_SECONDS) * 1000,
  });
  const dispatcher = agent.compose(allowOnly(config));
  const host = config.url.host;
  const credentials =
    config.username !== undefined && config.password !== undefined
      ? { username: config.username, password: config.password }
      : undefined;
  const client = new RegistryClient(host, {
    plainHttp: config.url.protocol === 'http:',
    dispatcher,
    retries: UPSTREAM_RETRIES,
    // Only the configured credentials, and only for the configured host: never Docker's config.json.
    credentials: async (asked) => (asked === host ? credentials : undefined),
  });
  return {
    name: config.name,
    source: new RemoteSource(client),
    async close() {
      await client.close();
      await agent.close();
    },
  };
}

/** Tells whether `origin` is the registry's origin or one of its `allowHosts`. */
export function isAllowedOrigin(config: RemoteRegistryConfig, origin: URL): boolean {
  const port = origin.port || (origin.protocol === 'https:' ? '443' : '80');
  const registryPort = config.url.port || (config.url.protocol === 'https:' ? '443' : '80');
  if (
    origin.hostname === config.url.hostname &&
    port === registryPort &&
    origin.protocol === config.url.protocol
  ) {
    return true;
  }
  return config.allowHosts.some((allowed) => {
    const match = /^(.*?)(?::(\d+))?$/.exec(allowed)!;
    return match[1] === origin.hostname && (match[2] === undefined || match[2] === port);
  });
}

function allowOnly(config: RemoteRegistryConfig): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (options, handler) => {
    const origin = new URL(String(options.origin));
    // Thrown before anything is sent; undici rejects the request with it.
    if (!isAllowedOrigin(config, origin)) throw new HostNotAllowedError(origin.origin, config.name);
    return dispatch(options, handler);
  };
}
