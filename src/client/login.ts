/**
 * `login` and `logout`: check credentials against a registry and keep them where `docker login`
 * does: through the credential helper that `config.json` names for the registry (`credHelpers`
 * or `credsStore`), else in the `auths` map of `config.json`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DOCKER_HUB, DOCKER_HUB_API_HOST } from '../oci/reference.js';
import { updateCredentialHelper } from './credential-helper.js';
import { type Credentials, dockerConfigPath, findHelper, loadDockerConfig } from './credentials.js';
import { AuthenticationError, CredentialsError, RegistryResponseError } from './errors.js';
import { RegistryClient } from './registry-client.js';

// Docker keeps Docker Hub's entry under its legacy index URL, so ocidrop writes it there too.
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

/** Options of {@link login} and {@link logout}. */
export interface LoginOptions {
  /** @default {@link dockerConfigPath} */
  configPath?: string;
  /** Speak plain HTTP. @default true for loopback hosts only */
  plainHttp?: boolean;
  /** Accept any TLS certificate. @default false */
  insecure?: boolean;
  /** PEM certificates of extra certificate authorities to trust. */
  ca?: string | Buffer;
}

/**
 * Checks `username` and `password` against `registry` (`GET /v2/` with the authentication it
 * requests) and stores them base64-encoded in `config.json`, keeping every other entry.
 * Returns the path of the file written.
 *
 * When `credHelpers` or `credsStore` names a helper for the registry, the credentials go to
 * `docker-credential-<name> store` instead and `config.json` is left as it is.
 * @throws AuthenticationError when the registry rejects the credentials; nothing is written then.
 */
export async function login(
  registry: string,
  username: string,
  password: string,
  options: LoginOptions = {},
): Promise<string> {
  if (username === '' || password === '')
    throw new AuthenticationError('login needs a user name and a password');
  const credentials: Credentials = { username, password };
  const client = new RegistryClient(apiHost(registry), {
    credentials: async () => credentials,
    ...(options.plainHttp === undefined ? {} : { plainHttp: options.plainHttp }),
    ...(options.insecure ? { insecure: true } : {}),
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  });
  try {
    await client.ping();
  } catch (error) {
    if (error instanceof RegistryResponseError && error.status === 401) {
      throw new AuthenticationError(
        `login to ${registry} failed: the registry rejected user ${JSON.stringify(username)}`,
        {
          cause: error,
        },
      );
    }
    throw error;
  } finally {
    await client.close();
  }

  const path = options.configPath ?? dockerConfigPath();
  const helper = findHelper(await loadDockerConfig(path), configKey(registry));
  if (helper !== undefined) {
    await updateCredentialHelper(helper, configKey(registry), { username, password });
    return path;
  }
  const config = await readConfigObject(path);
  if (typeof config['auths'] !== 'object' || config['auths'] === null) config['auths'] = {};
  const auths = config['auths'] as Record<string, unknown>;
  auths[configKey(registry)] = { auth: Buffer.from(`${username}:${password}`, 'utf8').toString('base64') };
  await writeConfigObject(path, config);
  return path;
}

/**
 * Removes the credentials of `registry`: through its credential helper's `erase` when one is
 * configured, and its `auths` entry in `config.json`. Returns false when there was no `auths` entry.
 */
export async function logout(registry: string, options: LoginOptions = {}): Promise<boolean> {
  const path = options.configPath ?? dockerConfigPath();
  const helper = findHelper(await loadDockerConfig(path), configKey(registry));
  if (helper !== undefined) await updateCredentialHelper(helper, configKey(registry), undefined);
  const config = await readConfigObject(path);
  const auths = config['auths'] as Record<string, unknown> | undefined;
  const key = configKey(registry);
  if (auths === undefined || !(key in auths)) return false;
  delete auths[key];
  await writeConfigObject(path, config);
  return true;
}

function configKey(registry: string): string {
  return registry === DOCKER_HUB || registry === DOCKER_HUB_API_HOST ? DOCKER_HUB_KEY : registry;
}

function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
}

async function readConfigObject(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CredentialsError(`cannot read ${path}: ${(error as Error).message}`, { cause: error });
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new CredentialsError(`invalid JSON in ${path}: fix or remove the file`, { cause: error });
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new CredentialsError(`${path} must contain a JSON object`);
  }
  return body as Record<string, unknown>;
}

// Writes the file atomically with owner-only permissions, because it contains passwords.
async function writeConfigObject(path: string, config: Record<string, unknown>): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(config, null, '\t')}\n`);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temporary, path);
}
