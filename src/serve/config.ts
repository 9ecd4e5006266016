/**
 * The configuration file of `ocidrop serve` (YAML or JSON; JSON is read as YAML 1.2, of which it is
 * a subset). It names the remote registries the gateway may contact and the credentials it uses
 * for them. It lists the repositories exposed under public names and marks the private ones. It
 * also sets the signing keys of shared links, the public base URL, the caches, whether the
 * embedded registry runs and who may pull, push and delete in it.
 * Every field is checked at start; an error names the file, the field and the fix. docs/GATEWAY.md
 * documents every field.
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { KEY_ID, MIN_SECRET_BYTES, type SigningKey } from '../gateway/signing.js';
import { OcidropError } from '../oci/errors.js';
import { isRepositoryName } from '../oci/reference.js';
import { parseRegistryConfig, type RegistryConfig, RegistryConfigError } from '../registry/config.js';

/** The registry name that means the embedded registry in `repositories[].registry`. */
export const EMBEDDED = 'embedded';

/** A configuration that cannot be used. */
export class ConfigError extends OcidropError {
  override name = 'ConfigError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_CONFIG', message, options);
  }
}

/** A remote registry with the credentials the gateway holds for it. */
export interface RemoteRegistryConfig {
  /** Name that `repositories[].registry` refers to. */
  name: string;
  /** `https://host[:port]` or `http://host[:port]`. */
  url: URL;
  username?: string;
  /** Read from `passwordEnv` or `passwordFile`; never from the file itself. */
  password?: string;
  /** Other hosts (`host[:port]`) the registry may send the gateway to: its token server and blob storage. */
  allowHosts: string[];
  /** Seconds to wait for a response's headers before the visitor gets a 504. @default 10 */
  headersTimeoutSeconds?: number;
  /** Seconds to wait between two chunks of a response body before the transfer is cut. @default 30 */
  bodyTimeoutSeconds?: number;
}

/** A repository exposed by the gateway. */
export interface RepositoryConfig {
  /** The public name in gateway URLs. */
  name: string;
  /** `embedded` or the name of a remote registry. */
  registry: string;
  /** The repository's name in that registry. */
  repository: string;
  private: boolean;
}

/** A checked configuration with its secrets read. */
export interface ServeConfig {
  /** The file it came from, for messages. */
  path: string;
  publicUrl?: string;
  /** Run the embedded registry at `/v2/`. */
  registry: boolean;
  /**
   * The embedded registry's `registry:` section, as `parseRegistryConfig` validated it, without
   * `htpasswd` (the users come from {@link ServeConfig.htpasswd}). Empty for `true` or no key.
   */
  registryAccess: RegistryConfig;
  channel: 'stable' | 'prerelease';
  /**
   * htpasswd file of the one user store: its users open private repositories through the gateway
   * and pull, push and delete in the embedded registry as the `registry.rules` grant.
   */
  htpasswd?: string;
  /** Signing keys, the first one signing. Empty when the file names none. */
  signingKeys: SigningKey[];
  /** The embedded repositories exposed besides the listed ones: all of them, or none. */
  embeddedExpose: 'all' | 'listed';
  /** Whether the embedded repositories exposed by `embedded.expose: all` are private. */
  embeddedPrivate: boolean;
  registries: RemoteRegistryConfig[];
  repositories: RepositoryConfig[];
  cache: {
    tagTtlSeconds: number;
    manifestBytes?: number;
    blobDir?: string;
    blobBytes?: number;
  };
  redirectToStorage: boolean;
  /** Hash every download of a blob of the embedded store, to catch files changed on disk. */
  verifyBlobs: boolean;
}

const TOP_LEVEL = [
  'publicUrl',
  'registry',
  'channel',
  'users',
  'signing',
  'embedded',
  'registries',
  'repositories',
  'cache',
  'redirectToStorage',
  'verifyBlobs',
];

/**
 * Reads, checks and resolves a configuration file. Relative paths in it are relative to its folder.
 * @throws ConfigError naming the file, the field and the fix.
 */
export async function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Promise<ServeConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config file ${path}: ${(error as Error).message}`, { cause: error });
  }
  let data: unknown;
  try {
    data = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (error) {
    const detail = error instanceof YAMLParseError ? error.message : String(error);
    throw new ConfigError(`${path} is not valid YAML or JSON: ${detail}`, { cause: error });
  }
  return checkConfig(data, { path, env, readSecretFile: (file) => readFile(file, 'utf8') });
}

/** The inputs of {@link checkConfig} besides the parsed data. */
export interface CheckContext {
  path: string;
  env: NodeJS.ProcessEnv;
  readSecretFile(path: string): Promise<string>;
}

/**
 * Checks parsed configuration data and reads the secrets it points to.
 * @throws ConfigError naming the field and the fix.
 */
export async function checkConfig(data: unknown, context: CheckContext): Promise<ServeConfig> {
  const fields = new Fields(context);
  const root = data === null || data === undefined ? {} : fields.object(data, '');
  fields.known(root, '', TOP_LEVEL);
  const folder = dirname(resolve(context.path));
  const file = (value: string): string => (isAbsolute(value) ? value : resolve(folder, value));

  const publicUrl = optional(root, 'publicUrl', (value) => fields.url(value, 'publicUrl', true));
  const registryAccess = readRegistrySection(root['registry'], fields);
  const registry = root['registry'] !== false;
  const channel =
    optional(root, 'channel', (value) =>
      fields.choice(value, 'channel', ['stable', 'prerelease'] as const),
    ) ?? 'stable';

  const users = optional(root, 'users', (value) => fields.object(value, 'users')) ?? {};
  fields.known(users, 'users', ['htpasswd']);
  const htpasswd = optional(users, 'htpasswd', (value) => file(fields.string(value, 'users.htpasswd')));

  const signingKeys = await readSigningKeys(root, fields, file);

  const embedded = optional(root, 'embedded', (value) => fields.object(value, 'embedded')) ?? {};
  fields.known(embedded, 'embedded', ['expose', 'private']);
  const embeddedExpose =
    optional(embedded, 'expose', (value) =>
      fields.choice(value, 'embedded.expose', ['all', 'listed'] as const),
    ) ?? 'all';
  const embeddedPrivate =
    optional(embedded, 'private', (value) => fields.boolean(value, 'embedded.private')) ?? false;

  const registries = await readRegistries(root, fields, file);
  const repositories = readRepositories(root, fields, registries, registry);

  const cacheData = optional(root, 'cache', (value) => fields.object(value, 'cache')) ?? {};
  fields.known(cacheData, 'cache', ['tagTtlSeconds', 'manifestBytes', 'blobDir', 'blobBytes']);
  const cache: ServeConfig['cache'] = {
    tagTtlSeconds:
      optional(cacheData, 'tagTtlSeconds', (value) =>
        fields.integer(value, 'cache.tagTtlSeconds', 0, 86_400),
      ) ?? (registries.length > 0 ? 30 : 0),
  };
  const manifestBytes = optional(cacheData, 'manifestBytes', (value) =>
    fields.integer(value, 'cache.manifestBytes', 1024, Number.MAX_SAFE_INTEGER),
  );
  if (manifestBytes !== undefined) cache.manifestBytes = manifestBytes;
  const blobDir = optional(cacheData, 'blobDir', (value) => file(fields.string(value, 'cache.blobDir')));
  const blobBytes = optional(cacheData, 'blobBytes', (value) =>
    fields.integer(value, 'cache.blobBytes', 1024 * 1024, Number.MAX_SAFE_INTEGER),
  );
  if ((blobDir === undefined) !== (blobBytes === undefined)) {
    throw fields.error(
      blobDir === undefined ? 'cache.blobBytes' : 'cache.blobDir',
      'cache.blobDir and cache.blobBytes go together: set both to cache blobs on disk, or neither',
    );
  }
  if (blobDir !== undefined) cache.blobDir = blobDir;
  if (blobBytes !== undefined) cache.blobBytes = blobBytes;

  const redirectToStorage =
    optional(root, 'redirectToStorage', (value) => fields.boolean(value, 'redirectToStorage')) ?? false;

  const verifyBlobs = optional(root, 'verifyBlobs', (value) => fields.boolean(value, 'verifyBlobs')) ?? false;

  if (!registry && repositories.length === 0) {
    throw fields.error(
      'registry',
      'the embedded registry is off and no repository is listed, so the gateway would serve nothing: list repositories of a remote registry',
    );
  }

  const config: ServeConfig = {
    path: context.path,
    registry,
    registryAccess,
    channel,
    signingKeys,
    embeddedExpose,
    embeddedPrivate,
    registries,
    repositories,
    cache,
    redirectToStorage,
    verifyBlobs,
  };
  if (publicUrl !== undefined) config.publicUrl = publicUrl;
  if (htpasswd !== undefined) config.htpasswd = htpasswd;
  return config;
}

/**
 * Reads the `registry` key: `false` (gateway-only mode), `true` or absent (the embedded registry
 * with defaults), or the registry's section. Private repositories and users are checked at start,
 * when the command-line flags are known too.
 */
function readRegistrySection(value: unknown, fields: Fields): RegistryConfig {
  if (value === undefined || value === null || value === true || value === false) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw fields.error(
      'registry',
      `expected true, false or a mapping of the registry's settings, got ${describe(value)}`,
    );
  }
  const section = value as Record<string, unknown>;
  if (section['htpasswd'] !== undefined) {
    throw fields.error(
      'registry.htpasswd',
      'the registry and the gateway share one user store: move the file to the top-level users.htpasswd',
    );
  }
  try {
    return parseRegistryConfig(section);
  } catch (error) {
    if (error instanceof RegistryConfigError) throw fields.error('', error.message);
    throw error;
  }
}

async function readSigningKeys(
  root: Record<string, unknown>,
  fields: Fields,
  file: (value: string) => string,
): Promise<SigningKey[]> {
  const signing = optional(root, 'signing', (value) => fields.object(value, 'signing')) ?? {};
  fields.known(signing, 'signing', ['keys']);
  const entries = optional(signing, 'keys', (value) => fields.array(value, 'signing.keys')) ?? [];
  const keys: SigningKey[] = [];
  for (const [i, entry] of entries.entries()) {
    const at = `signing.keys[${i}]`;
    const key = fields.object(entry, at);
    fields.known(key, at, ['id', 'secretEnv', 'secretFile']);
    const id = fields.string(required(key, 'id', fields, at), `${at}.id`);
    if (!KEY_ID.test(id))
      throw fields.error(
        `${at}.id`,
        `invalid key id ${JSON.stringify(id)}: use 1 to 64 letters, digits, ".", "_" or "-"`,
      );
    if (keys.some((other) => other.id === id))
      throw fields.error(`${at}.id`, `key id ${JSON.stringify(id)} appears twice: give each key its own id`);
    const secret = await fields.secret(key, at, 'secret', file);
    if (secret === undefined)
      throw fields.error(at, "set secretEnv or secretFile to where the key's secret is kept");
    const bytes = Buffer.from(secret, 'utf8');
    if (bytes.length < MIN_SECRET_BYTES) {
      throw fields.error(
        at,
        `the secret is ${bytes.length} bytes long: use at least ${MIN_SECRET_BYTES} random characters, such as the output of "openssl rand -hex 32"`,
      );
    }
    keys.push({ id, secret: bytes });
  }
  return keys;
}

async function readRegistries(
  root: Record<string, unknown>,
  fields: Fields,
  file: (value: string) => string,
): Promise<RemoteRegistryConfig[]> {
  const entries = optional(root, 'registries', (value) => fields.array(value, 'registries')) ?? [];
  const registries: RemoteRegistryConfig[] = [];
  for (const [i, entry] of entries.entries()) {
    const at = `registries[${i}]`;
    const data = fields.object(entry, at);
    fields.known(data, at, [
      'name',
      'url',
      'username',
      'passwordEnv',
      'passwordFile',
      'allowHosts',
      'headersTimeoutSeconds',
      'bodyTimeoutSeconds',
    ]);
    const name = fields.string(required(data, 'name', fields, at), `${at}.name`);
    if (!/^[a-z0-9][a-z0-9_-]{0,63}$/.test(name) || name === EMBEDDED) {
      throw fields.error(
        `${at}.name`,
        `invalid registry name ${JSON.stringify(name)}: use lowercase letters, digits, "_" and "-", and not "${EMBEDDED}"`,
      );
    }
    if (registries.some((other) => other.name === name))
      throw fields.error(`${at}.name`, `registry name ${JSON.stringify(name)} appears twice`);
    const url = new URL(fields.url(required(data, 'url', fields, at), `${at}.url`, false));
    if (url.pathname !== '/' || url.search !== '' || url.username !== '' || url.password !== '') {
      throw fields.error(
        `${at}.url`,
        'give the registry as scheme and host only, such as https://registry.example.com, and put credentials in username and passwordEnv',
      );
    }
    const username = optional(data, 'username', (value) => fields.string(value, `${at}.username`));
    const password = await fields.secret(data, at, 'password', file);
    if ((username === undefined) !== (password === undefined)) {
      throw fields.error(
        at,
        'username and a password (passwordEnv or passwordFile) go together: set both, or neither for anonymous access',
      );
    }
    const allowHosts = (
      optional(data, 'allowHosts', (value) => fields.array(value, `${at}.allowHosts`)) ?? []
    ).map((host, j) => {
      const text = fields.string(host, `${at}.allowHosts[${j}]`);
      if (!/^[A-Za-z0-9.-]+(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::\d{1,5})?$/.test(text)) {
        throw fields.error(
          `${at}.allowHosts[${j}]`,
          `invalid host ${JSON.stringify(text)}: give a host name with an optional port, such as storage.example.com:443`,
        );
      }
      return text.toLowerCase();
    });
    const registry: RemoteRegistryConfig = { name, url, allowHosts };
    if (username !== undefined) registry.username = username;
    if (password !== undefined) registry.password = password;
    for (const key of ['headersTimeoutSeconds', 'bodyTimeoutSeconds'] as const) {
      const seconds = optional(data, key, (value) => fields.integer(value, `${at}.${key}`, 1, 3600));
      if (seconds !== undefined) registry[key] = seconds;
    }
    registries.push(registry);
  }
  return registries;
}

function readRepositories(
  root: Record<string, unknown>,
  fields: Fields,
  registries: RemoteRegistryConfig[],
  embedded: boolean,
): RepositoryConfig[] {
  const entries = optional(root, 'repositories', (value) => fields.array(value, 'repositories')) ?? [];
  const repositories: RepositoryConfig[] = [];
  for (const [i, entry] of entries.entries()) {
    const at = `repositories[${i}]`;
    const data = fields.object(entry, at);
    fields.known(data, at, ['name', 'registry', 'repository', 'private']);
    const name = fields.string(required(data, 'name', fields, at), `${at}.name`);
    if (!isRepositoryName(name)) {
      throw fields.error(
        `${at}.name`,
        `invalid repository name ${JSON.stringify(name)}: use lowercase letters, digits and separators (. _ __ - /), starting with a letter or digit`,
      );
    }
    if (repositories.some((other) => other.name === name))
      throw fields.error(`${at}.name`, `repository ${JSON.stringify(name)} is listed twice`);
    const registry =
      optional(data, 'registry', (value) => fields.string(value, `${at}.registry`)) ?? EMBEDDED;
    if (registry === EMBEDDED) {
      if (!embedded)
        throw fields.error(
          `${at}.registry`,
          'the embedded registry is off (registry: false): name a remote registry',
        );
    } else if (!registries.some((candidate) => candidate.name === registry)) {
      const known = [EMBEDDED, ...registries.map((candidate) => candidate.name)].join(', ');
      throw fields.error(
        `${at}.registry`,
        `no registry named ${JSON.stringify(registry)}: use one of ${known}`,
      );
    }
    const repository =
      optional(data, 'repository', (value) => fields.string(value, `${at}.repository`)) ?? name;
    if (!isRepositoryName(repository)) {
      throw fields.error(
        `${at}.repository`,
        `invalid repository name ${JSON.stringify(repository)}: give the name as the registry has it, such as team/hello`,
      );
    }
    const isPrivate = optional(data, 'private', (value) => fields.boolean(value, `${at}.private`)) ?? false;
    repositories.push({ name, registry, repository, private: isPrivate });
  }
  return repositories;
}

function optional<T>(data: Record<string, unknown>, key: string, read: (value: unknown) => T): T | undefined {
  const value = data[key];
  return value === undefined || value === null ? undefined : read(value);
}

function required(data: Record<string, unknown>, key: string, fields: Fields, at: string): unknown {
  const value = data[key];
  if (value === undefined || value === null) throw fields.error(`${at}.${key}`, `${key} is missing: add it`);
  return value;
}

/** Type checks that name the field in their errors. */
class Fields {
  constructor(private readonly context: CheckContext) {}

  error(field: string, message: string): ConfigError {
    return new ConfigError(`${this.context.path}: ${field === '' ? '' : `${field}: `}${message}`);
  }

  object(value: unknown, field: string): Record<string, unknown> {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw this.error(field, `expected a mapping of fields, got ${describe(value)}`);
    }
    return value as Record<string, unknown>;
  }

  array(value: unknown, field: string): unknown[] {
    if (!Array.isArray(value)) throw this.error(field, `expected a list, got ${describe(value)}`);
    return value;
  }

  string(value: unknown, field: string): string {
    if (typeof value !== 'string' || value === '')
      throw this.error(field, `expected a non-empty string, got ${describe(value)}`);
    return value;
  }

  boolean(value: unknown, field: string): boolean {
    if (typeof value !== 'boolean') throw this.error(field, `expected true or false, got ${describe(value)}`);
    return value;
  }

  integer(value: unknown, field: string, min: number, max: number): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
      throw this.error(field, `expected a whole number from ${min} to ${max}, got ${describe(value)}`);
    }
    return value;
  }

  choice<const T extends string>(value: unknown, field: string, choices: readonly T[]): T {
    if (typeof value !== 'string' || !choices.includes(value as T)) {
      throw this.error(field, `expected one of ${choices.join(', ')}, got ${describe(value)}`);
    }
    return value as T;
  }

  url(value: unknown, field: string, stripSlash: boolean): string {
    const text = this.string(value, field);
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      throw this.error(
        field,
        `invalid URL ${JSON.stringify(text)}: give an absolute URL such as https://get.example.com`,
      );
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw this.error(field, `invalid URL ${JSON.stringify(text)}: use http:// or https://`);
    }
    return stripSlash ? text.replace(/\/+$/, '') : url.href;
  }

  known(data: Record<string, unknown>, at: string, allowed: readonly string[]): void {
    for (const key of Object.keys(data)) {
      if (!allowed.includes(key)) {
        throw this.error(
          at === '' ? key : `${at}.${key}`,
          `unknown field: remove it or check its spelling (known fields: ${allowed.join(', ')})`,
        );
      }
    }
  }

  /** Reads `<name>Env` or `<name>File` of an entry; setting both is an error. */
  async secret(
    data: Record<string, unknown>,
    at: string,
    name: string,
    file: (value: string) => string,
  ): Promise<string | undefined> {
    const envName = optional(data, `${name}Env`, (value) => this.string(value, `${at}.${name}Env`));
    const fileName = optional(data, `${name}File`, (value) => file(this.string(value, `${at}.${name}File`)));
    if (envName !== undefined && fileName !== undefined) {
      throw this.error(at, `set ${name}Env or ${name}File, not both`);
    }
    if (envName !== undefined) {
      const value = this.context.env[envName];
      if (value === undefined || value === '') {
        throw this.error(
          `${at}.${name}Env`,
          `environment variable ${envName} is not set: set it before starting the server`,
        );
      }
      return value;
    }
    if (fileName !== undefined) {
      let text: string;
      try {
        text = await this.context.readSecretFile(fileName);
      } catch (error) {
        throw this.error(`${at}.${name}File`, `cannot read ${fileName}: ${(error as Error).message}`);
      }
      // A trailing newline is how editors and `echo` end the file, not part of the secret.
      const value = text.replace(/\r?\n$/, '');
      if (value === '')
        throw this.error(`${at}.${name}File`, `${fileName} is empty: write the secret into it`);
      return value;
    }
    return undefined;
  }
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}
