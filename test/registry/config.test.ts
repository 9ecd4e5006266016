/**
 * The `registry:` section of the serve configuration: validation errors that name the field,
 * the rule for listen addresses, grants over HTTP with real `htpasswd -B` users, and the token
 * signing key that survives a restart.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  anonymousPullAllowed,
  isAnonymousPull,
  type PrivateRepositories,
  parseRegistryConfig,
  RegistryConfigError,
  resolveRegistryAccess,
  toAccessRules,
} from '../../src/registry/config.js';
import { loadOrCreateTokenKey, TOKEN_KEY_FILE, TokenKeyError } from '../../src/registry/token-key.js';
import { startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { skipUnless } from '../helpers/tools.js';
import { errorCode, request, sha256 } from './client.js';
import { basic, bcryptLine } from './users.js';

let work: string;
let htpasswd: string;

before(async () => {
  work = await mkdtemp(join(tmpdir(), 'ocidrop-registry-config-'));
  htpasswd = join(work, 'htpasswd');
  if (skipUnless('htpasswd') === false) {
    const lines = await Promise.all([bcryptLine('alice', 'alice-secret'), bcryptLine('bob', 'bob-secret')]);
    await writeFile(htpasswd, `${lines.join('\n')}\n`);
  }
});

after(async () => {
  await rm(work, { recursive: true, force: true });
});

async function pushBlobAs(
  base: string,
  name: string,
  data: string,
  authorization?: string,
): Promise<Response> {
  return request(base, `/v2/${name}/blobs/uploads/?digest=${sha256(data)}`, {
    method: 'POST',
    headers: authorization ? { Authorization: authorization } : {},
    body: data,
  });
}

describe('parseRegistryConfig', () => {
  it('full section is accepted', () => {
    const section = {
      htpasswd: '/etc/ocidrop/htpasswd',
      anonymousPull: ['public', 'tools/'],
      rules: [
        { user: '*', actions: ['pull'] },
        { user: 'alice', repository: 'team', actions: ['pull', 'push', 'delete'] },
      ],
      readOnly: false,
      token: { realm: 'https://registry.example.com/v2/token', service: 'example', ttlSeconds: 600 },
      allowAnonymousPush: false,
    };
    assert.deepEqual(parseRegistryConfig(section), { ...section, anonymousPull: ['public', 'tools'] });
  });

  it('missing section is empty', () => {
    assert.deepEqual(parseRegistryConfig(undefined), {});
    assert.deepEqual(parseRegistryConfig(null), {});
  });

  const invalid: { name: string; section: unknown; field: RegExp }[] = [
    { name: 'section not a mapping', section: 'open', field: /^registry: invalid value "open"/ },
    {
      name: 'unknown field',
      section: { htpasswdFile: 'x' },
      field: /^registry\.htpasswdFile: unknown field: use one of htpasswd,/,
    },
    { name: 'empty htpasswd', section: { htpasswd: '' }, field: /^registry\.htpasswd: .*non-empty string/ },
    {
      name: 'anonymousPull string',
      section: { anonymousPull: 'yes' },
      field: /^registry\.anonymousPull: .*true, false or a list/,
    },
    {
      name: 'anonymousPull bad prefix',
      section: { anonymousPull: ['ok', 'Bad'] },
      field: /^registry\.anonymousPull\[1\]: invalid value "Bad"/,
    },
    {
      name: 'rules not a list',
      section: { rules: { user: 'a' } },
      field: /^registry\.rules: .*list of \{user, repository, actions\}/,
    },
    {
      name: 'bad action in third rule',
      section: {
        rules: [
          { user: 'a', actions: ['pull'] },
          { user: 'b', actions: ['push'] },
          { user: 'c', actions: ['pull', 'write'] },
        ],
      },
      field: /^registry\.rules\[2\]\.actions: invalid value "write": use pull, push or delete$/,
    },
    {
      name: 'empty actions',
      section: { rules: [{ user: 'a', actions: [] }] },
      field: /^registry\.rules\[0\]\.actions: .*one or more/,
    },
    {
      name: 'rule without user',
      section: { rules: [{ actions: ['pull'] }] },
      field: /^registry\.rules\[0\]\.user: /,
    },
    {
      name: 'unknown rule field',
      section: { rules: [{ user: 'a', actions: ['pull'], repo: 'x' }] },
      field: /^registry\.rules\[0\]\.repo: unknown field/,
    },
    { name: 'readOnly string', section: { readOnly: 'yes' }, field: /^registry\.readOnly: .*true or false/ },
    {
      name: 'allowAnonymousPush number',
      section: { allowAnonymousPush: 1 },
      field: /^registry\.allowAnonymousPush: /,
    },
    {
      name: 'relative realm',
      section: { token: { realm: '/v2/token' } },
      field: /^registry\.token\.realm: .*absolute URL/,
    },
    {
      name: 'short ttl',
      section: { token: { ttlSeconds: 30 } },
      field: /^registry\.token\.ttlSeconds: .*from 60 to 86400/,
    },
    {
      name: 'service with quote',
      section: { token: { service: 'a"b' } },
      field: /^registry\.token\.service: /,
    },
    { name: 'token string', section: { token: 'yes' }, field: /^registry\.token: / },
  ];
  for (const { name, section, field } of invalid) {
    it(`rejects ${name}`, () => {
      assert.throws(() => parseRegistryConfig(section), RegistryConfigError);
      assert.throws(() => parseRegistryConfig(section), { message: field });
    });
  }

  it('error has a stable code', () => {
    assert.throws(() => parseRegistryConfig({ readOnly: 1 }), {
      name: 'RegistryConfigError',
      code: 'ERR_REGISTRY_CONFIG',
    });
  });
});

describe('listen address rule', () => {
  it('loopback without users stays open', async () => {
    for (const listenHost of ['127.0.0.1', 'localhost', '::1']) {
      const resolved = await resolveRegistryAccess(undefined, { listenHost, dataDir: work });
      assert.equal(resolved.access, undefined, listenHost);
      assert.equal(resolved.readOnly, false);
      assert.equal(resolved.isAnonymousPull('any/repo'), true);
    }
  });

  it('other address without users fails with the fix', async () => {
    for (const listenHost of ['0.0.0.0', '192.0.2.10', '::']) {
      await assert.rejects(resolveRegistryAccess({}, { listenHost, dataDir: work }), (error: Error) => {
        assert.ok(error instanceof RegistryConfigError);
        assert.match(
          error.message,
          new RegExp(`on ${listenHost.replace(/\./g, '\\.')}, which is not a loopback address`),
        );
        assert.match(error.message, /--htpasswd FILE, or users\.htpasswd/);
        assert.match(error.message, /--read-only, or registry\.readOnly: true/);
        assert.match(error.message, /--allow-anonymous-push, or registry\.allowAnonymousPush: true/);
        return true;
      });
    }
  });

  it('allowAnonymousPush opts out', async () => {
    const resolved = await resolveRegistryAccess(
      { allowAnonymousPush: true },
      { listenHost: '0.0.0.0', dataDir: work },
    );
    assert.equal(resolved.access, undefined);
  });

  it('read-only registry needs no users', async () => {
    const resolved = await resolveRegistryAccess(
      { readOnly: true },
      { listenHost: '0.0.0.0', dataDir: work },
    );
    assert.equal(resolved.readOnly, true);
    assert.equal(resolved.access, undefined);
  });

  for (const section of [
    { rules: [{ user: '*', actions: ['pull'] }] },
    { token: true },
    { anonymousPull: ['public'] },
  ]) {
    it(`${Object.keys(section)[0]} without htpasswd fails`, async () => {
      await assert.rejects(
        resolveRegistryAccess(section, { listenHost: '127.0.0.1', dataDir: work }),
        /needs users: name an htpasswd file made with "htpasswd -B" \(--htpasswd FILE/,
      );
    });
  }
});

describe('grants over HTTP', { skip: skipUnless('htpasswd') }, () => {
  it('rule naming an unknown user fails', async () => {
    const section = {
      htpasswd,
      rules: [
        { user: 'alice', actions: ['pull'] },
        { user: 'carol', actions: ['pull'] },
      ],
    };
    await assert.rejects(resolveRegistryAccess(section, { listenHost: '0.0.0.0', dataDir: work }), {
      message: /^registry\.rules\[1\]\.user: user "carol" is not in .*htpasswd: add it with "htpasswd -B /,
    });
  });

  it('relative htpasswd path is resolved against baseDir', async () => {
    const resolved = await resolveRegistryAccess(
      { htpasswd: 'htpasswd' },
      { listenHost: '0.0.0.0', dataDir: work, baseDir: work },
    );
    assert.equal(resolved.users?.has('alice'), true);
    await assert.rejects(
      resolveRegistryAccess(
        { htpasswd: 'htpasswd' },
        { listenHost: '0.0.0.0', dataDir: work, baseDir: join(work, 'elsewhere') },
      ),
      /elsewhere\/htpasswd/,
    );
  });

  it('default grants: anonymous pull, users push', async () => {
    const resolved = await resolveRegistryAccess({ htpasswd }, { listenHost: '0.0.0.0', dataDir: work });
    const registry = await startEmbeddedRegistry(undefined, resolved);
    try {
      const pushed = await pushBlobAs(registry.url, 'any/repo', 'default data', basic('bob', 'bob-secret'));
      assert.equal(pushed.status, 201);
      assert.equal((await request(registry.url, `/v2/any/repo/blobs/${sha256('default data')}`)).status, 200);
      const anonymous = await pushBlobAs(registry.url, 'any/repo', 'anonymous data');
      assert.equal(anonymous.status, 401);
      assert.equal(anonymous.headers.get('www-authenticate'), 'Basic realm="ocidrop"');
      const wrong = await pushBlobAs(registry.url, 'any/repo', 'x', basic('bob', 'alice-secret'));
      assert.equal(wrong.status, 401);
    } finally {
      await registry.close();
    }
  });

  it('rules and anonymousPull prefixes combine', async () => {
    const section = {
      htpasswd,
      anonymousPull: ['public'],
      rules: [
        { user: '*', actions: ['pull'] },
        { user: 'alice', actions: ['pull', 'push', 'delete'] },
        { user: 'bob', repository: 'team', actions: ['push'] },
      ],
    };
    const resolved = await resolveRegistryAccess(section, { listenHost: '0.0.0.0', dataDir: work });
    assert.equal(resolved.isAnonymousPull('public'), true);
    assert.equal(resolved.isAnonymousPull('public/tool'), true);
    assert.equal(resolved.isAnonymousPull('publicity'), false);
    assert.equal(resolved.isAnonymousPull('team/app'), false);

    const registry = await startEmbeddedRegistry(undefined, resolved);
    try {
      const base = registry.url;
      assert.equal((await pushBlobAs(base, 'team/app', 'team data', basic('bob', 'bob-secret'))).status, 201);
      assert.equal((await pushBlobAs(base, 'teamwork', 'x', basic('bob', 'bob-secret'))).status, 403);
      assert.equal(
        (await pushBlobAs(base, 'public/tool', 'public data', basic('alice', 'alice-secret'))).status,
        201,
      );
      assert.equal((await pushBlobAs(base, 'public/tool', 'anonymous')).status, 401);

      assert.equal((await request(base, `/v2/public/tool/blobs/${sha256('public data')}`)).status, 200);
      const hidden = await request(base, `/v2/team/app/blobs/${sha256('team data')}`);
      assert.equal(hidden.status, 401);
      assert.equal(await errorCode(hidden), 'UNAUTHORIZED');
      const member = await request(base, `/v2/team/app/blobs/${sha256('team data')}`, {
        headers: { Authorization: basic('bob', 'bob-secret') },
      });
      assert.equal(member.status, 200);

      const bobDelete = await request(base, `/v2/team/app/blobs/${sha256('team data')}`, {
        method: 'DELETE',
        headers: { Authorization: basic('bob', 'bob-secret') },
      });
      assert.equal(bobDelete.status, 403);
      const aliceDelete = await request(base, `/v2/team/app/blobs/${sha256('team data')}`, {
        method: 'DELETE',
        headers: { Authorization: basic('alice', 'alice-secret') },
      });
      assert.equal(aliceDelete.status, 202);
    } finally {
      await registry.close();
    }
  });

  it('anonymousPull false closes every repository', async () => {
    const config = parseRegistryConfig({ htpasswd, anonymousPull: false });
    assert.equal(anonymousPullAllowed(config, 'public'), false);
    const resolved = await resolveRegistryAccess(config, { listenHost: '127.0.0.1', dataDir: work });
    const registry = await startEmbeddedRegistry(undefined, resolved);
    try {
      assert.equal(
        (await pushBlobAs(registry.url, 'closed/repo', 'closed', basic('alice', 'alice-secret'))).status,
        201,
      );
      assert.equal((await request(registry.url, `/v2/closed/repo/blobs/${sha256('closed')}`)).status, 401);
    } finally {
      await registry.close();
    }
  });

  it('allowAnonymousPush with users lets anyone push', async () => {
    const resolved = await resolveRegistryAccess(
      { htpasswd, allowAnonymousPush: true },
      { listenHost: '0.0.0.0', dataDir: work },
    );
    const registry = await startEmbeddedRegistry(undefined, resolved);
    try {
      assert.equal((await pushBlobAs(registry.url, 'drop/box', 'anonymous push')).status, 201);
    } finally {
      await registry.close();
    }
  });

  it('readOnly reaches the handler', async () => {
    const resolved = await resolveRegistryAccess(
      { htpasswd, readOnly: true },
      { listenHost: '0.0.0.0', dataDir: work },
    );
    const registry = await startEmbeddedRegistry(undefined, resolved);
    try {
      const push = await pushBlobAs(registry.url, 'ro/repo', 'data', basic('alice', 'alice-secret'));
      assert.equal(push.status, 405);
    } finally {
      await registry.close();
    }
  });
});

describe('token signing key', { skip: skipUnless('htpasswd') }, () => {
  it('key file is created with mode 0600 and reused', async () => {
    const dataDir = await mkdtemp(join(work, 'data-'));
    const section = { htpasswd, token: true };
    await resolveRegistryAccess(section, { listenHost: '0.0.0.0', dataDir });
    const path = join(dataDir, TOKEN_KEY_FILE);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const key = await readFile(path, 'utf8');
    assert.equal(Buffer.from(key.trim(), 'base64').length, 32);
    await resolveRegistryAccess(section, { listenHost: '0.0.0.0', dataDir });
    assert.equal(await readFile(path, 'utf8'), key);
  });

  it('parallel first starts agree on one key', async () => {
    const dataDir = await mkdtemp(join(work, 'data-'));
    const keys = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateTokenKey(dataDir)));
    for (const key of keys) assert.ok(key.equals(keys[0] as Buffer));
    const names = (await readdir(dataDir)).sort();
    assert.deepEqual(names, [TOKEN_KEY_FILE], 'no temporary file is left');
  });

  it('token survives a restart', async () => {
    const dataDir = await mkdtemp(join(work, 'data-'));
    const section = { htpasswd, token: { service: 'restart-test' } };
    const environment = { listenHost: '0.0.0.0', dataDir };

    const first = await startEmbeddedRegistry(dataDir, await resolveRegistryAccess(section, environment));
    let token: string;
    try {
      const challenge = await pushBlobAs(first.url, 'restart/repo', 'before');
      assert.equal(challenge.status, 401);
      assert.match(
        challenge.headers.get('www-authenticate') ?? '',
        /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/v2\/token",service="restart-test"/,
      );
      const response = await request(
        first.url,
        '/v2/token?service=restart-test&scope=repository:restart/repo:pull,push',
        {
          headers: { Authorization: basic('alice', 'alice-secret') },
        },
      );
      assert.equal(response.status, 200);
      token = ((await response.json()) as { token: string }).token;
    } finally {
      await first.close();
    }

    const second = await startEmbeddedRegistry(dataDir, await resolveRegistryAccess(section, environment));
    try {
      assert.equal((await pushBlobAs(second.url, 'restart/repo', 'after', `Bearer ${token}`)).status, 201);
    } finally {
      await second.close();
    }
  });

  it('realm setting is used in the challenge', async () => {
    const dataDir = await mkdtemp(join(work, 'data-'));
    const section = { htpasswd, token: { realm: 'https://registry.example.com/v2/token' } };
    const registry = await startEmbeddedRegistry(
      undefined,
      await resolveRegistryAccess(section, { listenHost: '0.0.0.0', dataDir }),
    );
    try {
      const challenge = await pushBlobAs(registry.url, 'realm/repo', 'x');
      assert.equal(
        challenge.headers.get('www-authenticate'),
        'Bearer realm="https://registry.example.com/v2/token",service="ocidrop",scope="repository:realm/repo:push"',
      );
    } finally {
      await registry.close();
    }
  });

  it('key readable by others is rejected', async () => {
    const dataDir = await mkdtemp(join(work, 'data-'));
    const section = { htpasswd, token: true };
    await resolveRegistryAccess(section, { listenHost: '0.0.0.0', dataDir });
    const path = join(dataDir, TOKEN_KEY_FILE);
    await chmod(path, 0o644);
    await assert.rejects(
      resolveRegistryAccess(section, { listenHost: '0.0.0.0', dataDir }),
      (error: Error) => {
        assert.ok(error instanceof TokenKeyError);
        assert.match(error.message, /readable by other users \(mode 644\): run "chmod 600 /);
        return true;
      },
    );
  });

  it('short key is rejected', async () => {
    const dataDir = await mkdtemp(join(work, 'data-'));
    await writeFile(join(dataDir, TOKEN_KEY_FILE), 'c2hvcnQ=\n', { mode: 0o600 });
    await assert.rejects(
      resolveRegistryAccess({ htpasswd, token: true }, { listenHost: '0.0.0.0', dataDir }),
      /holds 5 bytes, fewer than 32: delete the file/,
    );
  });
});

describe('private repositories of the gateway', () => {
  const underSecret: PrivateRepositories = {
    prefixes: ['public/secret'],
    isPrivate: (name) => name === 'public/secret' || name.startsWith('public/secret/'),
  };
  const section = parseRegistryConfig({ htpasswd: '/unused', anonymousPull: ['public'] });
  const probes = ['public', 'public/app', 'public/secret', 'public/secret/x', 'public/secretive', 'other'];

  it('isAnonymousPull needs both sides', () => {
    const expected = [true, true, false, false, true, false];
    for (const [i, name] of probes.entries()) {
      assert.equal(isAnonymousPull(section, name, underSecret), expected[i], name);
    }
  });

  it('access rules agree with isAnonymousPull', () => {
    const rules = toAccessRules(section, underSecret).sort((a, b) => b.prefix.length - a.prefix.length);
    for (const name of probes) {
      const rule = rules.find(
        (candidate) =>
          candidate.prefix === '' || name === candidate.prefix || name.startsWith(`${candidate.prefix}/`),
      );
      assert.equal(rule?.pull === '*', isAnonymousPull(section, name, underSecret), name);
    }
  });

  it('open registry with private repositories fails', async () => {
    await assert.rejects(
      resolveRegistryAccess({}, { listenHost: '127.0.0.1', dataDir: work, privateRepositories: underSecret }),
      /private repositories such as "public\/secret" need users/,
    );
  });
});
