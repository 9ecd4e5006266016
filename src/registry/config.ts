/**
 * The `registry:` section of the `ocidrop serve` configuration file: who may pull, push and
 * delete, and how clients authenticate. {@link parseRegistryConfig} validates the section, and
 * {@link resolveRegistryAccess} applies the product's rule for listen addresses and turns it into
 * the options of `createRegistryHandler`.
 *
 * The rule: on a loopback address the registry may stay open to anyone. On any other address,
 * push and delete need credentials unless `allowAnonymousPush: true` allows them, so starting
 * there with neither users, nor that opt-out, nor `readOnly: true` fails.
 *
 * The users come from one htpasswd file, which `ocidrop serve` names in the configuration's
 * top-level `users.htpasswd` (or `--htpasswd`) and passes in as `htpasswd`.
 */
import { isAbsolute, resolve } from 'node:path';
import { OcidropError } from '../oci/errors.js';
import { isLoopbackAddress, isRepositoryName } from '../oci/reference.js';
import type { AccessPolicy, RepositoryAction } from './access.js';
import { loadHtpasswd, type UserStore } from './htpasswd.js';
import { type AccessRule, createAccessPolicy, type Principals } from './policy.js';
import { TokenSigner } from './token.js';
import { loadOrCreateTokenKey } from './token-key.js';

/** One grant of the `rules` list. */
export interface RegistryRuleConfig {
  /** A user of the htpasswd file, or `*` for every user in it. Anonymous access is set by `anonymousPull` and `allowAnonymousPush`. */
  user: string;
  /** A repository name or its first components (`team` covers `team` and `team/app`, not `teamwork`). @default '' (every repository) */
  repository?: string;
  /** Actions granted on those repositories. */
  actions: RepositoryAction[];
}

/** Settings of the Docker token flow. */
export interface RegistryTokenConfig {
  /** Absolute URL of the token endpoint as clients reach it, for a registry behind a proxy. @default `http://<Host header>/v2/token` */
  realm?: string;
  /** Service name in challenges and tokens. @default 'ocidrop' */
  service?: string;
  /** Lifetime of access tokens in seconds, from 60 to 86400. @default 300 */
  ttlSeconds?: number;
}

/** The validated `registry:` section. */
export interface RegistryConfig {
  /**
   * Path of an htpasswd file with bcrypt entries (`htpasswd -B`). `ocidrop serve` sets it from
   * `users.htpasswd` or `--htpasswd`, and its configuration file rejects it inside `registry:`.
   */
  htpasswd?: string;
  /** Repository prefixes that anyone may pull, or `true`/`false` for every repository. @default true */
  anonymousPull?: boolean | string[];
  /** Grants to users. @default every user may pull, push and delete everywhere */
  rules?: RegistryRuleConfig[];
  /** Rejects every push and delete. @default false */
  readOnly?: boolean;
  /** Enables the Docker token flow: `true`, or its settings. @default false (HTTP Basic) */
  token?: boolean | RegistryTokenConfig;
  /** Lets anyone push and delete on a non-loopback address. @default false */
  allowAnonymousPush?: boolean;
}

/** Listen address and folders of the registry, for {@link resolveRegistryAccess}. */
export interface RegistryEnvironment {
  /** The address the server listens on, such as `127.0.0.1` or `0.0.0.0`. */
  listenHost: string;
  /** The data folder, where the token signing key is kept. */
  dataDir: string;
  /** Folder that a relative `htpasswd` path is relative to, usually the configuration file's. @default process.cwd() */
  baseDir?: string;
  /** Repositories that another front end (the download gateway) keeps private, so anonymous pulls of them are rejected. */
  privateRepositories?: PrivateRepositories;
}

/**
 * Repositories kept private outside the registry section. `isPrivate` must be decided by the
 * longest of `prefixes` that covers the repository (a prefix covers itself and the names below
 * it), or by its value for `''` when none does, so that per-prefix access rules can express it.
 */
export interface PrivateRepositories {
  /** The repository prefixes where `isPrivate` may change its value. */
  prefixes: readonly string[];
  isPrivate(repository: string): boolean;
}

/** Access settings of the registry and the gateway, built from the section. */
export interface ResolvedRegistryAccess {
  /** The policy for `createRegistryHandler`; absent when the registry is open to anyone. */
  access?: AccessPolicy;
  /** Whether push and delete are rejected. */
  readOnly: boolean;
  /** The users of the htpasswd file, which the gateway can check too. */
  users?: UserStore;
  /**
   * Tells whether anyone may pull `repository`, by {@link isAnonymousPull}; the gateway treats
   * the others as private.
   */
  isAnonymousPull(repository: string): boolean;
}

/** A `registry:` section that cannot be used. */
export class RegistryConfigError extends OcidropError {
  override name = 'RegistryConfigError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_REGISTRY_CONFIG', message, options);
  }
}

const FIELDS = ['htpasswd', 'anonymousPull', 'rules', 'readOnly', 'token', 'allowAnonymousPush'];
const RULE_FIELDS = ['user', 'repository', 'actions'];
const TOKEN_FIELDS = ['realm', 'service', 'ttlSeconds'];
const ACTIONS: RepositoryAction[] = ['pull', 'push', 'delete'];

/** The fix that every "needs users" error names. */
const NAME_USERS =
  'name an htpasswd file made with "htpasswd -B" (--htpasswd FILE, or users.htpasswd in the configuration file)';

/** The grantee of anonymous grants, which no user name can equal. */
const ANONYMOUS = Symbol('anonymous');

/**
 * Validates the `registry:` section as the configuration loader parsed it (`undefined` is an empty
 * section).
 * @throws RegistryConfigError naming the field, such as `registry.rules[2].actions`, and the fix.
 */
export function parseRegistryConfig(section: unknown, path = 'registry'): RegistryConfig {
  if (section === undefined || section === null) return {};
  const object = expectObject(section, path, FIELDS);
  const config: RegistryConfig = {};

  if (object['htpasswd'] !== undefined)
    config.htpasswd = expectString(object['htpasswd'], `${path}.htpasswd`);

  const anonymousPull = object['anonymousPull'];
  if (typeof anonymousPull === 'boolean') {
    config.anonymousPull = anonymousPull;
  } else if (Array.isArray(anonymousPull)) {
    config.anonymousPull = anonymousPull.map((value, i) =>
      expectPrefix(value, `${path}.anonymousPull[${i}]`),
    );
  } else if (anonymousPull !== undefined) {
    throw invalid(`${path}.anonymousPull`, anonymousPull, 'use true, false or a list of repository prefixes');
  }

  const rules = object['rules'];
  if (rules !== undefined) {
    if (!Array.isArray(rules))
      throw invalid(`${path}.rules`, rules, 'use a list of {user, repository, actions}');
    config.rules = rules.map((rule, i) => parseRule(rule, `${path}.rules[${i}]`));
  }

  if (object['readOnly'] !== undefined)
    config.readOnly = expectBoolean(object['readOnly'], `${path}.readOnly`);
  if (object['allowAnonymousPush'] !== undefined) {
    config.allowAnonymousPush = expectBoolean(object['allowAnonymousPush'], `${path}.allowAnonymousPush`);
  }

  const token = object['token'];
  if (typeof token === 'boolean') config.token = token;
  else if (token !== undefined) config.token = parseToken(token, `${path}.token`);

  return config;
}

/**
 * Validates the section and applies the rule for listen addresses: reads the htpasswd file, loads
 * or creates the token signing key in the data folder, and builds the access policy.
 * @throws RegistryConfigError when the section is invalid, names a user the htpasswd file lacks,
 *   or leaves push open on a non-loopback address without `allowAnonymousPush: true`.
 * @throws HtpasswdError when the htpasswd file cannot be read or has an unsupported entry.
 * @throws TokenKeyError when the signing key file is unsafe or damaged.
 */
export async function resolveRegistryAccess(
  section: unknown,
  environment: RegistryEnvironment,
): Promise<ResolvedRegistryAccess> {
  const config = parseRegistryConfig(section);
  const readOnly = config.readOnly ?? false;
  const privateRepositories = environment.privateRepositories;

  if (config.htpasswd === undefined) {
    checkOpenRegistry(config, environment.listenHost, readOnly, privateRepositories);
    return { readOnly, isAnonymousPull: () => true };
  }

  const htpasswdPath = isAbsolute(config.htpasswd)
    ? config.htpasswd
    : resolve(environment.baseDir ?? process.cwd(), config.htpasswd);
  const users = await loadHtpasswd(htpasswdPath);
  for (const [i, rule] of (config.rules ?? []).entries()) {
    if (rule.user !== '*' && !users.has(rule.user)) {
      throw new RegistryConfigError(
        `registry.rules[${i}].user: user ${JSON.stringify(rule.user)} is not in ${htpasswdPath}: add it with "htpasswd -B ${htpasswdPath} ${rule.user}" or correct the name`,
      );
    }
  }

  const token = config.token === true ? {} : config.token === false ? undefined : config.token;
  const access = createAccessPolicy({
    users,
    rules: toAccessRules(config, privateRepositories),
    ...(token && {
      token: {
        ...token,
        signer: new TokenSigner('ocidrop', await loadOrCreateTokenKey(environment.dataDir)),
      },
    }),
  });
  return {
    access,
    readOnly,
    users,
    isAnonymousPull: (repository) => isAnonymousPull(config, repository, privateRepositories),
  };
}

/**
 * Decides whether anyone may pull `repository`: only when the section's `anonymousPull` allows it
 * and `privateRepositories` does not keep it private. The registry's access rules and the
 * gateway's notion of a private repository both come from this one function.
 */
export function isAnonymousPull(
  config: RegistryConfig,
  repository: string,
  privateRepositories?: PrivateRepositories,
): boolean {
  return anonymousPullAllowed(config, repository) && !(privateRepositories?.isPrivate(repository) ?? false);
}

/** Tells whether the section lets anyone pull `repository`: `anonymousPull` is `true` (the default) or lists a prefix of it. */
export function anonymousPullAllowed(config: RegistryConfig, repository: string): boolean {
  if (config.htpasswd === undefined) return true;
  const anonymousPull = config.anonymousPull ?? true;
  if (typeof anonymousPull === 'boolean') return anonymousPull;
  return anonymousPull.some((prefix) => coversRepository(prefix, repository));
}

/**
 * Turns the grants of a section with users into the policy's rules, one per repository prefix
 * that the section or `privateRepositories` names. Each rule lists everyone granted an action on
 * that prefix or on a shorter prefix of it, so the policy's longest-prefix match gives the union
 * of all grants that cover a repository. Anonymous pull at each prefix is {@link isAnonymousPull}
 * there, which the longest-prefix match then extends to every repository below it.
 */
export function toAccessRules(
  config: RegistryConfig,
  privateRepositories?: PrivateRepositories,
): AccessRule[] {
  const grants: { user: string | typeof ANONYMOUS; prefix: string; actions: RepositoryAction[] }[] = (
    config.rules ?? [{ user: '*', actions: ACTIONS }]
  ).map((rule) => ({ user: rule.user, prefix: rule.repository ?? '', actions: rule.actions }));
  if (config.allowAnonymousPush) grants.push({ user: ANONYMOUS, prefix: '', actions: ['push', 'delete'] });

  const anonymousPull = config.anonymousPull ?? true;
  const prefixes = new Set([
    '',
    ...grants.map((grant) => grant.prefix),
    ...(Array.isArray(anonymousPull) ? anonymousPull : []),
    ...(privateRepositories?.prefixes ?? []),
  ]);
  return [...prefixes].map((prefix) => {
    const covering = grants.filter((grant) => coversRepository(grant.prefix, prefix));
    const principals = (action: RepositoryAction): Principals => {
      const users = covering.filter((grant) => grant.actions.includes(action)).map((grant) => grant.user);
      if (users.includes(ANONYMOUS)) return '*';
      if (users.includes('*')) return 'authenticated';
      return [...new Set(users as string[])];
    };
    const pull = isAnonymousPull(config, prefix, privateRepositories) ? '*' : principals('pull');
    return { prefix, pull, push: principals('push'), delete: principals('delete') };
  });
}

function checkOpenRegistry(
  config: RegistryConfig,
  listenHost: string,
  readOnly: boolean,
  privateRepositories: PrivateRepositories | undefined,
): void {
  for (const field of ['rules', 'token'] as const) {
    if (config[field] !== undefined && config[field] !== false) {
      const setting = field === 'token' ? 'registry.token (or --token-auth)' : `registry.${field}`;
      throw new RegistryConfigError(`${setting} needs users: ${NAME_USERS}`);
    }
  }
  if (config.anonymousPull !== undefined && config.anonymousPull !== true) {
    throw new RegistryConfigError(`registry.anonymousPull restricts pulls, which needs users: ${NAME_USERS}`);
  }
  if (privateRepositories !== undefined) {
    const closed = ['', ...privateRepositories.prefixes].find((prefix) =>
      privateRepositories.isPrivate(prefix),
    );
    if (closed !== undefined) {
      throw new RegistryConfigError(
        `private repositories${closed === '' ? '' : ` such as ${JSON.stringify(closed)}`} need users, because /v2/ would otherwise serve them to anyone: ${NAME_USERS}`,
      );
    }
  }
  if (!readOnly && !isLoopbackAddress(listenHost) && !config.allowAnonymousPush) {
    throw new RegistryConfigError(
      `the registry would let anyone push and delete on ${listenHost}, which is not a loopback address: ${NAME_USERS}; or make it read-only (--read-only, or registry.readOnly: true); or allow anonymous pushes explicitly (--allow-anonymous-push, or registry.allowAnonymousPush: true)`,
    );
  }
}

function coversRepository(prefix: string, repository: string): boolean {
  return prefix === '' || repository === prefix || repository.startsWith(`${prefix}/`);
}

function parseRule(value: unknown, path: string): RegistryRuleConfig {
  const object = expectObject(value, path, RULE_FIELDS);
  const user = expectString(object['user'], `${path}.user`);
  if (user.includes(':')) throw invalid(`${path}.user`, user, 'use a user name of the htpasswd file or "*"');
  const rule: RegistryRuleConfig = { user, actions: parseActions(object['actions'], `${path}.actions`) };
  if (object['repository'] !== undefined)
    rule.repository = expectPrefix(object['repository'], `${path}.repository`);
  return rule;
}

function parseActions(value: unknown, path: string): RepositoryAction[] {
  if (!Array.isArray(value) || value.length === 0) {
    throw invalid(path, value, 'use a list of one or more of pull, push and delete');
  }
  for (const action of value) {
    if (!ACTIONS.includes(action as RepositoryAction)) {
      throw invalid(path, action, 'use pull, push or delete');
    }
  }
  return [...new Set(value as RepositoryAction[])];
}

function parseToken(value: unknown, path: string): RegistryTokenConfig {
  const object = expectObject(value, path, TOKEN_FIELDS);
  const token: RegistryTokenConfig = {};
  if (object['realm'] !== undefined) {
    const realm = expectString(object['realm'], `${path}.realm`);
    if (!/^https?:\/\/[^\s"]+$/.test(realm) || !URL.canParse(realm)) {
      throw invalid(
        `${path}.realm`,
        realm,
        'use the absolute URL of /v2/token as clients reach it, such as https://registry.example.com/v2/token',
      );
    }
    token.realm = realm;
  }
  if (object['service'] !== undefined) {
    const service = expectString(object['service'], `${path}.service`);
    if (!/^[\x21\x23-\x7e]+$/.test(service)) {
      throw invalid(`${path}.service`, service, 'use printable characters without spaces or quotes');
    }
    token.service = service;
  }
  if (object['ttlSeconds'] !== undefined) {
    const ttl = object['ttlSeconds'];
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 60 || ttl > 86_400) {
      throw invalid(`${path}.ttlSeconds`, ttl, 'use a whole number of seconds from 60 to 86400');
    }
    token.ttlSeconds = ttl;
  }
  return token;
}

function expectObject(value: unknown, path: string, fields: string[]): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(path, value, `use a mapping with the fields ${fields.join(', ')}`);
  }
  for (const key of Object.keys(value)) {
    if (!fields.includes(key)) {
      throw new RegistryConfigError(`${path}.${key}: unknown field: use one of ${fields.join(', ')}`);
    }
  }
  return value as Record<string, unknown>;
}

function expectString(value: unknown, path: string): string {
  if (typeof value !== 'string' || value === '') throw invalid(path, value, 'use a non-empty string');
  return value;
}

function expectBoolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw invalid(path, value, 'use true or false');
  return value;
}

function expectPrefix(value: unknown, path: string): string {
  if (typeof value !== 'string')
    throw invalid(path, value, 'use a repository name or its first components, such as team or team/app');
  const prefix = value.replace(/\/+$/, '');
  if (prefix !== '' && !isRepositoryName(prefix)) {
    throw invalid(path, value, 'use a repository name or its first components, such as team or team/app');
  }
  return prefix;
}

function invalid(path: string, value: unknown, fix: string): RegistryConfigError {
  return new RegistryConfigError(`${path}: invalid value ${JSON.stringify(value) ?? String(value)}: ${fix}`);
}
