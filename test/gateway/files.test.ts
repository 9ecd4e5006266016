/**
 * How the gateway offers files that need more than a plain name: packed folders, files that every
 * platform ships, titles that are not plain file names, and the `current` check of `latest.json`.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { OCI_LAYER_TAR_GZIP } from '../../src/oci/media-types.js';
import { type PublishedFiles, publishFixtures, publishRelease } from './publish.js';
import { type GatewayFixture, startGateway } from './server.js';

const run = promisify(execFile);
const CURL = 'curl/8.5.0';
const FOLDER = gzipSync(Buffer.from('a packed folder stands in here\n'));
const UNSAFE_TITLES = ['../evil', '..', 'a/b', '/etc/passwd'];

let gateway: GatewayFixture;
let files: PublishedFiles;

function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gateway.url}${path}`, { headers, redirect: 'manual' });
}

before(async () => {
  gateway = await startGateway();
  const registry = gateway.registry.url;
  files = await publishFixtures(registry, 'hello');

  await publishRelease(registry, 'fonts', '1.0.0', [
    {
      platform: 'linux/amd64',
      files: [
        { name: 'app', data: Buffer.from('program\n'), main: true },
        {
          name: 'fonts',
          data: FOLDER,
          mediaType: OCI_LAYER_TAR_GZIP,
          annotations: {
            'org.opencontainers.image.title': 'fonts',
            'io.deis.oras.content.unpack': 'true',
          },
        },
      ],
    },
  ]);

  await publishRelease(registry, 'unsafe', '1.0.0', [
    {
      platform: 'linux/amd64',
      files: [
        { name: 'app', data: Buffer.from('program\n'), main: true },
        { name: '.env', data: Buffer.from('KEY=value\n') },
        ...UNSAFE_TITLES.map((name, i) => ({ name, data: Buffer.from(`unsafe ${i}\n`) })),
      ],
    },
  ]);
  await publishRelease(registry, 'unsafe-main', '1.0.0', [
    { platform: 'linux/amd64', files: [{ name: '../app', data: Buffer.from('program\n'), main: true }] },
  ]);
});

after(async () => {
  await gateway?.close();
});

describe('packed folder', () => {
  it('is offered as a .tar.gz file', async () => {
    for (const path of ['/fonts/1.0.0/files/fonts', '/fonts/1.0.0/files/fonts.tar.gz']) {
      const response = await get(path);
      assert.equal(response.status, 200, path);
      assert.match(
        response.headers.get('content-disposition') ?? '',
        /^attachment; filename="fonts\.tar\.gz"/,
      );
      assert.deepEqual(Buffer.from(await response.arrayBuffer()), FOLDER);
    }
  });

  it('is named .tar.gz on the page and in latest.json', async () => {
    const page = await (await get('/fonts/1.0.0')).text();
    assert.match(
      page,
      /href="\/fonts\/1\.0\.0\/files\/fonts\.tar\.gz\?os=linux&amp;arch=amd64">fonts\.tar\.gz</,
    );

    const body = (await (await get('/fonts/latest.json?os=linux&arch=amd64')).json()) as {
      files: { name: string; url: string }[];
    };
    const names = body.files.map((file) => file.name);
    assert.deepEqual(names, ['app', 'fonts.tar.gz']);
    assert.match(body.files[1]!.url, /\/files\/fonts\.tar\.gz\?/);
  });

  it('goes into archives as fonts.tar.gz', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocidrop-archive-'));
    try {
      const response = await get('/fonts/1.0.0/archive.tar.gz?os=linux&arch=amd64');
      assert.equal(response.status, 200);
      await writeFile(join(dir, 'a.tar.gz'), Buffer.from(await response.arrayBuffer()));
      const { stdout } = await run('tar', ['-tzf', join(dir, 'a.tar.gz')]);
      assert.deepEqual(stdout.trim().split('\n').sort(), [
        'fonts-1.0.0-linux-amd64/app',
        'fonts-1.0.0-linux-amd64/fonts.tar.gz',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('file common to every platform', () => {
  it('downloads without a platform', async () => {
    const response = await get('/hello/1.1.0/files/hello.toml', { 'user-agent': CURL });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('ocidrop-platform'), null);
    assert.deepEqual(
      Buffer.from(await response.arrayBuffer()),
      files['1.1.0']!['linux/amd64']!['hello.toml'],
    );
  });

  it('redirects latest to a URL without a platform', async () => {
    const response = await get('/hello/latest/files/hello.toml', { 'user-agent': CURL });
    assert.equal(response.status, 302);
    assert.equal(response.headers.get('location'), '/hello/1.1.0/files/hello.toml');
  });

  it('does not make a program downloadable', async () => {
    const response = await get('/hello/1.1.0/download', { 'user-agent': CURL });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'PLATFORM_UNKNOWN');
    assert.match(
      body.error.message,
      new RegExp(`such as ${gateway.url}/hello/1\\.1\\.0/download\\?os=[a-z]+&arch=[a-z0-9]+$`),
    );
  });

  it('unknown name answers 404 with the files', async () => {
    const response = await get('/hello/1.1.0/files/nosuch.txt', { 'user-agent': CURL });
    assert.equal(response.status, 404);
    const body = (await response.json()) as { error: { code: string; message: string; files: string[] } };
    assert.equal(body.error.code, 'FILE_NOT_FOUND');
    assert.match(body.error.message, /has no file "nosuch\.txt" in any build/);
    for (const name of ['hello', 'hello.exe', 'hello.toml']) assert.ok(body.error.files.includes(name), name);
  });

  it('name in several builds needs a platform', async () => {
    const response = await get('/hello/1.1.0/files/hello', { 'user-agent': CURL });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'PLATFORM_UNKNOWN');
  });

  it('name in one build downloads from it', async () => {
    const response = await get('/hello/1.1.0/files/hello.exe', { 'user-agent': CURL });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('ocidrop-platform'), 'windows/amd64');
    assert.deepEqual(
      Buffer.from(await response.arrayBuffer()),
      files['1.1.0']!['windows/amd64']!['hello.exe'],
    );
  });

  it('latest.json lists common files and platforms', async () => {
    const response = await get('/hello/latest.json?current=1.0.0', { 'user-agent': CURL });
    assert.equal(response.status, 200);
    const body = (await response.json()) as Record<string, unknown>;
    assert.equal(body['version'], '1.1.0');
    assert.equal(body['platform'], null);
    assert.equal(body['main'], null);
    assert.equal(body['updateAvailable'], true);
    assert.deepEqual((body['platforms'] as string[]).slice().sort(), [
      'darwin/amd64',
      'darwin/arm64',
      'linux/amd64',
      'linux/arm64',
      'windows/amd64',
    ]);
    const listed = (body['files'] as { name: string; url: string }[]).map((file) => file.name);
    assert.ok(listed.includes('hello.toml'), listed.join(', '));
    assert.ok(!listed.some((name) => name.startsWith('hello') && !name.includes('.')), listed.join(', '));
    for (const file of body['files'] as { url: string }[]) assert.doesNotMatch(file.url, /[?&]os=/);
  });
});

describe('latest.json current', () => {
  for (const current of ['banana', '1.0', 'latest']) {
    it(`rejects ${current}`, async () => {
      const response = await get(`/hello/latest.json?os=linux&arch=amd64&current=${current}`);
      assert.equal(response.status, 400);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'BAD_REQUEST');
      assert.ok(body.error.message.includes(JSON.stringify(current)), body.error.message);
      assert.match(body.error.message, /semantic version/);
    });
  }

  it('accepts a leading v', async () => {
    const response = await get('/hello/latest.json?os=linux&arch=amd64&current=v1.1.0');
    assert.equal(response.status, 200);
    const body = (await response.json()) as { updateAvailable: boolean };
    assert.equal(body.updateAvailable, false);
  });
});

describe('unsafe titles', () => {
  // A URL cannot carry `..` as a segment (clients resolve it away), so that title is checked on the page only.
  for (const title of UNSAFE_TITLES.filter((name) => name !== '..')) {
    it(`refuses to serve ${title}`, async () => {
      const response = await get(`/unsafe/1.0.0/files/${encodeURIComponent(title)}?os=linux&arch=amd64`);
      assert.equal(response.status, 403);
      assert.equal(response.headers.get('content-disposition'), null);
      const body = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'FILE_NAME_UNSAFE');
      assert.ok(body.error.message.includes(JSON.stringify(title)), body.error.message);
    });
  }

  it('refuses an unsafe program', async () => {
    const response = await get('/unsafe-main/1.0.0/download?os=linux&arch=amd64');
    assert.equal(response.status, 403);
    assert.equal(response.headers.get('content-disposition'), null);
  });

  it('shows them as unavailable on the page', async () => {
    const page = await (await get('/unsafe/1.0.0')).text();
    assert.match(
      page,
      /<code>\.\.\/evil<\/code> \(unavailable: the file name is unsafe because it contains &quot;\.\.&quot;/,
    );
    assert.match(page, /<code>\.\.<\/code> \(unavailable/);
    assert.match(
      page,
      /<code>a\/b<\/code> \(unavailable: the file name is unsafe because it contains a path separator/,
    );
    assert.doesNotMatch(page, /files\/\.\.%2Fevil/);
  });

  it('leaves them out of latest.json', async () => {
    const body = (await (await get('/unsafe/latest.json?os=linux&arch=amd64')).json()) as {
      files: { name: string }[];
    };
    assert.deepEqual(
      body.files.map((file) => file.name),
      ['app', '.env'],
    );
  });

  it('skips them in archives', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocidrop-archive-'));
    try {
      const response = await get('/unsafe/1.0.0/archive.tar.gz?os=linux&arch=amd64');
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('ocidrop-skipped-files'), String(UNSAFE_TITLES.length));
      await writeFile(join(dir, 'a.tar.gz'), Buffer.from(await response.arrayBuffer()));
      const { stdout } = await run('tar', ['-tzf', join(dir, 'a.tar.gz')]);
      assert.deepEqual(stdout.trim().split('\n').sort(), [
        'unsafe-1.0.0-linux-amd64/.env',
        'unsafe-1.0.0-linux-amd64/app',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('suggests a dotfile without its dot', async () => {
    const response = await get('/unsafe/1.0.0/files/.env?os=linux&arch=amd64');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-disposition') ?? '', /^attachment; filename="env"/);
  });
});
