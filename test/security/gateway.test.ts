/**
 * Threats against the download gateway. Artifacts carry markup or header breaks in their titles
 * and annotations, titles try to leave an archive, and signed links arrive expired, altered,
 * replayed for another file or platform, or signed by a retired key.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { LinkSigner, type SigningKey } from '../../src/gateway/signing.js';
import { parseHtpasswd } from '../../src/registry/htpasswd.js';
import { publishRelease } from '../gateway/publish.js';
import { type GatewayFixture, startGateway } from '../gateway/server.js';
import { standInExecutable } from '../helpers/fixtures.js';
import { basic, headerOf, rawRequest, shaLine } from './wire.js';

const run = promisify(execFile);

const SCRIPT = '<script>alert(1)</script>';
const IMAGE = '<img src=x onerror=alert(2)>';
const HEADER_BREAK = 'notes.txt"\r\nSet-Cookie: stolen=1\r\nX-Injected: 1';
const PROGRAM = standInExecutable('windows/amd64', '1.0.0');

/** Returns the entry names of a zip file's central directory (APPNOTE.TXT 4.3.12). */
function zipEntryNames(zip: Buffer): string[] {
  const names: string[] = [];
  for (
    let offset = zip.indexOf(CENTRAL_HEADER);
    offset >= 0;
    offset = zip.indexOf(CENTRAL_HEADER, offset + 4)
  ) {
    const nameLength = zip.readUInt16LE(offset + 28);
    names.push(zip.subarray(offset + 46, offset + 46 + nameLength).toString('utf8'));
  }
  return names;
}

const CENTRAL_HEADER = Buffer.from([0x50, 0x4b, 0x01, 0x02]);

describe('gateway markup and header injection', () => {
  let gateway: GatewayFixture;

  before(async () => {
    gateway = await startGateway();
    await publishRelease(
      gateway.registry.url,
      'evil',
      '1.0.0',
      [
        {
          platform: 'linux/amd64',
          files: [
            { name: `${SCRIPT}.bin`, data: Buffer.from('\x7fELF program'), main: true },
            { name: HEADER_BREAK, data: Buffer.from('notes') },
            { name: `"'><svg onload=alert(3)>`, data: Buffer.from('svg') },
          ],
        },
      ],
      {
        annotations: {
          'org.opencontainers.image.description': IMAGE,
          'org.opencontainers.image.source': 'javascript:alert(4)',
          'org.opencontainers.image.url': `https://example.com/"><script>alert(5)</script>`,
          'org.opencontainers.image.version': `1.0.0${SCRIPT}`,
        },
      },
    );
  });

  after(() => gateway.close());

  for (const path of ['/', '/evil', '/evil/1.0.0', '/evil/versions', '/evil/1.0.0/nowhere']) {
    it(`page ${path} carries no live markup`, async () => {
      const response = await fetch(`${gateway.url}${path}`, {
        headers: { Accept: 'text/html', 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64)' },
      });
      const body = await response.text();
      assert.ok(response.status < 500, `status ${response.status}`);
      assert.ok(!body.includes(SCRIPT), 'raw <script> from an artifact');
      assert.ok(!body.includes('<img src=x'), 'raw <img> from an annotation');
      assert.ok(!body.includes('<svg onload'), 'raw <svg> from a title');
      assert.ok(!/href\s*=\s*["']?javascript:/i.test(body), 'javascript: link from an annotation');
    });
  }

  it('page shows hostile titles as text', async () => {
    const body = await (
      await fetch(`${gateway.url}/evil/1.0.0`, { headers: { Accept: 'text/html' } })
    ).text();
    assert.ok(
      body.includes('&lt;script&gt;alert(1)&lt;/script&gt;.bin') ||
        body.includes('&lt;script&gt;alert(1)&lt;&#x2F;script&gt;.bin') ||
        body.includes('%3Cscript%3E'),
      'title shown escaped',
    );
  });

  it('page forbids inline scripts', async () => {
    const response = await fetch(`${gateway.url}/evil/1.0.0`, { headers: { Accept: 'text/html' } });
    await response.arrayBuffer();
    assert.match(response.headers.get('content-type') ?? '', /^text\/html; charset=utf-8/i);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
    const policy = response.headers.get('content-security-policy') ?? '';
    assert.match(policy, /default-src 'none'/);
    assert.doesNotMatch(policy, /script-src[^;]*'unsafe-inline'/);
  });

  it('JSON carries markup as inert data', async () => {
    const response = await fetch(`${gateway.url}/evil/1.0.0/release.json?os=linux&arch=amd64`);
    await response.arrayBuffer();
    assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
  });

  it('title with CRLF reaches no header', async () => {
    const target = `/evil/1.0.0/files/${encodeURIComponent(HEADER_BREAK)}`;
    const response = await rawRequest(gateway.url, 'GET', target);
    assert.ok(response.status < 500, `status ${response.status}: ${response.body.slice(0, 200)}`);
    assert.equal(headerOf(response, 'set-cookie'), undefined);
    assert.equal(headerOf(response, 'x-injected'), undefined);
    const disposition = headerOf(response, 'content-disposition');
    if (disposition !== undefined) assert.doesNotMatch(disposition, /[\r\n]|stolen=1"/);
  });

  it('platform hint named like an Object member is ignored', async () => {
    // The hint must change nothing: the answer is the one the User-Agent alone gets.
    const agent = 'Mozilla/5.0 (X11; Linux x86_64)';
    const baseline = await fetch(`${gateway.url}/evil/1.0.0/download`, { headers: { 'User-Agent': agent } });
    await baseline.arrayBuffer();
    for (const hint of ['__proto__', 'constructor']) {
      const response = await fetch(`${gateway.url}/evil/1.0.0/download`, {
        headers: { 'Sec-CH-UA-Platform': hint, 'User-Agent': agent },
      });
      const body = await response.text();
      assert.equal(response.status, baseline.status, `${hint}: ${body.slice(0, 200)}`);
      assert.doesNotMatch(body, /\[object Object\]|function Object/);
    }
  });

  it('download of a title with a slash is refused', async () => {
    const response = await rawRequest(gateway.url, 'GET', '/evil/1.0.0/download?os=linux&arch=amd64');
    assert.equal(response.status, 403);
    assert.match(response.body, /FILE_NAME_UNSAFE/);
    assert.equal(headerOf(response, 'content-disposition'), undefined);
  });

  it('download name is quoted safely', async () => {
    const title = encodeURIComponent(`"'><svg onload=alert(3)>`);
    const response = await rawRequest(gateway.url, 'GET', `/evil/1.0.0/files/${title}?os=linux&arch=amd64`);
    assert.equal(response.status, 200);
    const disposition = headerOf(response, 'content-disposition') ?? '';
    assert.match(disposition, /^attachment;/);
    const quoted = /filename="((?:[^"\\]|\\.)*)"/.exec(disposition);
    assert.ok(quoted, disposition);
    assert.doesNotMatch(quoted[1]!, /[\r\n/\\]/);
  });
});

describe('gateway archive entries', () => {
  let gateway: GatewayFixture;
  let folder: string;

  before(async () => {
    gateway = await startGateway();
    folder = await mkdtemp(join(tmpdir(), 'ocidrop-archive-'));
    await publishRelease(gateway.registry.url, 'slip', '1.0.0', [
      {
        platform: 'linux/amd64',
        files: [
          { name: 'hello', data: Buffer.from('\x7fELF program'), main: true },
          { name: '../../escaped.txt', data: Buffer.from('escaped') },
          { name: '/etc/cron.d/escaped', data: Buffer.from('absolute') },
          { name: 'sub/../../up.txt', data: Buffer.from('up') },
        ],
      },
    ]);
  });

  after(async () => {
    await gateway.close();
    await rm(folder, { recursive: true, force: true });
  });

  for (const format of ['tar.gz', 'zip'] as const) {
    it(`${format} archive has no entry outside its folder`, async () => {
      const response = await fetch(`${gateway.url}/slip/1.0.0/archive.${format}?os=linux&arch=amd64`);
      const bytes = Buffer.from(await response.arrayBuffer());
      if (response.status !== 200) {
        // Rejecting the release outright is a defence too, as long as it is not a crash.
        assert.ok(response.status >= 400 && response.status < 500, `status ${response.status}`);
        return;
      }
      const file = join(folder, `archive.${format}`);
      await writeFile(file, bytes);
      const entries =
        format === 'zip'
          ? zipEntryNames(bytes)
          : (await run('tar', ['-tzf', file])).stdout.split('\n').filter((entry) => entry !== '');
      assert.ok(entries.length > 0);
      for (const entry of entries) {
        assert.ok(!entry.startsWith('/'), `absolute entry ${entry}`);
        assert.ok(!entry.split(/[\\/]/).includes('..'), `entry ${entry} climbs out`);
      }
    });
  }

  it('extracted archive stays inside its folder', async () => {
    const response = await fetch(`${gateway.url}/slip/1.0.0/archive.tar.gz?os=linux&arch=amd64`);
    if (response.status !== 200) return;
    const target = join(folder, 'a', 'b', 'out');
    await mkdir(target, { recursive: true });
    await writeFile(join(folder, 'x.tar.gz'), Buffer.from(await response.arrayBuffer()));
    // -P keeps absolute and `..` names as written, so only the gateway's own naming keeps this inside.
    await run('tar', ['-xzPf', join(folder, 'x.tar.gz'), '-C', target]).catch(() => undefined);
    assert.deepEqual(await readdir(join(folder, 'a', 'b')), ['out']);
    assert.deepEqual(await readdir(join(folder, 'a')), ['b']);
  });
});

describe('gateway private repositories and signed links', () => {
  const current: SigningKey = { id: 'key-2', secret: randomBytes(32) };
  const retired: SigningKey = { id: 'key-1', secret: randomBytes(32) };
  const users = parseHtpasswd(`${shaLine('alice', 'alice-secret')}\n`);
  let gateway: GatewayFixture;
  let rotated: GatewayFixture;
  const path = '/private/app/1.0.0/download';

  before(async () => {
    const access = { isPrivate: (name: string) => name.startsWith('private/'), users };
    gateway = await startGateway({ access: { ...access, signer: new LinkSigner([current, retired]) } });
    rotated = await startGateway({ access: { ...access, signer: new LinkSigner([current]) } }, undefined);
    for (const url of [gateway.registry.url, rotated.registry.url]) {
      await publishRelease(url, 'private/app', '1.0.0', [
        {
          platform: 'windows/amd64',
          files: [
            { name: 'app.exe', data: PROGRAM, main: true },
            { name: 'notes.txt', data: Buffer.from('notes') },
          ],
        },
        { platform: 'linux/amd64', files: [{ name: 'app', data: Buffer.from('\x7fELF linux'), main: true }] },
      ]);
    }
  });

  after(async () => {
    await gateway.close();
    await rotated.close();
  });

  function signed(
    key: SigningKey,
    signedPath: string,
    platform: string,
    expiresInMs = 600_000,
  ): URLSearchParams {
    return new LinkSigner([key]).sign(signedPath, new Date(Date.now() + expiresInMs), platform);
  }

  async function get(base: string, target: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${base}${target}`, { headers: { Accept: 'text/html', ...headers }, redirect: 'manual' });
  }

  it('valid link opens the private download', async () => {
    const query = signed(current, path, 'windows/amd64');
    const response = await get(gateway.url, `${path}?os=windows&arch=amd64&${query}`);
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), PROGRAM);
  });

  it('no link and no user gets a challenge', async () => {
    const response = await get(gateway.url, `${path}?os=windows&arch=amd64`);
    const body = await response.text();
    assert.equal(response.status, 401);
    assert.match(response.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    assert.ok(!body.includes('app.exe'), 'the challenge page lists private files');
  });

  it('private page hides its files', async () => {
    const response = await get(gateway.url, '/private/app');
    const body = await response.text();
    assert.equal(response.status, 401);
    assert.ok(!body.includes('notes.txt'));
  });

  it('repository list hides private repositories', async () => {
    const body = await (await get(gateway.url, '/')).text();
    assert.ok(!body.includes('private/app'), 'private repository listed on /');
  });

  it('wrong password gets a challenge', async () => {
    const response = await get(gateway.url, `${path}?os=windows&arch=amd64`, {
      Authorization: basic('alice', 'wrong'),
    });
    await response.arrayBuffer();
    assert.equal(response.status, 401);
  });

  it('right password opens the download', async () => {
    const response = await get(gateway.url, `${path}?os=windows&arch=amd64`, {
      Authorization: basic('alice', 'alice-secret'),
    });
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  });

  it('expired link is rejected', async () => {
    const query = signed(current, path, 'windows/amd64', -1000);
    const response = await get(gateway.url, `${path}?os=windows&arch=amd64&${query}`);
    const body = await response.text();
    assert.equal(response.status, 403);
    assert.match(body, /expired/);
  });

  it('link with an altered expiry is rejected', async () => {
    const query = signed(current, path, 'windows/amd64', -1000);
    query.set('expires', String(Number(query.get('expires')) + 86_400));
    const response = await get(gateway.url, `${path}?os=windows&arch=amd64&${query}`);
    await response.arrayBuffer();
    assert.equal(response.status, 403);
  });

  it('link with an altered signature is rejected', async () => {
    const query = signed(current, path, 'windows/amd64');
    const sig = query.get('sig')!;
    query.set('sig', `${sig[0] === 'A' ? 'B' : 'A'}${sig.slice(1)}`);
    const response = await get(gateway.url, `${path}?os=windows&arch=amd64&${query}`);
    await response.arrayBuffer();
    assert.equal(response.status, 403);
  });

  it('link replayed for another file is rejected', async () => {
    const query = signed(current, path, 'windows/amd64');
    const response = await get(
      gateway.url,
      `/private/app/1.0.0/files/notes.txt?os=windows&arch=amd64&${query}`,
    );
    const body = await response.text();
    assert.equal(response.status, 403);
    assert.ok(!body.startsWith('notes'), 'the replayed link served the other file');
  });

  it('link replayed for another version is rejected', async () => {
    const query = signed(current, '/private/app/latest/download', 'windows/amd64');
    const response = await get(gateway.url, `${path}?os=windows&arch=amd64&${query}`);
    await response.arrayBuffer();
    assert.equal(response.status, 403);
  });

  it('link replayed for another platform is rejected', async () => {
    const query = signed(current, path, 'windows/amd64');
    const response = await get(gateway.url, `${path}?os=linux&arch=amd64&${query}`);
    await response.arrayBuffer();
    assert.equal(response.status, 403);
  });

  it('link without a platform cannot pick one', async () => {
    const query = signed(current, path, '');
    const response = await get(gateway.url, `${path}?os=linux&arch=amd64&${query}`);
    await response.arrayBuffer();
    assert.equal(response.status, 403);
  });

  it('link of a retired key is rejected', async () => {
    const query = signed(retired, path, 'windows/amd64');
    const before = await get(gateway.url, `${path}?os=windows&arch=amd64&${query}`);
    await before.arrayBuffer();
    assert.equal(before.status, 200, 'a key that is still listed verifies');
    const response = await get(rotated.url, `${path}?os=windows&arch=amd64&${query}`);
    const body = await response.text();
    assert.equal(response.status, 403);
    assert.match(body, /not valid/);
  });

  it('link of the current key outlives rotation', async () => {
    const query = signed(current, path, 'windows/amd64');
    const response = await get(rotated.url, `${path}?os=windows&arch=amd64&${query}`);
    await response.arrayBuffer();
    assert.equal(response.status, 200);
  });

  it('link signature never reaches the page', async () => {
    const query = signed(current, '/private/app/1.0.0', '');
    const response = await get(gateway.url, `/private/app/1.0.0?${query}`);
    const body = await response.text();
    assert.ok(!body.includes(query.get('sig')!), 'the signature is echoed into the page');
  });
});
