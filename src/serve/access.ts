/**
 * One access model for `ocidrop serve`: the embedded registry at `/v2/` and the download gateway
 * share one user store (an htpasswd file) and one decision of whether anyone may pull a repository.
 * The registry's `registry:` section and the gateway's private repositories both feed that answer,
 * and command-line flags override the configuration file.
 */
import type { PasswordCheck } from '../gateway/access.js';
import {
  type PrivateRepositories,
  type RegistryConfig,
  type ResolvedRegistryAccess,
  resolveRegistryAccess,
} from '../registry/config.js';
import { loadHtpasswd } from '../registry/htpasswd.js';
import { EMBEDDED, type RepositoryConfig, type ServeConfig } from './config.js';

/** Access settings given on the command line; each one set here wins over the configuration file. */
export interface AccessFlags {
  /** htpasswd file of the users, relative to the working folder (`--htpasswd`). */
  htpasswd?: string;
  /** Reject every push and delete (`--read-only`). */
  readOnly?: boolean;
  /** Let anyone push and delete on a non-loopback address (`--allow-anonymous-push`). */
  allowAnonymousPush?: boolean;
  /** Authenticate with the Docker token flow instead of HTTP Basic (`--token-auth`). */
  tokenAuth?: boolean;
}

/** Inputs of {@link resolveServeAccess}. */
export interface ServeAccessInput {
  config?: ServeConfig;
  flags?: AccessFlags;
  /** The address the server will listen on, which the loopback rule checks. */
  host: string;
  /** The data folder, where the token signing key is kept. */
  dataDir: string;
  /** Whether the embedded registry runs; false in gateway-only mode. */
  registry: boolean;
}

/** The access settings both halves of the server use. */
export interface ServeAccess {
  /** The embedded registry's access; undefined in gateway-only mode. */
  registry: ResolvedRegistryAccess | undefined;
  /** The users of the one htpasswd file, if one is named. */
  users: PasswordCheck | undefined;
  /** Tells whether the gateway keeps a public name private: open only to users and signed links. */
  isPrivate(name: string): boolean;
}

/**
 * Merges the flags into the configuration's registry section, applies the listen-address rule
 * with `resolveRegistryAccess` and builds the gateway's notion of a private repository from the
 * same function that decides anonymous pulls on `/v2/`.
 * @throws RegistryConfigError when the registry would be open on a non-loopback address, or when
 *   a private repository or a setting that restricts access has no users to open it to.
 * @throws HtpasswdError when the htpasswd file cannot be read or has an unsupported entry.
 */
export async function resolveServeAccess(input: ServeAccessInput): Promise<ServeAccess> {
  const { config, flags = {} } = input;
  const section = registrySection(config, flags);
  const listed = new Map((config?.repositories ?? []).map((entry) => [entry.name, entry]));

  if (!input.registry) {
    // Gateway-only mode: no /v2/, so the repositories' own `private` flags are the whole rule.
    const users = section.htpasswd === undefined ? undefined : await loadHtpasswd(section.htpasswd);
    return { registry: undefined, users, isPrivate: (name) => listed.get(name)?.private ?? false };
  }

  const registry = await resolveRegistryAccess(section, {
    listenHost: input.host,
    dataDir: input.dataDir,
    privateRepositories: embeddedPrivacy(config),
  });
  const isPrivate = (name: string): boolean => {
    const entry = listed.get(name);
    if (entry !== undefined && entry.registry !== EMBEDDED) return entry.private;
    // A listed embedded name, or an unlisted one that `embedded.expose: all` serves from the store.
    return !registry.isAnonymousPull(entry?.repository ?? name);
  };
  return { registry, users: registry.users, isPrivate };
}

/**
 * Returns the embedded repositories that the gateway's settings keep private: a listed embedded
 * repository by its `private` flag, any other one by `embedded.private`. A listed repository's
 * setting also covers the repositories below its name, like every prefix rule of the registry.
 */
export function embeddedPrivacy(config: ServeConfig | undefined): PrivateRepositories {
  const entries = (config?.repositories ?? []).filter((entry) => entry.registry === EMBEDDED);
  const fallback = config?.embeddedPrivate ?? false;
  return {
    prefixes: entries.map((entry) => entry.repository),
    isPrivate(repository) {
      const covering = longestCovering(entries, repository);
      // Two public names for one repository: it is private if either of them is.
      return covering.length === 0 ? fallback : covering.some((entry) => entry.private);
    },
  };
}

/** Builds the registry section that applies: the configuration's, with the flags on top. */
function registrySection(config: ServeConfig | undefined, flags: AccessFlags): RegistryConfig {
  const section: RegistryConfig = { ...config?.registryAccess };
  const htpasswd = flags.htpasswd ?? config?.htpasswd;
  if (htpasswd !== undefined) section.htpasswd = htpasswd;
  if (flags.readOnly) section.readOnly = true;
  if (flags.allowAnonymousPush) section.allowAnonymousPush = true;
  // The flag keeps the file's token settings (realm, service, lifetime) when there are some.
  if (flags.tokenAuth && (section.token === undefined || section.token === false)) section.token = true;
  return section;
}

function longestCovering(entries: RepositoryConfig[], repository: string): RepositoryConfig[] {
  const covering = entries.filter(
    (entry) => repository === entry.repository || repository.startsWith(`${entry.repository}/`),
  );
  const longest = Math.max(0, ...covering.map((entry) => entry.repository.length));
  return covering.filter((entry) => entry.repository.length === longest);
}
