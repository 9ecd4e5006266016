/**
 * Options shared by the push, pull and url operations, and the helper that gives each of them a
 * {@link RegistryClient} for a reference's registry.
 */
import { parseReference, type Reference } from '../oci/reference.js';
import type { CredentialResolver } from './credentials.js';
import { RegistryClient, type RegistryClientOptions } from './registry-client.js';
import type { ArtifactStore } from './store.js';

/** Connection settings of the push, pull and url operations. */
export interface ConnectOptions {
  /**
   * A client or an OCI image layout to use instead of the reference's registry; the caller closes
   * it. When unset, a client for the reference's registry is created and closed.
   */
  client?: ArtifactStore;
  /** Speak plain HTTP. @default true for loopback hosts only */
  plainHttp?: boolean;
  /** @default Docker's `config.json` */
  credentials?: CredentialResolver;
  /** Accept any TLS certificate. @default false */
  insecure?: boolean;
  /** PEM certificates of extra certificate authorities to trust. */
  ca?: string | Buffer;
}

/** Parses `reference` when it is a string; `defaultTag` fills in a missing tag and digest. */
export function toReference(reference: string | Reference, defaultTag?: string): Reference {
  if (typeof reference !== 'string') return reference;
  return parseReference(reference, defaultTag === undefined ? {} : { defaultTag });
}

/** Runs `action` with the given client, or with a new one for the reference's registry that is closed afterwards. */
export async function withClient<T>(
  reference: Reference,
  options: ConnectOptions,
  action: (client: ArtifactStore) => Promise<T>,
): Promise<T> {
  if (options.client !== undefined) return action(options.client);
  const client = new RegistryClient(reference.apiHost, clientOptions(options));
  try {
    return await action(client);
  } finally {
    await client.close();
  }
}

/** Returns the {@link RegistryClient} options that `options` set. */
export function clientOptions(options: ConnectOptions): RegistryClientOptions {
  return {
    ...(options.plainHttp === undefined ? {} : { plainHttp: options.plainHttp }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    ...(options.insecure ? { insecure: true } : {}),
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  };
}
