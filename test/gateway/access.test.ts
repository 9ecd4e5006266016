import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { LinkSigner, type SigningKey } from '../../src/gateway/signing.js';
import { parseHtpasswd } from '../../src/registry/htpasswd.js';
import { skipUnless } from '../helpers/tools.js';
import { type PublishedFiles, publishFixtures } from './publish.js';
import { type GatewayFixture, startGateway } from './server.js';

const run = promisify(execFile);
const skip = skipUnless('htpasswd');

const LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const CURRENT: SigningKey = { id: 'k2', secret: Buffer.alloc(32, 2) };
const PREVIOUS: SigningKey = { id: 'k1', secret: Buffer.alloc(32, 1) };
const RETIRED: SigningKey = { id: 'k0', secret: Buffer.alloc(32, 9) };
const HOUR = 3_600_000;

let gateway: GatewayFixture;
let files: PublishedFiles;

/** Signs `path` (with its platform query, if any) the way `ocidrop link` does. */
function signed(path: string, options: { key?: SigningKey; expires?: Date; platform?: string } = {}): string {
  const signer = new LinkSigner([options.key ?? CURRENT]);
  const [pathname = '', search = ''] = path.split('?');
  const query = new URLSearchParams(search);
  const expires = options.expires ?? new Date(Date.now() + HOUR);
  for (const [name, value] of signer.sign(pathname, expires, options.platform ?? '')) query.set(name, value);
  return `${pathname}?${query.toString()}`;
}

function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gateway.url}${path}`, { headers: { 'user-agent': LINUX, ...headers }, redirect: 'manual' });
}

function basic(user: string, password: string): Record<string, string> {
  return { authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` };
}

before(async () => {
  if (skip) return;
  const { stdout } = await run('htpasswd', ['-nbB', 'alice', 'correct horse']);
  const users = parseHtpasswd(stdout);
  gateway = await startGateway({
    access: {
      isPrivate: (name) => name === 'secret',
      users,
      signer: new LinkSigner([CURRENT, PREVIOUS]),
    },
  });
  files = await publishFixtures(gateway.registry.url, 'secret');
  await publishFixtures(gateway.registry.url, 'open');
});

after(async () => {
  await gateway?.close();
});

describe('private repository', { skip }, () => {
  it('anonymous visitor gets a sign-in challenge', async () => {
    const response = await get('/secret');
    assert.equal(response.status, 401);
    assert.match(response.headers.get('www-authenticate') ?? '', /^Basic realm="ocidrop"/);
    assert.match(await response.text(), /secret is private/);
  });

  it('anonymous download is refused', async () => {
    const response = await get('/secret/1.1.0/download');
    assert.equal(response.status, 401);
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'UNAUTHORIZED');
  });

  it('wrong password is refused', async () => {
    const response = await get('/secret/1.1.0/download', basic('alice', 'wrong'));
    assert.equal(response.status, 401);
  });

  it('unknown user is refused', async () => {
    const response = await get('/secret/1.1.0/download', basic('mallory', 'correct horse'));
    assert.equal(response.status, 401);
  });

  it('right password downloads', async () => {
    const response = await get('/secret/1.1.0/download', basic('alice', 'correct horse'));
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), files['1.1.0']!['linux/amd64']!['hello']);
    assert.equal(response.headers.get('cache-control'), 'private, no-store');
  });

  it('listing hides it from anonymous visitors', async () => {
    const page = await (await get('/')).text();
    assert.match(page, /href="\/open"/);
    assert.doesNotMatch(page, /secret/);
  });

  it('listing shows it to a signed-in user', async () => {
    const page = await (await get('/', basic('alice', 'correct horse'))).text();
    assert.match(page, /href="\/secret"/);
  });

  it('public repository needs no credentials', async () => {
    const response = await get('/open/1.1.0/download');
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  });
});

describe('signed links', { skip }, () => {
  it('valid link downloads a private file', async () => {
    const response = await get(signed('/secret/1.1.0/download'));
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), files['1.1.0']!['linux/amd64']!['hello']);
    assert.equal(response.headers.get('cache-control'), 'private, no-store');
  });

  it('link to latest serves in place', async () => {
    const response = await get(signed('/secret/latest/download'));
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), files['1.1.0']!['linux/amd64']!['hello']);
  });

  it('link pinned to a platform serves that build', async () => {
    const response = await get(
      signed('/secret/1.0.0/download?os=windows&arch=amd64', { platform: 'windows/amd64' }),
    );
    assert.equal(response.status, 200);
    assert.deepEqual(
      Buffer.from(await response.arrayBuffer()),
      files['1.0.0']!['windows/amd64']!['hello.exe'],
    );
  });

  it('expired link gets a page with the date', async () => {
    const expires = new Date('2026-01-02T03:04:00Z');
    const response = await get(signed('/secret/1.1.0', { expires }));
    assert.equal(response.status, 403);
    const page = await response.text();
    assert.match(page, /This link expired/);
    assert.match(page, /this link expired on 2026-01-02 03:04 UTC/);
  });

  it('altered signature is not valid', async () => {
    const link = signed('/secret/1.1.0/download');
    const sig = new URLSearchParams(link.split('?')[1]).get('sig')!;
    const altered = link.replace(`sig=${sig}`, `sig=${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`);
    const response = await get(altered);
    assert.equal(response.status, 403);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'LINK_INVALID');
    assert.match(body.error.message, /this link is not valid/);
  });

  it('extended expiry is not valid', async () => {
    const link = signed('/secret/1.1.0/download');
    const expires = new URLSearchParams(link.split('?')[1]).get('expires')!;
    const response = await get(link.replace(`expires=${expires}`, `expires=${Number(expires) + 86_400}`));
    assert.equal(response.status, 403);
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'LINK_INVALID');
  });

  it('page for an altered link says it is not valid', async () => {
    const link = signed('/secret/1.1.0').replace('sig=', 'sig=x');
    const response = await get(link);
    assert.equal(response.status, 403);
    assert.match(await response.text(), /This link is not valid/);
  });

  it('cannot be replayed for another file', async () => {
    const link = signed('/secret/1.1.0/download');
    const response = await get(link.replace('/download?', '/files/hello.toml?'));
    assert.equal(response.status, 403);
    await response.arrayBuffer();
  });

  it('cannot be replayed for another version', async () => {
    const link = signed('/secret/1.1.0/download');
    const response = await get(link.replace('/1.1.0/', '/1.0.0/'));
    assert.equal(response.status, 403);
    await response.arrayBuffer();
  });

  it('cannot be replayed for another platform', async () => {
    const link = signed('/secret/1.1.0/download?os=linux&arch=amd64', { platform: 'linux/amd64' });
    const response = await get(link.replace('os=linux', 'os=darwin').replace('arch=amd64', 'arch=arm64'));
    assert.equal(response.status, 403);
    await response.arrayBuffer();
  });

  it('unpinned link cannot gain a platform', async () => {
    const response = await get(`${signed('/secret/1.1.0/download')}&os=windows&arch=amd64`);
    assert.equal(response.status, 403);
    await response.arrayBuffer();
  });

  it('previous key still verifies', async () => {
    const response = await get(signed('/secret/1.1.0/download', { key: PREVIOUS }));
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  });

  it('retired key is refused', async () => {
    const response = await get(signed('/secret/1.1.0/download', { key: RETIRED }));
    assert.equal(response.status, 403);
    const body = (await response.json()) as { error: { message: string } };
    assert.match(body.error.message, /key is unknown or was retired/);
  });

  it('key id swapped to another key is refused', async () => {
    const link = signed('/secret/1.1.0/download', { key: PREVIOUS }).replace('kid=k1', 'kid=k2');
    const response = await get(link);
    assert.equal(response.status, 403);
    await response.arrayBuffer();
  });

  it('missing parameter is refused', async () => {
    const link = signed('/secret/1.1.0/download').replace(/&?kid=[^&]+/, '');
    const response = await get(link);
    assert.equal(response.status, 403);
    await response.arrayBuffer();
  });
});
