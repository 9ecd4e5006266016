import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { createLink } from '../../src/cli/link.js';
import { loadConfig } from '../../src/serve/config.js';
import { LINK_KEY_FILE } from '../../src/serve/keys.js';
import { type RunningServer, startServer } from '../../src/serve/server.js';
import { type PublishedFiles, publishFixtures, publishRelease } from '../gateway/publish.js';
import { skipUnless } from '../helpers/tools.js';

const run = promisify(execFile);
const skip = skipUnless('htpasswd');
const LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const BIG_SIZE = 48 * 1024 * 1024;

let dir: string;
let dataDir: string;
let server: RunningServer;
let files: PublishedFiles;
let big: Buffer;
const logLines: string[] = [];

function logger() {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return pino({ level: 'info' }, sink);
}

function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${server.url}${path}`, { headers: { 'user-agent': LINUX, ...headers }, redirect: 'manual' });
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-serve-test-'));
  dataDir = join(dir, 'data');

  // Publish with an open registry first, because the configured one wants a user for every push.
  const open = await startServer({ dataDir, port: 0, logger: pino({ level: 'silent' }) });
  files = await publishFixtures(open.url, 'hello');
  await publishFixtures(open.url, 'secret');
  big = Buffer.alloc(BIG_SIZE, 7);
  await publishRelease(open.url, 'big', '1.0.0', [
    { platform: 'linux/amd64', files: [{ name: 'big.bin', data: big, main: true }] },
  ]);
  await open.close();

  const { stdout } = await run('htpasswd', ['-nbB', 'alice', 'correct horse']);
  await writeFile(join(dir, 'htpasswd'), stdout);
  await writeFile(
    join(dir, 'ocidrop.yaml'),
    ['users:', '  htpasswd: htpasswd', 'repositories:', '  - name: secret', '    private: true'].join('\n'),
  );
  const config = await loadConfig(join(dir, 'ocidrop.yaml'), {});
  server = await startServer({ dataDir, port: 0, logger: logger(), config });
});

after(async () => {
  await server?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('operator paths', { skip }, () => {
  it('healthz answers ok', async () => {
    const response = await get('/-/healthz');
    assert.equal(response.status, 200);
    assert.equal(await response.text(), 'ok\n');
    assert.equal(response.headers.get('cache-control'), 'no-store');
  });

  it('metrics count a download', async () => {
    const download = await get('/hello/1.1.0/download');
    assert.equal(download.status, 200);
    const size = (await download.arrayBuffer()).byteLength;

    const response = await get('/-/metrics');
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
    const text = await response.text();
    const labels = '{repository="hello",version="1.1.0",platform="linux/amd64"}';
    assert.ok(text.includes(`ocidrop_gateway_downloads_total${labels} 1`), text);
    assert.ok(text.includes(`ocidrop_gateway_download_bytes_total${labels} ${size}`), text);
    assert.match(
      text,
      /ocidrop_gateway_upstream_duration_seconds_count\{upstream="embedded",operation="manifest",outcome="ok"\} [1-9]/,
    );
  });

  it('metrics leave out a HEAD request', async () => {
    const head = await fetch(`${server.url}/hello/1.0.0/download?os=linux&arch=amd64`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    const text = await (await get('/-/metrics')).text();
    assert.doesNotMatch(text, /ocidrop_gateway_downloads_total\{repository="hello",version="1.0.0"/);
  });

  it('other reserved paths are not found', async () => {
    const response = await get('/-/admin');
    assert.equal(response.status, 404);
    await response.arrayBuffer();
  });
});

describe('private repository of the embedded registry', { skip }, () => {
  it('registry refuses anonymous pulls', async () => {
    const response = await get('/v2/secret/tags/list');
    assert.equal(response.status, 401);
    await response.arrayBuffer();
  });

  it('registry serves public pulls', async () => {
    const response = await get('/v2/hello/tags/list');
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  });

  it('gateway refuses anonymous visitors', async () => {
    const response = await get('/secret/1.1.0/download');
    assert.equal(response.status, 401);
    await response.arrayBuffer();
  });
});

describe('ocidrop link', { skip }, () => {
  it('creates a private key file at first use', async () => {
    const info = await stat(join(dataDir, LINK_KEY_FILE));
    assert.equal(info.mode & 0o777, 0o600);
  });

  it('signs a link the server accepts', async () => {
    const link = await createLink(
      'secret:1.1.0',
      { data: dataDir, expires: 3_600_000, baseUrl: server.url },
      undefined,
    );
    assert.equal(link.platform, null);
    const response = await fetch(link.url, { headers: { 'user-agent': LINUX } });
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), files['1.1.0']!['linux/amd64']!['hello']);
  });

  it('binds a link to a platform', async () => {
    const link = await createLink(
      'secret:1.0.0',
      {
        data: dataDir,
        expires: 60_000,
        baseUrl: server.url,
        platform: { os: 'windows', architecture: 'amd64' },
      },
      undefined,
    );
    assert.equal(link.platform, 'windows/amd64');
    const response = await fetch(link.url);
    assert.equal(response.status, 200);
    assert.deepEqual(
      Buffer.from(await response.arrayBuffer()),
      files['1.0.0']!['windows/amd64']!['hello.exe'],
    );
  });

  it('keeps signatures out of the access log', async () => {
    const link = await createLink(
      'secret:1.1.0',
      { data: dataDir, expires: 60_000, baseUrl: server.url },
      undefined,
    );
    const signature = new URL(link.url).searchParams.get('sig')!;
    await (await fetch(link.url, { headers: { 'user-agent': LINUX } })).arrayBuffer();
    await (await fetch(link.url.replace('sig=', 'sig=x'))).arrayBuffer();
    await delay(50);
    const accessLines = logLines.filter((line) => line.includes('"path":"/secret/1.1.0/download"'));
    assert.ok(accessLines.length >= 2, 'both requests were logged');
    const served = accessLines.map((line) => JSON.parse(line) as { status: number; bytes: number });
    const download = served.find((entry) => entry.status === 200);
    assert.ok(download, 'the download was logged');
    assert.ok(download.bytes > files['1.1.0']!['linux/amd64']!['hello']!.length, 'bytes include the file');
    for (const line of logLines) {
      assert.ok(!line.includes(signature), `log line carries the signature: ${line}`);
      assert.ok(!line.includes('sig='), `log line carries a query: ${line}`);
      assert.ok(!/authorization/i.test(line), `log line carries credentials: ${line}`);
    }
  });
});

describe('graceful shutdown', { skip }, () => {
  it('finishes a slow download', async () => {
    const { response, body } = await new Promise<{
      response: import('node:http').IncomingMessage;
      body: Promise<Buffer>;
    }>((resolve, reject) => {
      const request = httpGet(`${server.url}/big/1.0.0/download?os=linux&arch=amd64`, (response) => {
        response.pause();
        const chunks: Buffer[] = [];
        const body = new Promise<Buffer>((done, fail) => {
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => done(Buffer.concat(chunks)));
          response.on('error', fail);
          response.on('aborted', () => fail(new Error('download aborted')));
        });
        resolve({ response, body });
      });
      request.on('error', reject);
    });
    assert.equal(response.statusCode, 200);

    let closed = false;
    const closing = server.close().then(() => {
      closed = true;
    });
    await delay(300);
    assert.equal(closed, false, 'close waits for the running download');
    const refused = await fetch(`${server.url}/-/healthz`).then(
      () => false,
      () => true,
    );
    assert.ok(refused, 'no new connection is accepted while closing');

    // Read slowly: a chunk at a time with pauses, as a slow visitor would.
    response.resume();
    const data = await body;
    assert.equal(data.length, BIG_SIZE);
    assert.equal(
      createHash('sha256').update(data).digest('hex'),
      createHash('sha256').update(big).digest('hex'),
    );
    await closing;
    assert.equal(closed, true);
  });
});
