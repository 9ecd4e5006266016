import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { digestOf } from '../../src/oci/digest.js';
import { type PublishedFiles, publishFixtures, publishRelease, pushBlob, pushManifest } from './publish.js';
import { type GatewayFixture, startGateway } from './server.js';

const run = promisify(execFile);

const WINDOWS =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const MAC =
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15';
const LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const ANDROID =
  'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36';
const MARKUP = '<script>alert(1)</script><img src=x onerror="alert(2)">';

let gateway: GatewayFixture;
let files: PublishedFiles;

function get(path: string, headers: Record<string, string> = {}, init: RequestInit = {}): Promise<Response> {
  return fetch(`${gateway.url}${path}`, { headers, ...init });
}

async function bytesOf(response: Response): Promise<Buffer> {
  return Buffer.from(await response.arrayBuffer());
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

before(async () => {
  gateway = await startGateway();
  const registry = gateway.registry.url;
  files = await publishFixtures(registry, 'hello');

  await publishRelease(
    registry,
    'markup',
    '1.0.0',
    [
      {
        platform: 'linux/amd64',
        files: [{ name: `${MARKUP}.bin`, data: Buffer.from('markup program\n'), main: true }],
      },
    ],
    { annotations: { 'org.opencontainers.image.description': `Notes ${MARKUP}` } },
  );

  await publishRelease(registry, 'evil', '1.0.0', [
    {
      files: [{ name: 'evil"\r\nSet-Cookie: stolen=1.exe', data: Buffer.from('evil program\n'), main: true }],
    },
  ]);

  // Pushed the way oras does: titles, no ocidrop annotations, one manifest without an index.
  await publishRelease(registry, 'team/tool', 'v2.0.0', [
    {
      files: [
        {
          name: 'README.txt',
          data: Buffer.from('read me\n'),
          annotations: { 'org.opencontainers.image.title': 'README.txt' },
        },
        {
          name: 'tool',
          data: Buffer.from('#!/bin/sh\necho tool\n'),
          annotations: { 'org.opencontainers.image.title': 'tool' },
        },
      ],
    },
  ]);

  await publishRelease(registry, 'hostile', '1.0.0', [
    { platform: 'linux/amd64', files: [{ name: 'tool', data: Buffer.from('tool\n'), main: true }] },
    {
      platform: 'linux$(touch pwned)/amd64',
      files: [{ name: 'tool', data: Buffer.from('other\n'), main: true }],
    },
  ]);

  await publishRelease(
    registry,
    'nightly',
    'zulu',
    [{ files: [{ name: 'n', data: Buffer.from('new\n'), main: true }] }],
    {
      created: '2026-03-01T00:00:00Z',
    },
  );
  await publishRelease(
    registry,
    'nightly',
    'alpha',
    [{ files: [{ name: 'n', data: Buffer.from('old\n'), main: true }] }],
    {
      created: '2026-01-01T00:00:00Z',
    },
  );

  await publishRelease(registry, 'beta', '1.0.0', [
    { files: [{ name: 'beta', data: Buffer.from('one\n'), main: true }] },
  ]);
  await publishRelease(registry, 'beta', '2.0.0-rc.1', [
    { files: [{ name: 'beta', data: Buffer.from('two\n'), main: true }] },
  ]);

  // A container image: an image config and untitled tar layers.
  const config = await pushBlob(
    registry,
    'image',
    Buffer.from('{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'),
    'application/vnd.oci.image.config.v1+json',
  );
  const layer = await pushBlob(
    registry,
    'image',
    Buffer.alloc(1024),
    'application/vnd.oci.image.layer.v1.tar',
  );
  await pushManifest(
    registry,
    'image',
    '1.0.0',
    {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config,
      layers: [layer],
    },
    'application/vnd.oci.image.manifest.v1+json',
  );
});

after(async () => {
  await gateway?.close();
});

describe('download for the visitor platform', () => {
  it('Windows agent gets hello.exe', async () => {
    const response = await get('/hello/latest/download', { 'user-agent': WINDOWS });
    assert.equal(response.status, 200);
    assert.equal(response.url, `${gateway.url}/hello/1.1.0/download?os=windows&arch=amd64`);
    assert.match(response.headers.get('content-disposition')!, /filename="hello\.exe"/);
    assert.deepEqual(await bytesOf(response), files['1.1.0']!['windows/amd64']!['hello.exe']);
  });

  it('Linux agent gets the Linux build', async () => {
    const response = await get('/hello/latest/download', { 'user-agent': LINUX });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('ocidrop-platform'), 'linux/amd64');
    assert.deepEqual(await bytesOf(response), files['1.1.0']!['linux/amd64']!['hello']);
  });

  it('macOS agent with hints gets the darwin build', async () => {
    const response = await get('/hello/latest/download', {
      'user-agent': MAC,
      'sec-ch-ua-platform': '"macOS"',
      'sec-ch-ua-arch': '"arm"',
      'sec-ch-ua-bitness': '"64"',
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('ocidrop-platform'), 'darwin/arm64');
    assert.deepEqual(await bytesOf(response), files['1.1.0']!['darwin/arm64']!['hello']);
  });

  it('macOS agent without hints gets the build every Mac runs', async () => {
    const redirect = await get('/hello/latest/download', { 'user-agent': MAC }, { redirect: 'manual' });
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), '/hello/1.1.0/download?os=darwin&arch=amd64');
    assert.equal(redirect.headers.get('ocidrop-portable'), '?1');
    const response = await get('/hello/1.1.0/download', { 'user-agent': MAC });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('ocidrop-platform'), 'darwin/amd64');
    assert.equal(response.headers.get('ocidrop-portable'), '?1');
    assert.deepEqual(await bytesOf(response), files['1.1.0']!['darwin/amd64']!['hello']);
  });

  it('hidden CPU without a portable build must choose', async () => {
    const response = await get('/hello/latest/download?os=linux');
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { code: string; available: string[] } };
    assert.equal(body.error.code, 'PLATFORM_UNKNOWN');
    assert.ok(body.error.available.includes('linux/arm64'));
  });

  it('agent without a platform must choose', async () => {
    const response = await get('/hello/latest/download', { 'user-agent': 'curl/8.5.0' });
    assert.equal(response.status, 400);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'PLATFORM_UNKNOWN');
    assert.match(body.error.message, /add \?os=OS&arch=ARCH/);
  });

  it('query overrides the agent', async () => {
    const response = await get('/hello/1.0.0/download?os=darwin&arch=amd64', { 'user-agent': WINDOWS });
    assert.equal(response.status, 200);
    assert.deepEqual(await bytesOf(response), files['1.0.0']!['darwin/amd64']!['hello']);
    assert.equal(response.headers.get('vary'), null);
  });

  it('Windows on Arm falls back to x64 and says so', async () => {
    const response = await get('/hello/1.1.0/download?os=windows&arch=arm64');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('ocidrop-platform'), 'windows/amd64');
    assert.equal(response.headers.get('ocidrop-emulated'), '?1');
    await response.arrayBuffer();
  });

  it('serves another file of the version', async () => {
    const response = await get('/hello/1.1.0/files/hello.toml?os=linux&arch=amd64');
    assert.equal(response.status, 200);
    assert.deepEqual(await bytesOf(response), files['1.1.0']!['linux/amd64']!['hello.toml']);
  });

  it('sends immutable caching and the digest as ETag', async () => {
    const response = await get('/hello/1.1.0/download?os=linux&arch=amd64');
    const data = await bytesOf(response);
    assert.equal(response.headers.get('etag'), `"sha256:${sha256(data)}"`);
    assert.match(response.headers.get('cache-control')!, /immutable/);
    assert.equal(response.headers.get('content-type'), 'application/octet-stream');
  });

  it('latest redirect is short-lived', async () => {
    const response = await get('/hello/latest/download', { 'user-agent': LINUX }, { redirect: 'manual' });
    assert.equal(response.status, 302);
    assert.equal(response.headers.get('location'), '/hello/1.1.0/download?os=linux&arch=amd64');
    assert.equal(response.headers.get('cache-control'), 'public, max-age=60');
    assert.match(response.headers.get('vary')!, /User-Agent/);
  });
});

describe('missing platform', () => {
  it('download answers 404 with the available builds', async () => {
    const response = await get('/hello/latest/download', { 'user-agent': ANDROID }, { redirect: 'manual' });
    assert.equal(response.status, 404);
    const body = (await response.json()) as { error: { code: string; message: string; available: string[] } };
    assert.equal(body.error.code, 'PLATFORM_NOT_AVAILABLE');
    assert.match(body.error.message, /no build for android/);
    assert.deepEqual(body.error.available, [
      'linux/amd64',
      'linux/arm64',
      'darwin/amd64',
      'darwin/arm64',
      'windows/amd64',
    ]);
  });

  it('latest.json answers 404 for an unknown platform', async () => {
    const response = await get('/hello/latest.json?os=plan9&arch=amd64');
    assert.equal(response.status, 404);
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'PLATFORM_NOT_AVAILABLE');
  });

  it('page says so and lists every build', async () => {
    const response = await get('/hello', { 'user-agent': ANDROID });
    assert.equal(response.status, 200);
    const page = await response.text();
    assert.match(page, /has no build for Android/);
    assert.match(page, /href="\/hello\/1\.1\.0\/files\/hello\.exe\?os=windows&amp;arch=amd64"/);
  });
});

describe('latest.json', () => {
  it('names the newest version and its files', async () => {
    const response = await get('/hello/latest.json?os=linux&arch=amd64');
    assert.equal(response.status, 200);
    const body = (await response.json()) as {
      version: string;
      platform: string;
      files: { name: string; digest: string; size: number; url: string }[];
    };
    assert.equal(body.version, '1.1.0');
    assert.equal(body.platform, 'linux/amd64');
    assert.deepEqual(
      body.files.map((file) => file.name),
      ['hello', 'hello.toml', 'DejaVuSansMono.ttf'],
    );
    const program = body.files[0]!;
    assert.equal(program.digest, `sha256:${sha256(files['1.1.0']!['linux/amd64']!['hello']!)}`);
    const download = await fetch(program.url);
    assert.deepEqual(await bytesOf(download), files['1.1.0']!['linux/amd64']!['hello']);
  });

  it('tells an app on an old version to update', async () => {
    const response = await get('/hello/latest.json?os=linux&arch=amd64&current=1.0.0');
    const body = (await response.json()) as {
      updateAvailable: boolean;
      notes: string;
      main: { size: number; sha256: string };
    };
    assert.equal(body.updateAvailable, true);
    assert.equal(body.notes, 'hello 1.1.0: prints a greeting.');
    assert.equal(body.main.size, files['1.1.0']!['linux/amd64']!['hello']!.length);
  });

  it('tells an app on the newest version that it is current', async () => {
    const response = await get('/hello/latest.json?os=linux&arch=amd64&current=1.1.0');
    const body = (await response.json()) as { updateAvailable: boolean };
    assert.equal(body.updateAvailable, false);
  });

  it('picks the newest tag by date without semantic versions', async () => {
    const body = (await (await get('/nightly/latest.json')).json()) as { version: string };
    assert.equal(body.version, 'zulu');
  });

  it('skips prereleases unless asked', async () => {
    const stable = (await (await get('/beta/latest.json')).json()) as { version: string };
    assert.equal(stable.version, '1.0.0');
    const prerelease = (await (await get('/beta/latest.json?channel=prerelease')).json()) as {
      version: string;
    };
    assert.equal(prerelease.version, '2.0.0-rc.1');
  });
});

describe('ranges and conditions', () => {
  const path = '/hello/1.1.0/download?os=linux&arch=amd64';

  it('serves a byte range', async () => {
    const whole = files['1.1.0']!['linux/amd64']!['hello']!;
    const response = await get(path, { range: 'bytes=100-199' });
    assert.equal(response.status, 206);
    assert.equal(response.headers.get('content-range'), `bytes 100-199/${whole.length}`);
    assert.deepEqual(await bytesOf(response), whole.subarray(100, 200));
  });

  it('serves a suffix range', async () => {
    const whole = files['1.1.0']!['linux/amd64']!['hello']!;
    const response = await get(path, { range: 'bytes=-10' });
    assert.equal(response.status, 206);
    assert.deepEqual(await bytesOf(response), whole.subarray(whole.length - 10));
  });

  it('answers 416 past the end', async () => {
    const whole = files['1.1.0']!['linux/amd64']!['hello']!;
    const response = await get(path, { range: `bytes=${whole.length}-` });
    assert.equal(response.status, 416);
    assert.equal(response.headers.get('content-range'), `bytes */${whole.length}`);
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'RANGE_NOT_SATISFIABLE');
  });

  it('ignores Range when If-Range names another version', async () => {
    const response = await get(path, { range: 'bytes=0-9', 'if-range': '"sha256:0000"' });
    assert.equal(response.status, 200);
    assert.equal((await bytesOf(response)).length, files['1.1.0']!['linux/amd64']!['hello']!.length);
  });

  it('honours Range when If-Range is the ETag', async () => {
    const etag = (await get(path, {}, { method: 'HEAD' })).headers.get('etag')!;
    const response = await get(path, { range: 'bytes=0-9', 'if-range': etag });
    assert.equal(response.status, 206);
    assert.equal((await bytesOf(response)).length, 10);
  });

  it('answers HEAD with headers only', async () => {
    const response = await get(path, {}, { method: 'HEAD' });
    assert.equal(response.status, 200);
    assert.equal(
      response.headers.get('content-length'),
      String(files['1.1.0']!['linux/amd64']!['hello']!.length),
    );
    assert.equal((await bytesOf(response)).length, 0);
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const etag = (await get(path, {}, { method: 'HEAD' })).headers.get('etag')!;
    const response = await get(path, { 'if-none-match': etag });
    assert.equal(response.status, 304);
  });

  it('wget saves the file under its real name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocidrop-gateway-'));
    try {
      await run(
        'wget',
        ['-q', '--content-disposition', '-U', WINDOWS, `${gateway.url}/hello/latest/download`],
        { cwd: dir },
      );
      assert.deepEqual(
        await readFile(join(dir, 'hello.exe')),
        files['1.1.0']!['windows/amd64']!['hello.exe'],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('resumes with curl -C -', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocidrop-gateway-'));
    try {
      const whole = files['1.1.0']!['linux/amd64']!['hello']!;
      const target = join(dir, 'hello');
      await writeFile(target, whole.subarray(0, 5000));
      await run('curl', ['-sS', '-f', '-C', '-', '-o', target, `${gateway.url}${path}`]);
      const resumed = await readFile(target);
      assert.equal(resumed.length, whole.length);
      assert.equal(sha256(resumed), sha256(whole));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('pages', () => {
  it('home lists the repositories', async () => {
    const page = await (await get('/')).text();
    for (const name of ['hello', 'team/tool', 'markup']) assert.match(page, new RegExp(`href="/${name}"`));
  });

  it('shows the newest version with one button for the visitor', async () => {
    const response = await get('/hello', { 'user-agent': LINUX });
    assert.equal(response.headers.get('accept-ch'), 'Sec-CH-UA-Platform, Sec-CH-UA-Arch, Sec-CH-UA-Bitness');
    assert.match(response.headers.get('content-security-policy')!, /default-src 'none'/);
    const page = await response.text();
    assert.match(page, /<h1>hello <span class="meta">1\.1\.0<\/span><\/h1>/);
    assert.match(
      page,
      /class="button" href="\/hello\/1\.1\.0\/download\?os=linux&amp;arch=amd64">Download hello for Linux \(x64\)/,
    );
    assert.match(page, new RegExp(sha256(files['1.1.0']!['linux/amd64']!['hello']!)));
    assert.match(page, /href="\/hello\/1\.0\.0">1\.0\.0<\/a>/);
    assert.match(page, /hello 1\.1\.0: prints a greeting\./);
    assert.doesNotMatch(page, /<script/);
  });

  it('offers both Mac builds when the browser hides the CPU', async () => {
    const page = await (await get('/hello', { 'user-agent': MAC })).text();
    assert.match(page, /does not tell which processor/);
    assert.match(page, /class="button" href="\/hello\/1\.1\.0\/download\?os=darwin&amp;arch=arm64"/);
    assert.match(page, /class="button" href="\/hello\/1\.1\.0\/download\?os=darwin&amp;arch=amd64"/);
  });

  it('says when the build runs through emulation', async () => {
    const page = await (
      await get('/hello', {
        'user-agent': WINDOWS,
        'sec-ch-ua-platform': '"Windows"',
        'sec-ch-ua-arch': '"arm"',
        'sec-ch-ua-bitness': '"64"',
      })
    ).text();
    assert.match(page, /no native build for Windows \(Arm64\)/);
    assert.match(page, /class="button" href="\/hello\/1\.1\.0\/download\?os=windows&amp;arch=amd64"/);
  });

  it('shows a given version', async () => {
    const page = await (await get('/hello/1.0.0', { 'user-agent': LINUX })).text();
    assert.match(page, /<h1>hello <span class="meta">1\.0\.0<\/span><\/h1>/);
    assert.match(page, /\/hello\/1\.0\.0\/download\?os=linux&amp;arch=amd64/);
  });

  it('serves a nested repository pushed by another tool', async () => {
    const page = await (await get('/team/tool')).text();
    assert.match(page, /<h1>team\/tool <span class="meta">v2\.0\.0<\/span><\/h1>/);
    const response = await get('/team/tool/latest/download', { 'user-agent': 'curl/8.5.0' });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'read me\n');
  });

  it('renders markup from an artifact harmless', async () => {
    const page = await (await get('/markup', { 'user-agent': LINUX })).text();
    assert.doesNotMatch(page, /<script>alert/);
    assert.doesNotMatch(page, /<img src=x/);
    assert.match(
      page,
      /Notes &lt;script&gt;alert\(1\)&lt;\/script&gt;&lt;img src=x onerror=&quot;alert\(2\)&quot;&gt;/,
    );
    // The title contains `/`, so the page names it as unavailable, escaped, with no link.
    assert.match(page, /<code>&lt;script&gt;alert\(1\)&lt;\/script&gt;.*<\/code> is unavailable/);
    assert.doesNotMatch(page, /files\/%3Cscript%3E/);
  });

  it('says a container image is not downloadable', async () => {
    const page = await (await get('/image')).text();
    assert.match(page, /This is a container image, not a downloadable program/);
    const response = await get('/image/1.0.0/download');
    assert.equal(response.status, 404);
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'NOT_AN_ARTIFACT');
  });

  it('answers an unknown repository with a page', async () => {
    const response = await get('/nothing-here');
    assert.equal(response.status, 404);
    assert.match(response.headers.get('content-type')!, /text\/html/);
    assert.match(await response.text(), /repository &quot;nothing-here&quot; not found/);
  });

  it('lists the versions when a version is unknown', async () => {
    const response = await get('/hello/9.9.9/download?os=linux&arch=amd64');
    assert.equal(response.status, 404);
    const body = (await response.json()) as { error: { code: string; versions: string[] } };
    assert.equal(body.error.code, 'VERSION_NOT_FOUND');
    assert.deepEqual(body.error.versions, ['1.1.0', '1.0.0']);
  });

  it('page is self-contained and structured', async () => {
    const response = await get('/hello', { 'user-agent': LINUX });
    const page = await response.text();
    assert.ok(Buffer.byteLength(page) < 64 * 1024, `page is ${Buffer.byteLength(page)} bytes`);
    assert.match(page, /^<!doctype html>\n<html lang="en">/);
    assert.match(page, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
    assert.match(page, /<title>hello 1\.1\.0<\/title>/);
    assert.equal(page.match(/<main /g)?.length, 1);
    assert.equal(page.match(/<h1>/g)?.length, 1);
    assert.doesNotMatch(page, /<script|<link |<img |<iframe/);
    assert.doesNotMatch(page, /(?:src|href)="(?:https?:)?\/\//);
    const headings = [...page.matchAll(/<h([1-6])[ >]/g)].map((match) => Number(match[1]));
    for (let i = 1; i < headings.length; i++)
      assert.ok(headings[i]! <= headings[i - 1]! + 1, `heading h${headings[i]} follows h${headings[i - 1]}`);
    for (const match of page.matchAll(/<a [^>]*>(.*?)<\/a>/gs))
      assert.notEqual(match[1]!.trim(), '', 'every link has text');
  });

  it('install commands pin an older version', async () => {
    const page = await (await get('/hello/1.0.0', { 'user-agent': LINUX })).text();
    assert.match(page, /install\.sh\?version=1\.0\.0' \| sh/);
    const response = await get('/hello/install.sh?version=..%2Fx');
    assert.equal(response.status, 400);
    assert.match(await response.text(), /invalid version/);
  });

  it('rejects other methods', async () => {
    const response = await get('/hello', {}, { method: 'POST' });
    assert.equal(response.status, 405);
    assert.equal(response.headers.get('allow'), 'GET, HEAD');
  });
});

describe('hostile platform names', () => {
  it('are left out of pages and scripts', async () => {
    const page = await (await get('/hostile')).text();
    assert.doesNotMatch(page, /touch/);
    const script = await (await get('/hostile/install.sh')).text();
    assert.doesNotMatch(script, /touch/);
    assert.match(script, /'linux\/amd64'\) name='tool'/);
  });
});

describe('Content-Disposition from artifact titles', () => {
  it('refuses a title with CR and LF', async () => {
    const response = await get('/evil/latest/download');
    assert.equal(response.status, 403);
    assert.equal(response.headers.get('set-cookie'), null);
    assert.equal(response.headers.get('content-disposition'), null);
    const body = (await response.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'FILE_NAME_UNSAFE');
  });

  it('matches the decoded file name against titles only', async () => {
    const name = encodeURIComponent('evil"\r\nSet-Cookie: stolen=1.exe');
    const response = await get(`/evil/1.0.0/files/${name}`);
    assert.equal(response.status, 403);
    assert.equal(response.headers.get('content-disposition'), null);
    await response.arrayBuffer();
    const missing = await get('/evil/1.0.0/files/..%2F..%2Fetc%2Fpasswd');
    assert.equal(missing.status, 404);
    const body = (await missing.json()) as { error: { code: string } };
    assert.equal(body.error.code, 'FILE_NOT_FOUND');
  });
});

describe('archives', () => {
  it('zip keeps files and modes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocidrop-gateway-'));
    try {
      const response = await get('/hello/1.1.0/archive.zip?os=linux&arch=amd64');
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-disposition')!, /hello-1\.1\.0-linux-amd64\.zip/);
      await writeFile(join(dir, 'a.zip'), await bytesOf(response));
      await run('unzip', ['-q', join(dir, 'a.zip'), '-d', dir]);
      const folder = join(dir, 'hello-1.1.0-linux-amd64');
      for (const [name, data] of Object.entries(files['1.1.0']!['linux/amd64']!)) {
        assert.deepEqual(await readFile(join(folder, name)), data, name);
      }
      assert.equal((await stat(join(folder, 'hello'))).mode & 0o777, 0o755);
      assert.equal((await stat(join(folder, 'hello.toml'))).mode & 0o777, 0o644);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('tar.gz keeps files and modes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocidrop-gateway-'));
    try {
      const response = await get('/hello/1.0.0/archive.tar.gz?os=darwin&arch=arm64');
      assert.equal(response.status, 200);
      await writeFile(join(dir, 'a.tar.gz'), await bytesOf(response));
      await run('tar', ['-xzf', join(dir, 'a.tar.gz'), '-C', dir]);
      const folder = join(dir, 'hello-1.0.0-darwin-arm64');
      for (const [name, data] of Object.entries(files['1.0.0']!['darwin/arm64']!)) {
        assert.deepEqual(await readFile(join(folder, name)), data, name);
      }
      assert.equal((await stat(join(folder, 'hello'))).mode & 0o777, 0o755);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('digest-addressed versions', () => {
  it('serves a release by its index digest', async () => {
    const index = await fetch(`${gateway.registry.url}/v2/hello/manifests/1.1.0`, {
      headers: { accept: 'application/vnd.oci.image.index.v1+json' },
    });
    const digest = digestOf(Buffer.from(await index.arrayBuffer()));
    const response = await get(`/hello/${digest}/download?os=linux&arch=amd64`);
    assert.equal(response.status, 200);
    assert.deepEqual(await bytesOf(response), files['1.1.0']!['linux/amd64']!['hello']);
  });
});
