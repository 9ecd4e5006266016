/**
 * Credentials from Docker's `config.json`, the file that `docker login` writes: the `auths` map
 * with either a base64 `auth` of `user:password`, separate `username` and `password`, or an
 * `identitytoken` (an OAuth2 refresh token for the token server). A registry named in
 * `credHelpers`, or every registry when `credsStore` is set, gets its credentials from the
 * `docker-credential-<name>` program instead. Podman's `auth.json` has the same format.
 */
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DOCKER_HUB, DOCKER_HUB_API_HOST } from '../oci/reference.js';
import { runCredentialHelper } from './credential-helper.js';
import { CredentialsError } from './errors.js';

/** Credentials of one registry host's entry in `config.json`. */
export interface Credentials {
  username?: string;
  password?: string;
  /** OAuth2 refresh token, sent to the token server instead of the password. */
  identityToken?: string;
}

/** The parts of `config.json` that hold or point to credentials. */
export interface DockerConfig {
  auths: Record<string, Credentials>;
  /** Credential helper per registry host, `docker-credential-<name>`. */
  credHelpers: Record<string, string>;
  /** Credential helper for every registry without an entry in `credHelpers`. */
  credsStore?: string;
}

/** Looks up the credentials for a registry host, such as `localhost:5000`. */
export type CredentialResolver = (host: string) => Promise<Credentials | undefined>;

// Docker keeps Docker Hub's credentials under its legacy index URL.
const DOCKER_HUB_KEYS = ['https://index.docker.io/v1/', 'index.docker.io', DOCKER_HUB, DOCKER_HUB_API_HOST];

/**
 * Returns the path of Docker's `config.json`: `$DOCKER_CONFIG/config.json`, else
 * `~/.docker/config.json`.
 */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const folder = env['DOCKER_CONFIG'] || join(homedir(), '.docker');
  return join(folder, 'config.json');
}

/**
 * Creates a resolver that reads `config.json` once, on the first lookup, so that a registry
 * that never requests credentials never causes a read.
 *
 * @param path the file to read; {@link dockerConfigPath} by default. A missing file means no credentials.
 * @throws CredentialsError (from the resolver) when the file is not valid JSON or an entry is malformed.
 */
export function dockerConfigResolver(path: string = dockerConfigPath()): CredentialResolver {
  let loaded: Promise<DockerConfig> | undefined;
  return async (host) => {
    loaded ??= loadDockerConfig(path);
    const config = await loaded;
    const helper = findHelper(config, host);
    if (helper !== undefined) {
      const fromHelper = await runCredentialHelper(helper, host);
      if (fromHelper !== undefined) return fromHelper;
    }
    return findCredentials(config.auths, host);
  };
}

/**
 * Returns the credential files to consult, in order: podman's `$REGISTRY_AUTH_FILE` when set,
 * Docker's `config.json` ({@link dockerConfigPath}), and podman's
 * `$XDG_RUNTIME_DIR/containers/auth.json` when `XDG_RUNTIME_DIR` is set. Podman's `auth.json`
 * has the same `auths` and `credHelpers` format as Docker's file.
 */
export function credentialFilePaths(env: NodeJS.ProcessEnv = process.env): string[] {
  const paths: string[] = [];
  if (env['REGISTRY_AUTH_FILE']) paths.push(env['REGISTRY_AUTH_FILE']);
  paths.push(dockerConfigPath(env));
  if (env['XDG_RUNTIME_DIR']) paths.push(join(env['XDG_RUNTIME_DIR'], 'containers', 'auth.json'));
  return paths;
}

/**
 * Creates the resolver the client uses by default: the first of {@link credentialFilePaths} that
 * has credentials for the host (through a credential helper or `auths`) provides them.
 */
export function defaultCredentialResolver(env: NodeJS.ProcessEnv = process.env): CredentialResolver {
  const resolvers = credentialFilePaths(env).map((path) => dockerConfigResolver(path));
  return async (host) => {
    for (const resolve of resolvers) {
      const credentials = await resolve(host);
      if (credentials !== undefined) return credentials;
    }
    return undefined;
  };
}

/**
 * Reads the credential parts of a Docker `config.json`; a missing file is an empty configuration.
 * @throws CredentialsError naming the file and the entry that is wrong.
 */
export async function loadDockerConfig(path: string): Promise<DockerConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { auths: {}, credHelpers: {} };
    throw new CredentialsError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  return parseDockerConfig(text, path);
}

/**
 * Parses the text of a Docker `config.json`.
 * @param source the file's path, for error messages.
 * @throws CredentialsError naming the source and the entry that is wrong.
 */
export function parseDockerConfig(text: string, source = 'config.json'): DockerConfig {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new CredentialsError(`invalid JSON in ${source}: ${(error as Error).message}`, { cause: error });
  }
  if (typeof body !== 'object' || body === null)
    throw new CredentialsError(`${source} must contain a JSON object`);
  const fields = body as Record<string, unknown>;

  const config: DockerConfig = { auths: {}, credHelpers: {} };
  const auths = fields['auths'];
  if (auths !== undefined) {
    if (typeof auths !== 'object' || auths === null)
      throw new CredentialsError(`"auths" in ${source} must be an object`);
    for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
      config.auths[key] = parseEntry(entry, key, source);
    }
  }
  const helpers = fields['credHelpers'];
  if (helpers !== undefined) {
    if (typeof helpers !== 'object' || helpers === null) {
      throw new CredentialsError(`"credHelpers" in ${source} must be an object`);
    }
    for (const [key, name] of Object.entries(helpers as Record<string, unknown>)) {
      if (typeof name !== 'string')
        throw new CredentialsError(`credHelpers[${JSON.stringify(key)}] in ${source} must be a string`);
      config.credHelpers[key] = name;
    }
  }
  if (typeof fields['credsStore'] === 'string' && fields['credsStore'] !== '')
    config.credsStore = fields['credsStore'];
  return config;
}

/** Returns the credential helper name for `host`: its `credHelpers` entry, else `credsStore`. */
export function findHelper(config: DockerConfig, host: string): string | undefined {
  const wanted = normalizeHost(host);
  for (const [key, name] of Object.entries(config.credHelpers)) {
    if (normalizeHost(key) === wanted) return name;
  }
  return config.credsStore;
}

/**
 * Picks the entry for `host` from parsed `auths`. Keys may be a bare host (`localhost:5000`) or a
 * URL (`https://localhost:5000/v1/`); only the host and port are compared.
 */
export function findCredentials(auths: Record<string, Credentials>, host: string): Credentials | undefined {
  const wanted = normalizeHost(host);
  const hubWanted = wanted === DOCKER_HUB || wanted === DOCKER_HUB_API_HOST || wanted === 'index.docker.io';
  for (const [key, credentials] of Object.entries(auths)) {
    const keyHost = normalizeHost(key);
    if (keyHost === wanted) return credentials;
    if (hubWanted && DOCKER_HUB_KEYS.some((hubKey) => normalizeHost(hubKey) === keyHost)) return credentials;
  }
  return undefined;
}

function parseEntry(entry: unknown, key: string, source: string): Credentials {
  if (typeof entry !== 'object' || entry === null) {
    throw new CredentialsError(`auths[${JSON.stringify(key)}] in ${source} must be an object`);
  }
  const fields = entry as Record<string, unknown>;
  const credentials: Credentials = {};

  if (typeof fields['auth'] === 'string' && fields['auth'] !== '') {
    const decoded = Buffer.from(fields['auth'], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      throw new CredentialsError(
        `auths[${JSON.stringify(key)}].auth in ${source} must be base64 of "user:password"; run docker login again`,
      );
    }
    credentials.username = decoded.slice(0, colon);
    credentials.password = decoded.slice(colon + 1);
  }
  if (typeof fields['username'] === 'string' && fields['username'] !== '')
    credentials.username = fields['username'];
  if (typeof fields['password'] === 'string' && fields['password'] !== '')
    credentials.password = fields['password'];
  if (typeof fields['identitytoken'] === 'string' && fields['identitytoken'] !== '') {
    credentials.identityToken = fields['identitytoken'];
  }
  return credentials;
}

function normalizeHost(key: string): string {
  let host = key.trim().toLowerCase();
  host = host.replace(/^[a-z][a-z0-9+.-]*:\/\//, '');
  const slash = host.indexOf('/');
  if (slash >= 0) host = host.slice(0, slash);
  return host;
}
