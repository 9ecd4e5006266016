/**
 * Access control of the embedded registry: HTTP Basic with htpasswd users, the Docker token
 * flow, rules per repository prefix, read-only mode, and skopeo logging in.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { isLoopbackHost } from '../../src/registry/access.js';
import { HtpasswdError, loadHtpasswd, parseHtpasswd } from '../../src/registry/htpasswd.js';
import { createAccessPolicy } from '../../src/registry/policy.js';
import { TokenSigner } from '../../src/registry/token.js';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { skipUnless } from '../helpers/tools.js';
import { errorCode, pushImage, request, sha256 } from './client.js';
import { bcryptLine } from './users.js';

const run = promisify(execFile);

// `htpasswd -s` entries: {SHA} and the base64 SHA-1 of the password.
function shaEntry(user: string, password: string): string {
  return `${user}:{SHA}${createHash('sha1').update(password).digest('base64')}`;
}

const HTPASSWD = [shaEntry('alice', 'alice-secret'), shaEntry('bob', 'bob-secret'), ''].join('\n');

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

async function pushBlobAs(
  base: string,
  name: string,
  data: string,
  authorization?: string,
): Promise<Response> {
  const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
  return request(base, `/v2/${name}/blobs/uploads/?digest=${sha256(data)}`, {
    method: 'POST',
    headers,
    body: data,
  });
}

describe('htpasswd', { skip: skipUnless('htpasswd') }, () => {
  let carol: string;
  let dave: string;

  before(async () => {
    carol = await bcryptLine('carol', 'carol-secret');
    dave = await bcryptLine('dave', 'pass:word with spaces');
  });

  it('SHA entries verify the right password only', async () => {
    const users = parseHtpasswd(HTPASSWD);
    assert.equal(await users.verify('alice', 'alice-secret'), true);
    assert.equal(await users.verify('alice', 'bob-secret'), false);
    assert.equal(await users.verify('carol', 'anything'), false);
  });

  it('htpasswd -B entries verify with bcrypt', async () => {
    assert.match(carol, /^carol:\$2y\$05\$/);
    const users = parseHtpasswd([carol, dave, ''].join('\n'));
    assert.equal(await users.verify('carol', 'carol-secret'), true);
    assert.equal(await users.verify('carol', 'carol-secre'), false);
    assert.equal(await users.verify('dave', 'pass:word with spaces'), true);
    assert.equal(await users.verify('dave', 'carol-secret'), false);
  });

  it('bcrypt $2a$ and $2b$ prefixes verify too', async () => {
    const hash = carol.slice('carol:'.length);
    for (const prefix of ['$2a$', '$2b$']) {
      const users = parseHtpasswd(`carol:${prefix}${hash.slice(4)}`);
      assert.equal(await users.verify('carol', 'carol-secret'), true, prefix);
    }
  });

  it('users.has tells which users exist', () => {
    const users = parseHtpasswd([carol, shaEntry('alice', 'x')].join('\n'));
    assert.equal(users.has('carol'), true);
    assert.equal(users.has('alice'), true);
    assert.equal(users.has('mallory'), false);
  });

  it('unknown user costs one bcrypt check', async () => {
    const compared: string[] = [];
    const users = parseHtpasswd(carol, {
      bcrypt: async (_password, hash) => {
        compared.push(hash);
        return true;
      },
    });
    assert.equal(await users.verify('mallory', 'carol-secret'), false);
    assert.deepEqual(compared, [carol.slice('carol:'.length)]);
  });

  it('injected bcrypt function is called with the hash', async () => {
    const compared: string[] = [];
    const users = parseHtpasswd(carol, {
      bcrypt: async (password, hash) => {
        compared.push(hash);
        return password === 'injected';
      },
    });
    assert.equal(await users.verify('carol', 'injected'), true);
    assert.deepEqual(compared, [carol.slice('carol:'.length)]);
  });

  it('successful checks are cached, failures are not', async () => {
    let calls = 0;
    const users = parseHtpasswd(carol, {
      bcrypt: async (password) => {
        calls += 1;
        return password === 'carol-secret';
      },
    });
    assert.equal(await users.verify('carol', 'carol-secret'), true);
    assert.equal(await users.verify('carol', 'carol-secret'), true);
    assert.equal(calls, 1);
    assert.equal(await users.verify('carol', 'wrong'), false);
    assert.equal(await users.verify('carol', 'wrong'), false);
    assert.equal(calls, 3);
  });

  it('cacheMs 0 checks every time', async () => {
    let calls = 0;
    const users = parseHtpasswd(carol, {
      cacheMs: 0,
      bcrypt: async () => {
        calls += 1;
        return true;
      },
    });
    await users.verify('carol', 'a');
    await users.verify('carol', 'a');
    assert.equal(calls, 2);
  });

  it('malformed bcrypt hash is rejected', () => {
    assert.throws(() => parseHtpasswd(`${carol.slice(0, -5)}\n`), {
      message: /line 1: user carol has a malformed bcrypt hash/,
    });
    assert.throws(() => parseHtpasswd(carol.replace('$05$', '$99$')), HtpasswdError);
  });

  it('unsupported hash is rejected with the fix', () => {
    assert.throws(() => parseHtpasswd('dave:$apr1$salt$hash'), HtpasswdError);
    assert.throws(() => parseHtpasswd('dave:$apr1$salt$hash'), /htpasswd -B/);
    assert.throws(() => parseHtpasswd('no colon here'), /line 1/);
  });

  it('missing file is reported by path', async () => {
    await assert.rejects(loadHtpasswd('/nonexistent/htpasswd'), /\/nonexistent\/htpasswd/);
  });
});

describe('HTTP Basic access control', () => {
  let registry: EmbeddedRegistry;
  let base: string;

  before(async () => {
    const access = createAccessPolicy({
      users: parseHtpasswd(HTPASSWD),
      rules: [
        { prefix: '', pull: '*', push: 'authenticated', delete: 'authenticated' },
        { prefix: 'private', pull: ['alice'], push: ['alice'], delete: ['alice'] },
      ],
    });
    registry = await startEmbeddedRegistry(undefined, { access });
    base = registry.url;
  });

  after(async () => {
    await registry.close();
  });

  it('anonymous pull is allowed where the rule opens it', async () => {
    assert.equal((await pushBlobAs(base, 'open/repo', 'open data', basic('bob', 'bob-secret'))).status, 201);
    const response = await request(base, `/v2/open/repo/blobs/${sha256('open data')}`);
    assert.equal(response.status, 200);
  });

  it('anonymous push answers 401 with a Basic challenge', async () => {
    const response = await pushBlobAs(base, 'open/repo', 'anonymous data');
    assert.equal(response.status, 401);
    assert.equal(await errorCode(response), 'UNAUTHORIZED');
    assert.equal(response.headers.get('www-authenticate'), 'Basic realm="ocidrop"');
  });

  it('wrong password answers 401', async () => {
    const response = await pushBlobAs(base, 'open/repo', 'data', basic('alice', 'wrong'));
    assert.equal(response.status, 401);
  });

  it('user without the right answers 403 DENIED', async () => {
    const response = await pushBlobAs(base, 'private/repo', 'data', basic('bob', 'bob-secret'));
    assert.equal(response.status, 403);
    assert.equal(await errorCode(response), 'DENIED');
  });

  it('anonymous pull is refused under a closed prefix', async () => {
    assert.equal(
      (await pushBlobAs(base, 'private/repo', 'secret data', basic('alice', 'alice-secret'))).status,
      201,
    );
    const anonymous = await request(base, `/v2/private/repo/blobs/${sha256('secret data')}`);
    assert.equal(anonymous.status, 401);
    const owner = await request(base, `/v2/private/repo/blobs/${sha256('secret data')}`, {
      headers: { Authorization: basic('alice', 'alice-secret') },
    });
    assert.equal(owner.status, 200);
  });

  it('version check challenges a client without credentials', async () => {
    const anonymous = await request(base, '/v2/');
    assert.equal(anonymous.status, 401);
    const loggedIn = await request(base, '/v2/', { headers: { Authorization: basic('bob', 'bob-secret') } });
    assert.equal(loggedIn.status, 200);
  });

  it('catalog lists only repositories the client may pull', async () => {
    const response = await request(base, '/v2/_catalog', {
      headers: { Authorization: basic('bob', 'bob-secret') },
    });
    const { repositories } = (await response.json()) as { repositories: string[] };
    assert.ok(repositories.includes('open/repo'));
    assert.ok(!repositories.includes('private/repo'));
  });

  it('mount without from skips repositories the user may not pull', async () => {
    const digest = sha256('secret data');
    const bob = await request(base, `/v2/bob/discover/blobs/uploads/?mount=${digest}`, {
      method: 'POST',
      headers: { Authorization: basic('bob', 'bob-secret') },
    });
    assert.equal(bob.status, 202);
    const alice = await request(base, `/v2/private/copy/blobs/uploads/?mount=${digest}`, {
      method: 'POST',
      headers: { Authorization: basic('alice', 'alice-secret') },
    });
    assert.equal(alice.status, 201);
  });

  it('mount without pull right falls back', async () => {
    const response = await request(
      base,
      `/v2/bob/repo/blobs/uploads/?mount=${sha256('secret data')}&from=private/repo`,
      {
        method: 'POST',
        headers: { Authorization: basic('bob', 'bob-secret') },
      },
    );
    assert.equal(response.status, 202);
  });
});

describe('Docker token flow', () => {
  let registry: EmbeddedRegistry;
  let base: string;
  const signer = new TokenSigner('ocidrop-test');

  before(async () => {
    const access = createAccessPolicy({
      users: parseHtpasswd(HTPASSWD),
      token: { service: 'ocidrop-test', signer, ttlSeconds: 60 },
    });
    registry = await startEmbeddedRegistry(undefined, { access });
    base = registry.url;
  });

  after(async () => {
    await registry.close();
  });

  async function fetchToken(scope: string, authorization?: string): Promise<Response> {
    const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
    return request(base, `/v2/token?service=ocidrop-test&scope=${encodeURIComponent(scope)}`, { headers });
  }

  it('push without a token answers a Bearer challenge with scope', async () => {
    const response = await pushBlobAs(base, 'tokens/repo', 'token data');
    assert.equal(response.status, 401);
    assert.equal(
      response.headers.get('www-authenticate'),
      `Bearer realm="http://${registry.host}/v2/token",service="ocidrop-test",scope="repository:tokens/repo:push"`,
    );
  });

  it('token grants the scope the user may have', async () => {
    const response = await fetchToken('repository:tokens/repo:pull,push', basic('alice', 'alice-secret'));
    assert.equal(response.status, 200);
    const body = (await response.json()) as { token: string; access_token: string; expires_in: number };
    assert.equal(body.token, body.access_token);
    assert.equal(body.expires_in, 60);
    const pushed = await pushBlobAs(base, 'tokens/repo', 'token data', `Bearer ${body.token}`);
    assert.equal(pushed.status, 201);
  });

  it('anonymous token grants pull only', async () => {
    const response = await fetchToken('repository:tokens/repo:pull,push');
    const { token } = (await response.json()) as { token: string };
    const pull = await request(base, `/v2/tokens/repo/blobs/${sha256('token data')}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    assert.equal(pull.status, 200);
    const push = await pushBlobAs(base, 'tokens/repo', 'more data', `Bearer ${token}`);
    assert.equal(push.status, 401);
  });

  it('token endpoint rejects a wrong password', async () => {
    const response = await fetchToken('repository:tokens/repo:pull', basic('alice', 'nope'));
    assert.equal(response.status, 401);
  });

  async function postToken(
    form: Record<string, string>,
    contentType = 'application/x-www-form-urlencoded',
  ): Promise<Response> {
    return request(base, '/v2/token', {
      method: 'POST',
      headers: { 'Content-Type': contentType },
      body: new URLSearchParams(form).toString(),
    });
  }

  it('POST password grant issues an access token', async () => {
    const response = await postToken({
      grant_type: 'password',
      username: 'alice',
      password: 'alice-secret',
      service: 'ocidrop-test',
      client_id: 'test',
      scope: 'repository:oauth/repo:pull,push',
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'no-store');
    const body = (await response.json()) as {
      access_token: string;
      scope: string;
      expires_in: number;
      refresh_token?: string;
    };
    assert.equal(body.scope, 'repository:oauth/repo:pull,push');
    assert.equal(body.expires_in, 60);
    assert.equal(body.refresh_token, undefined, 'no refresh token without access_type=offline');
    const pushed = await pushBlobAs(base, 'oauth/repo', 'oauth data', `Bearer ${body.access_token}`);
    assert.equal(pushed.status, 201);
  });

  it('POST refresh_token grant issues tokens for new scopes', async () => {
    const first = await postToken({
      grant_type: 'password',
      username: 'alice',
      password: 'alice-secret',
      service: 'ocidrop-test',
      client_id: 'test',
      access_type: 'offline',
    });
    assert.equal(first.status, 200);
    const { refresh_token: refreshToken } = (await first.json()) as { refresh_token: string };
    assert.ok(refreshToken);

    const refreshed = await postToken({
      grant_type: 'refresh_token',
      refresh_token: refreshToken,
      service: 'ocidrop-test',
      client_id: 'test',
      scope: 'repository:oauth/other:push',
    });
    assert.equal(refreshed.status, 200);
    const body = (await refreshed.json()) as { access_token: string; refresh_token: string; scope: string };
    assert.equal(body.refresh_token, refreshToken);
    assert.equal(body.scope, 'repository:oauth/other:push');
    assert.equal(
      (await pushBlobAs(base, 'oauth/other', 'refreshed', `Bearer ${body.access_token}`)).status,
      201,
    );
  });

  it('refresh token is no access token', async () => {
    const response = await fetchToken('repository:oauth/x:pull', basic('alice', 'alice-secret'));
    assert.equal(response.status, 200);
    const offline = await request(
      base,
      '/v2/token?service=ocidrop-test&offline_token=true&client_id=test&scope=repository:oauth/x:push',
      { headers: { Authorization: basic('alice', 'alice-secret') } },
    );
    const { refresh_token: refreshToken } = (await offline.json()) as { refresh_token?: string };
    assert.ok(refreshToken, 'GET with offline_token=true returns a refresh token');
    assert.equal((await pushBlobAs(base, 'oauth/x', 'misuse', `Bearer ${refreshToken}`)).status, 401);
  });

  it('POST errors follow OAuth2', async () => {
    const cases: { form: Record<string, string>; contentType?: string; status: number; error: string }[] = [
      {
        form: {
          grant_type: 'password',
          username: 'alice',
          password: 'wrong',
          service: 'ocidrop-test',
          client_id: 't',
        },
        status: 400,
        error: 'invalid_grant',
      },
      {
        form: {
          grant_type: 'refresh_token',
          refresh_token: 'forged.token.value',
          service: 'ocidrop-test',
          client_id: 't',
        },
        status: 400,
        error: 'invalid_grant',
      },
      {
        form: { grant_type: 'authorization_code', code: 'x', service: 'ocidrop-test', client_id: 't' },
        status: 400,
        error: 'unsupported_grant_type',
      },
      {
        form: {
          grant_type: 'password',
          username: 'alice',
          password: 'alice-secret',
          service: 'other',
          client_id: 't',
        },
        status: 400,
        error: 'invalid_request',
      },
      {
        form: { grant_type: 'password', username: 'alice', password: 'alice-secret' },
        contentType: 'application/json',
        status: 400,
        error: 'invalid_request',
      },
    ];
    for (const { form, contentType, status, error } of cases) {
      const response = await postToken(form, contentType);
      assert.equal(response.status, status, JSON.stringify(form));
      const body = (await response.json()) as { error: string; error_description: string };
      assert.equal(body.error, error, JSON.stringify(form));
      assert.ok(body.error_description.length > 0);
    }
  });

  it('GET for another service answers 403', async () => {
    const response = await request(base, '/v2/token?service=other&scope=repository:oauth/x:pull');
    assert.equal(response.status, 403);
    assert.equal(await errorCode(response), 'DENIED');
  });

  it('token endpoint allows GET and POST only', async () => {
    const response = await request(base, '/v2/token', { method: 'PUT', body: 'x' });
    assert.equal(response.status, 405);
  });

  it('expired or tampered token answers 401', async () => {
    const expired = signer.sign(
      'alice',
      'ocidrop-test',
      [{ type: 'repository', name: 'tokens/repo', actions: ['push'] }],
      60,
      Date.now() - 120_000,
    );
    assert.equal((await pushBlobAs(base, 'tokens/repo', 'late', `Bearer ${expired}`)).status, 401);
    const valid = signer.sign(
      'alice',
      'ocidrop-test',
      [{ type: 'repository', name: 'tokens/repo', actions: ['pull'] }],
      60,
    );
    const [head, , signature] = valid.split('.');
    const forged = `${head}.${Buffer.from(JSON.stringify({ sub: 'alice', access: [{ type: 'repository', name: 'tokens/repo', actions: ['push'] }] })).toString('base64url')}.${signature}`;
    assert.equal((await pushBlobAs(base, 'tokens/repo', 'forged', `Bearer ${forged}`)).status, 401);
  });
});

describe('read-only mode', () => {
  it('push and delete answer 405 UNSUPPORTED, pull works', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocidrop-readonly-'));
    try {
      const writable = await startEmbeddedRegistry(dir);
      const image = await pushImage(writable.url, 'ro/repo', 'v1', 'read-only layer');
      await writable.close();

      const readOnly = await startEmbeddedRegistry(dir, { readOnly: true });
      try {
        const push = await pushBlobAs(readOnly.url, 'ro/repo', 'new data');
        assert.equal(push.status, 405);
        assert.equal(await errorCode(push), 'UNSUPPORTED');
        const remove = await request(readOnly.url, `/v2/ro/repo/manifests/${image.digest}`, {
          method: 'DELETE',
        });
        assert.equal(remove.status, 405);
        const pull = await request(readOnly.url, '/v2/ro/repo/manifests/v1');
        assert.equal(pull.status, 200);
      } finally {
        await readOnly.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('skopeo with credentials', () => {
  let work: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidrop-skopeo-auth-'));
    const source = join(work, 'source');
    const registry = await startEmbeddedRegistry();
    try {
      await pushImage(registry.url, 'seed/image', 'v1', 'seed layer');
      await run('skopeo', [
        'copy',
        '--quiet',
        '--src-tls-verify=false',
        `docker://${registry.host}/seed/image:v1`,
        `oci:${source}:v1`,
      ]);
    } finally {
      await registry.close();
    }
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  for (const mode of ['basic', 'token'] as const) {
    it(`skopeo copy logs in with ${mode} authentication`, async () => {
      const access = createAccessPolicy({
        users: parseHtpasswd(HTPASSWD),
        ...(mode === 'token' ? { token: {} } : {}),
      });
      const registry = await startEmbeddedRegistry(undefined, { access });
      try {
        const target = `docker://${registry.host}/auth/${mode}:v1`;
        await assert.rejects(
          run('skopeo', [
            'copy',
            '--quiet',
            '--dest-tls-verify=false',
            `oci:${join(work, 'source')}:v1`,
            target,
          ]),
        );
        await run('skopeo', [
          'copy',
          '--quiet',
          '--dest-tls-verify=false',
          '--dest-creds',
          'alice:alice-secret',
          `oci:${join(work, 'source')}:v1`,
          target,
        ]);
        const { stdout } = await run('skopeo', [
          'list-tags',
          '--tls-verify=false',
          `docker://${registry.host}/auth/${mode}`,
        ]);
        assert.deepEqual((JSON.parse(stdout) as { Tags: string[] }).Tags, ['v1']);
        await assert.rejects(run('skopeo', ['delete', '--tls-verify=false', target]));
        await run('skopeo', ['delete', '--tls-verify=false', '--creds', 'alice:alice-secret', target]);
      } finally {
        await registry.close();
      }
    });
  }
});

describe('listen address', () => {
  it('loopback hosts are recognized', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]'])
      assert.equal(isLoopbackHost(host), true, host);
    for (const host of ['0.0.0.0', '192.0.2.1', '::', 'example.com'])
      assert.equal(isLoopbackHost(host), false, host);
  });
});

describe('htpasswd file', () => {
  it('loadHtpasswd reads users from a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocidrop-htpasswd-'));
    try {
      const path = join(dir, 'htpasswd');
      await writeFile(path, HTPASSWD);
      const users = await loadHtpasswd(path);
      assert.equal(await users.verify('bob', 'bob-secret'), true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
