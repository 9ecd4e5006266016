/**
 * Builds the gateway's content source and options from a configuration. The source maps public
 * names onto one source per registry (the embedded store and each remote registry). The options
 * carry the private names, the users, the signing keys and the caches. The embedded registry gets
 * an access policy that matches.
 */

import type { ContentSource } from '../content/source.js';
import type { GatewayOptions } from '../gateway/handler.js';
import { type GatewayMetrics, timedSource } from '../gateway/metrics.js';
import { type Mount, MountedSource } from '../gateway/mounts.js';
import { LinkSigner, type SigningKey } from '../gateway/signing.js';
import type { AccessPolicy } from '../registry/access.js';
import { loadHtpasswd } from '../registry/htpasswd.js';
import { type AccessRule, createAccessPolicy } from '../registry/policy.js';
import type { FsStore } from '../storage/fs-store.js';
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
}

/** The parts the server runs the gateway and the registry with. */
export interface ComposedGateway {
  source: ContentSource;
  gatewayOptions: GatewayOptions;
  /** The embedded registry's access policy; undefined when the configuration names no users. */
  registryAccess: AccessPolicy | undefined;
  /** Names of the remote registries in use, for the start-up log. */
  upstreams: string[];
  /** Closes the connections to remote registries. */
  close(): Promise<void>;
}

/**
 * Connects the configured registries and builds the gateway's source and options.
 * @throws ConfigError when gateway-only mode has nothing to serve; HtpasswdError for an unusable htpasswd file.
 */
export async function composeGateway(input: ComposeInput): Promise<ComposedGateway> {
  const { store, config, metrics } = input;
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
  const embeddedPrivate = config?.embeddedPrivate ?? false;
  const isPrivate = (name: string): boolean => listed.get(name)?.private ?? embeddedPrivate;

  const users = config?.htpasswd === undefined ? undefined : await loadHtpasswd(config.htpasswd);
  const keys = await signingKeysFor(config, store ? input.dataDir : undefined);

  const gatewayOptions: GatewayOptions = {
    metrics,
    channel: config?.channel ?? 'stable',
    access: {
      isPrivate,
      ...(users === undefined ? {} : { users }),
      ...(keys.length === 0 ? {} : { signer: new LinkSigner(keys) }),
    },
    redirectToStorage: config?.redirectToStorage ?? false,
    cache: {
      tagTtlMs: (config?.cache.tagTtlSeconds ?? 0) * 1000,
      ...(config?.cache.manifestBytes === undefined ? {} : { maxBytes: config.cache.manifestBytes }),
    },
  };
  if (config?.publicUrl !== undefined) gatewayOptions.publicUrl = config.publicUrl;
  if (config?.cache.blobDir !== undefined && config.cache.blobBytes !== undefined) {
    gatewayOptions.blobCache = { dir: config.cache.blobDir, maxBytes: config.cache.blobBytes };
  }

  let registryAccess: AccessPolicy | undefined;
  if (users !== undefined && config !== undefined) {
    registryAccess = createAccessPolicy({ users, rules: registryRules(config) });
  }

  return {
    source: new MountedSource(mounts, fallback),
    gatewayOptions,
    registryAccess,
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

/**
 * Rules of the embedded registry that match the gateway: pulling a private or unexposed repository
 * needs a user; pushing and deleting always do.
 */
function registryRules(config: ServeConfig): AccessRule[] {
  const openByDefault = config.embeddedExpose === 'all' && !config.embeddedPrivate;
  const rules: AccessRule[] = [
    {
      prefix: '',
      pull: openByDefault ? '*' : 'authenticated',
      push: 'authenticated',
      delete: 'authenticated',
    },
  ];
  for (const entry of config.repositories) {
    if (entry.registry !== EMBEDDED) continue;
    // NOTE: a rule's prefix also covers the repositories below it (`team` covers `team/app`), so a
    // public repository listed here opens the unlisted repositories nested under its name too.
    rules.push({
      prefix: entry.repository,
      pull: entry.private ? 'authenticated' : '*',
      push: 'authenticated',
      delete: 'authenticated',
    });
  }
  return rules;
}
