/**
 * Builds the gateway's content source and options from a configuration. The source maps public
 * names onto one source per registry (the embedded store and each remote registry). The options
 * carry the private names, the users, the signing keys and the caches, which the server resolves
 * once for both the gateway and the embedded registry (see access.ts).
 */

import type { ContentSource } from '../content/source.js';
import type { GatewayOptions } from '../gateway/handler.js';
import { type GatewayMetrics, timedSource } from '../gateway/metrics.js';
import { type Mount, MountedSource } from '../gateway/mounts.js';
import { LinkSigner, type SigningKey } from '../gateway/signing.js';
import type { FsStore } from '../storage/fs-store.js';
import type { ServeAccess } from './access.js';
import { ConfigError, EMBEDDED, type ServeConfig } from './config.js';
import { loadOrCreateLinkKey } from './keys.js';
import { connectUpstream, type Upstream } from './upstream.js';

/** Inputs of {@link composeGateway}. */
export interface ComposeInput {
  /** The embedded store; undefined in gateway-only mode. */
  store: FsStore | undefined;
  dataDir: string;
  metrics: GatewayMetrics;
  config?: ServeConfig;
  /** The users and private names, shared with the embedded registry. */
  access: Pick<ServeAccess, 'users' | 'isPrivate'>;
}

/** The parts the server runs the gateway and the registry with. */
export interface ComposedGateway {
  source: ContentSource;
  gatewayOptions: GatewayOptions;
  /** Names of the remote registries in use, for the start-up log. */
  upstreams: string[];
  /** Closes the connections to remote registries. */
  close(): Promise<void>;
}

/**
 * Connects the configured registries and builds the gateway's source and options.
 * @throws ConfigError when gateway-only mode has nothing to serve.
 */
export async function composeGateway(input: ComposeInput): Promise<ComposedGateway> {
  const { store, config, metrics, access } = input;
  if (store === undefined && (config === undefined || config.registries.length === 0)) {
    throw new ConfigError(
      'the gateway runs without the embedded registry (--no-registry or registry: false) but no remote registry is configured: pass --config with registries and repositories',
    );
  }

  const upstreams: Upstream[] = (config?.registries ?? []).map(connectUpstream);
  const sources = new Map<string, ContentSource>();
  if (store) sources.set(EMBEDDED, timedSource(store, metrics, EMBEDDED));
  for (const upstream of upstreams)
    sources.set(upstream.name, timedSource(upstream.source, metrics, upstream.name));

  const listed = new Map((config?.repositories ?? []).map((entry) => [entry.name, entry]));
  const mounts: Mount[] = [...listed.values()].flatMap((entry) => {
    const source = sources.get(entry.registry);
    // The configuration check guarantees the registry exists, except the embedded one in gateway-only mode.
    return source ? [{ name: entry.name, source, repository: entry.repository }] : [];
  });
  const exposeAll = (config?.embeddedExpose ?? 'all') === 'all';
  const fallback = store && exposeAll ? sources.get(EMBEDDED) : undefined;
  const users = access.users;
  const keys = await signingKeysFor(config, store ? input.dataDir : undefined);

  const gatewayOptions: GatewayOptions = {
    metrics,
    channel: config?.channel ?? 'stable',
    access: {
      isPrivate: access.isPrivate,
      ...(users === undefined ? {} : { users }),
      ...(keys.length === 0 ? {} : { signer: new LinkSigner(keys) }),
    },
    redirectToStorage: config?.redirectToStorage ?? false,
    verifyStoredBlobs: config?.verifyBlobs ?? false,
    cache: {
      tagTtlMs: (config?.cache.tagTtlSeconds ?? 0) * 1000,
      ...(config?.cache.manifestBytes === undefined ? {} : { maxBytes: config.cache.manifestBytes }),
    },
  };
  if (config?.publicUrl !== undefined) gatewayOptions.publicUrl = config.publicUrl;
  if (config?.cache.blobDir !== undefined && config.cache.blobBytes !== undefined) {
    gatewayOptions.blobCache = { dir: config.cache.blobDir, maxBytes: config.cache.blobBytes };
  }

  return {
    source: new MountedSource(mounts, fallback),
    gatewayOptions,
    upstreams: upstreams.map((upstream) => upstream.name),
    async close() {
      await Promise.all(upstreams.map((upstream) => upstream.close()));
    },
  };
}

/**
 * Returns the signing keys: the configuration's, else (with a data folder) the key kept in it,
 * created at first use. Gateway-only mode without configured keys has none, because replicas
 * behind a load balancer must share their keys.
 */
export async function signingKeysFor(
  config: ServeConfig | undefined,
  dataDir: string | undefined,
): Promise<SigningKey[]> {
  if (config !== undefined && config.signingKeys.length > 0) return config.signingKeys;
  if (dataDir === undefined) return [];
  return [await loadOrCreateLinkKey(dataDir)];
}
