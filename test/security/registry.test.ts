/**
 * Threats against the embedded registry over its HTTP API: paths that try to leave the data folder,
 * names that try to inject response headers, requests without the right credentials, and bodies
 * and headers larger than the registry accepts.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseHtpasswd } from '../../src/registry/htpasswd.js';
import { createAccessPolicy } from '../../src/registry/policy.js';
import { TokenSigner } from '../../src/registry/token.js';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { basic, headerOf, rawRequest, sha256, shaLine } from './wire.js';

const SECRET = 'top secret outside the data folder';
const CONFIG = '{}';
const LAYER = 'layer bytes of app';

function manifestOf(layer: string): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: sha256(CONFIG),
      size: CONFIG.length,
    },
    layers: [
      { mediaType: 'application/octet-stream', digest: sha256(layer), size: Buffer.byteLength(layer) },
    ],
  });
}

/** Pushes the config, one layer and a manifest under `tag`, with `authorization` when given. */
async function pushImage(base: string, name: string, tag: string, authorization?: string): Promise<string> {
  const headers: Record<string, string> = authorization ? { Authorization: authorization } : {};
  for (const blob of [CONFIG, LAYER]) {
    const response = await fetch(`${base}/v2/${name}/blobs/uploads/?digest=${sha256(blob)}`, {
      method: 'POST',
      headers,
      body: blob,
    });
    assert.equal(response.status, 201, `blob push to ${name}: ${await response.text()}`);
  }
  const manifest = manifestOf(LAYER);
  const response = await fetch(`${base}/v2/${name}/manifests/${tag}`, {
    method: 'PUT',
    headers: { ...headers, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
  });
  assert.equal(response.status, 201, `manifest push to ${name}:${tag}`);
  return sha256(manifest);
}

async function listTree(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { recursive: true });
  return entries.map(String).sort();
}

describe('registry path traversal', () => {
  let root: string;
  let registry: EmbeddedRegistry;
  let sessionPath: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'ocidrop-security-'));
    await writeFile(join(root, 'secret.txt'), SECRET);
    await mkdir(join(root, 'data'));
    registry = await startEmbeddedRegistry(join(root, 'data'));
    await pushImage(registry.url, 'app', '1.0.0');
    const started = await fetch(`${registry.url}/v2/app/blobs/uploads/`, { method: 'POST' });
    sessionPath = started.headers.get('location')!;
  });

  after(async () => {
    await registry.close();
    await rm(root, { recursive: true, force: true });
  });

  const digestOfSecret = sha256(SECRET);
  const cases: [string, string, string?][] = [
    ['GET', '/v2/../secret.txt/manifests/latest'],
    ['GET', '/v2/app/../../secret.txt/manifests/latest'],
    ['GET', '/v2/%2e%2e/%2e%2e/secret.txt/tags/list'],
    ['GET', '/v2/app/%2e%2e/%2e%2e/%2e%2e/tags/list'],
    ['GET', '/v2/app/manifests/..%2F..%2F..%2Fsecret.txt'],
    ['GET', '/v2/app/manifests/..'],
    ['GET', '/v2/app/manifests/%2e%2e%5c%2e%2e%5csecret.txt'],
    ['GET', '/v2/app/blobs/sha256:..%2f..%2f..%2fsecret.txt'],
    ['GET', `/v2/app/blobs/${digestOfSecret.replace('sha256:', 'sha256:../../')}`],
    ['GET', '/v2/app/blobs/uploads/..%2F..%2F..%2Fsecret.txt'],
    ['GET', '/v2/app/blobs/uploads/..'],
    ['PATCH', '/v2/app/blobs/uploads/..%2F..%2Fescaped', 'data'],
    ['PUT', `/v2/app/blobs/uploads/..%2F..%2Fescaped?digest=${sha256('x')}`, 'x'],
    ['DELETE', '/v2/app/blobs/uploads/..%2F..%2Fdata'],
    ['PUT', '/v2/app/manifests/..%2F..%2Fescaped', manifestOf(LAYER)],
    ['PUT', '/v2/%2e%2e/manifests/latest', manifestOf(LAYER)],
    ['POST', '/v2/..%2F..%2Fescaped/blobs/uploads/', ''],
    ['DELETE', '/v2/app/manifests/..%2F..%2F..%2Fsecret.txt'],
    ['DELETE', '/v2/app/blobs/sha256:..%2F..%2F..%2Fsecret.txt'],
    ['GET', '/v2/APP/manifests/1.0.0'],
    ['GET', `/v2/${'a/'.repeat(200)}a/manifests/latest`],
  ];

  for (const [method, target, body] of cases) {
    it(`${method} ${target.slice(0, 60)} stays inside`, async () => {
      const before = await listTree(root);
      const response = await rawRequest(
        registry.url,
        method,
        target,
        { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
        body ?? '',
      );
      assert.ok(
        response.status >= 400 && response.status < 500,
        `status ${response.status}: ${response.body}`,
      );
      assert.ok(!response.body.includes(SECRET));
      assert.deepEqual(await listTree(root), before);
    });
  }

  it('upload session of another repository is unknown', async () => {
    await fetch(`${registry.url}/v2/other/blobs/uploads/`, { method: 'POST' }).then((r) => r.arrayBuffer());
    const foreign = sessionPath.replace('/v2/app/', '/v2/other/');
    const response = await rawRequest(registry.url, 'GET', foreign);
    assert.equal(response.status, 404);
    assert.match(response.body, /BLOB_UPLOAD_UNKNOWN/);
  });

  it('blob of another repository is unknown', async () => {
    const response = await rawRequest(registry.url, 'GET', `/v2/other/blobs/${sha256(LAYER)}`);
    assert.equal(response.status, 404);
    assert.match(response.body, /BLOB_UNKNOWN/);
  });
});

describe('registry header injection', () => {
  let registry: EmbeddedRegistry;

  before(async () => {
    registry = await startEmbeddedRegistry();
    await pushImage(registry.url, 'app', 'a');
    await pushImage(registry.url, 'app', 'b');
  });

  after(() => registry.close());

  const injected = (response: Parameters<typeof headerOf>[0]): boolean =>
    response.headers.some(([name]) => name === 'x-injected' || name === 'set-cookie');

  it('tag with CRLF is rejected', async () => {
    const response = await rawRequest(
      registry.url,
      'PUT',
      '/v2/app/manifests/v1%0d%0aX-Injected:%201',
      {},
      manifestOf(LAYER),
    );
    assert.equal(response.status, 400);
    assert.equal(injected(response), false);
  });

  it('repository with CRLF is rejected', async () => {
    const response = await rawRequest(registry.url, 'POST', '/v2/app%0d%0aX-Injected:%201/blobs/uploads/');
    assert.equal(response.status, 400);
    assert.match(response.body, /NAME_INVALID/);
    assert.equal(injected(response), false);
  });

  it('upload Location holds only the name and a UUID', async () => {
    const response = await rawRequest(registry.url, 'POST', '/v2/app/blobs/uploads/');
    assert.equal(response.status, 202);
    assert.match(
      headerOf(response, 'location') ?? '',
      /^\/v2\/app\/blobs\/uploads\/[0-9a-f-]{36}(?:\?[A-Za-z0-9=&_%.-]*)?$/,
    );
  });

  it('Link header escapes last', async () => {
    const response = await rawRequest(
      registry.url,
      'GET',
      '/v2/app/tags/list?n=1&last=%0d%0aX-Injected:%201',
    );
    assert.equal(injected(response), false);
    const link = headerOf(response, 'link');
    if (link !== undefined) assert.doesNotMatch(link, /[\r\n]/);
  });

  it('Link header names the next page only', async () => {
    const response = await rawRequest(registry.url, 'GET', '/v2/app/tags/list?n=1');
    assert.equal(response.status, 200);
    assert.equal(headerOf(response, 'link'), '</v2/app/tags/list?n=1&last=a>; rel="next"');
  });
});

describe('registry authorization', () => {
  let registry: EmbeddedRegistry;
  let tokens: EmbeddedRegistry;
  const signer = new TokenSigner('ocidrop');
  const alice = basic('alice', 'alice-secret');
  const wrong = basic('alice', 'bob-secret');
  const bob = basic('bob', 'bob-secret');
  const users = parseHtpasswd(
    [shaLine('alice', 'alice-secret'), shaLine('bob', 'bob-secret'), ''].join('\n'),
  );
  const rules = [
    { prefix: '', pull: '*' as const, push: 'authenticated' as const, delete: 'authenticated' as const },
    { prefix: 'private', pull: ['alice'], push: ['alice'], delete: ['alice'] },
  ];
  let session: string;

  before(async () => {
    registry = await startEmbeddedRegistry(undefined, { access: createAccessPolicy({ users, rules }) });
    tokens = await startEmbeddedRegistry(undefined, {
      access: createAccessPolicy({ users, rules, token: { signer } }),
    });
    await pushImage(registry.url, 'private/app', '1.0.0', alice);
    const started = await fetch(`${registry.url}/v2/private/app/blobs/uploads/`, {
      method: 'POST',
      headers: { Authorization: alice },
    });
    assert.equal(started.status, 202);
    session = started.headers.get('location')!;
  });

  after(async () => {
    await registry.close();
    await tokens.close();
  });

  const digest = sha256(LAYER);
  const writes: [string, () => string, string?][] = [
    ['POST', () => '/v2/private/app/blobs/uploads/'],
    ['POST', () => `/v2/private/app/blobs/uploads/?digest=${digest}`, LAYER],
    ['POST', () => `/v2/private/app/blobs/uploads/?mount=${digest}&from=private/app`],
    ['PATCH', () => session, 'chunk'],
    ['PUT', () => `${session}${session.includes('?') ? '&' : '?'}digest=${sha256('')}`],
    ['DELETE', () => session],
    ['PUT', () => '/v2/private/app/manifests/2.0.0', manifestOf(LAYER)],
    ['DELETE', () => '/v2/private/app/manifests/1.0.0'],
    ['DELETE', () => `/v2/private/app/blobs/${digest}`],
  ];
  const reads: [string, () => string][] = [
    ['GET', () => '/v2/private/app/manifests/1.0.0'],
    ['HEAD', () => '/v2/private/app/manifests/1.0.0'],
    ['GET', () => `/v2/private/app/blobs/${digest}`],
    ['HEAD', () => `/v2/private/app/blobs/${digest}`],
    ['GET', () => '/v2/private/app/tags/list'],
    ['GET', () => `/v2/private/app/referrers/${digest}`],
    ['GET', () => session],
  ];
  const contentType = { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' };

  for (const [index, [method, target, body]] of [...writes, ...reads].entries()) {
    const label = `${method} ${index < writes.length ? 'write' : 'read'} ${index}`;
    it(`${label} without credentials`, async () => {
      const response = await rawRequest(registry.url, method, target(), contentType, body ?? '');
      assert.equal(response.status, 401, `${method} ${target()}`);
      assert.match(headerOf(response, 'www-authenticate') ?? '', /^Basic realm=/);
    });

    it(`${label} with a wrong password`, async () => {
      const response = await rawRequest(
        registry.url,
        method,
        target(),
        { ...contentType, Authorization: wrong },
        body ?? '',
      );
      assert.equal(response.status, 401);
    });

    it(`${label} as a user without the right`, async () => {
      const response = await rawRequest(
        registry.url,
        method,
        target(),
        { ...contentType, Authorization: bob },
        body ?? '',
      );
      assert.equal(response.status, 403);
      if (method !== 'HEAD') assert.match(response.body, /DENIED/);
    });
  }

  it('catalog hides private repositories', async () => {
    const anonymous = await rawRequest(registry.url, 'GET', '/v2/_catalog');
    assert.ok(!anonymous.body.includes('private/app'), anonymous.body);
    const owner = await rawRequest(registry.url, 'GET', '/v2/_catalog', { Authorization: alice });
    assert.ok(owner.body.includes('private/app'), owner.body);
  });

  it('owner may read what others may not', async () => {
    const response = await rawRequest(registry.url, 'GET', '/v2/private/app/manifests/1.0.0', {
      Authorization: alice,
    });
    assert.equal(response.status, 200);
  });

  const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
  const audience = 'ocidrop';
  const tokenCases: [string, () => string][] = [
    [
      'expired token',
      () =>
        signer.sign(
          'alice',
          audience,
          [{ type: 'repository', name: 'private/app', actions: ['pull', 'push'] }],
          60,
          Date.now() - 3_600_000,
        ),
    ],
    [
      'token of another key',
      () =>
        new TokenSigner('ocidrop').sign(
          'alice',
          audience,
          [{ type: 'repository', name: 'private/app', actions: ['pull', 'push'] }],
          300,
        ),
    ],
    [
      'token for another service',
      () =>
        signer.sign(
          'alice',
          'elsewhere',
          [{ type: 'repository', name: 'private/app', actions: ['pull', 'push'] }],
          300,
        ),
    ],
    [
      'token with pull scope only',
      () =>
        signer.sign('alice', audience, [{ type: 'repository', name: 'private/app', actions: ['pull'] }], 300),
    ],
    [
      'token for another repository',
      () =>
        signer.sign(
          'alice',
          audience,
          [{ type: 'repository', name: 'private/other', actions: ['pull', 'push'] }],
          300,
        ),
    ],
    [
      'token with altered claims',
      () => {
        const token = signer.sign(
          'bob',
          audience,
          [{ type: 'repository', name: 'private/app', actions: ['pull'] }],
          300,
        );
        const [head, body, signature] = token.split('.') as [string, string, string];
        const claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
        claims.access[0].actions = ['pull', 'push'];
        return `${head}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
      },
    ],
  ];

  for (const [name, token] of tokenCases) {
    it(`push with ${name} is rejected`, async () => {
      const response = await rawRequest(
        tokens.url,
        'POST',
        '/v2/private/app/blobs/uploads/',
        bearer(token()),
      );
      assert.ok(response.status === 401 || response.status === 403, `status ${response.status}`);
      assert.match(headerOf(response, 'www-authenticate') ?? 'Bearer', /^Bearer /);
    });
  }

  it('push with a matching token succeeds', async () => {
    const token = signer.sign(
      'alice',
      audience,
      [{ type: 'repository', name: 'private/app', actions: ['pull', 'push'] }],
      300,
    );
    const response = await rawRequest(tokens.url, 'POST', '/v2/private/app/blobs/uploads/', bearer(token));
    assert.equal(response.status, 202);
  });

  it('token endpoint rejects a wrong password', async () => {
    const response = await rawRequest(
      tokens.url,
      'GET',
      '/v2/token?service=ocidrop&scope=repository:private/app:push',
      { Authorization: wrong },
    );
    assert.equal(response.status, 401);
    assert.doesNotMatch(response.body, /"token"/);
  });

  it('token endpoint grants only allowed actions', async () => {
    const response = await rawRequest(
      tokens.url,
      'GET',
      '/v2/token?service=ocidrop&scope=repository:private/app:pull,push',
      { Authorization: bob },
    );
    assert.equal(response.status, 200);
    const { token } = JSON.parse(response.body) as { token: string };
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8'));
    const granted = (claims.access as { actions: string[] }[]).flatMap((entry) => entry.actions);
    assert.deepEqual(granted, []);
  });
});

describe('registry limits', () => {
  let registry: EmbeddedRegistry;

  before(async () => {
    registry = await startEmbeddedRegistry();
  });

  after(() => registry.close());

  it('manifest over 4 MiB with a length is rejected', async () => {
    const body = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const response = await fetch(`${registry.url}/v2/app/manifests/big`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body,
    });
    assert.equal(response.status, 413);
  });

  it('manifest over 4 MiB without a length is cut off', async () => {
    let sent = 0;
    const chunk = Buffer.alloc(256 * 1024, 0x20);
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        // Stops at 64 MiB so a registry without a limit ends the test instead of filling the disk.
        if (sent >= 64 * 1024 * 1024) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const response = await fetch(`${registry.url}/v2/app/manifests/big`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: stream,
      duplex: 'half',
    } as RequestInit).catch((error: Error) => error);
    if (response instanceof Error) {
      assert.ok(sent < 64 * 1024 * 1024, 'the registry read the whole body before it stopped');
      return;
    }
    assert.equal(response.status, 413);
    assert.ok(sent < 64 * 1024 * 1024);
  });

  it('headers over 16 KiB are rejected', async () => {
    const response = await rawRequest(registry.url, 'GET', '/v2/', { 'X-Padding': 'a'.repeat(64 * 1024) });
    assert.equal(response.status, 431);
  });

  it('upload sessions per repository are capped', async () => {
    const statuses = new Set<number>();
    let rejected: Response | undefined;
    for (let i = 0; i < 2000 && !statuses.has(429); i++) {
      const response = await fetch(`${registry.url}/v2/flood/blobs/uploads/`, { method: 'POST' });
      const body = await response.text();
      statuses.add(response.status);
      if (response.status === 429) {
        rejected = response;
        assert.match(body, /"code":"TOOMANYREQUESTS"/);
      }
    }
    assert.ok(statuses.has(429), `statuses seen: ${[...statuses].join(', ')}`);
    assert.match(rejected?.headers.get('retry-after') ?? '', /^\d+$/);

    // Another repository still has room under the global cap.
    const other = await fetch(`${registry.url}/v2/other/blobs/uploads/`, { method: 'POST' });
    await other.arrayBuffer();
    assert.equal(other.status, 202);
  });
});
