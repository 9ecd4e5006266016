import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { arch, platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { LinkSigner } from '../../src/gateway/signing.js';
import { digestOf } from '../../src/oci/digest.js';
import { FILE_BLOB, OCI_EMPTY, OCI_MANIFEST, OCIDROP_ARTIFACT } from '../../src/oci/media-types.js';
import { loadConfig } from '../../src/serve/config.js';
import { type RunningServer, startServer } from '../../src/serve/server.js';
import { type PublishedFiles, publishFixtures, useCredentials } from '../gateway/publish.js';
import { type RunningDistribution, startDistribution } from '../helpers/distribution.js';
import { skipUnless } from '../helpers/tools.js';

const run = promisify(execFile);
const skip = skipUnless('docker-registry', 'htpasswd', 'curl');
const LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const PASSWORD = 'only-the-gateway-knows';
const LINK_SECRET = 's'.repeat(48);

let dir: string;
let distribution: RunningDistribution;
let files: PublishedFiles;
let gateway: RunningServer;
let storageGateway: RunningServer;
let redirector: Server;
let foreign: Server;
const foreignRequests: IncomingHttpHeaders[] = [];
const blobsByDigest = new Map<string, Buffer>();

function get(path: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${gateway.url}${path}`, { headers: { 'user-agent': LINUX, ...headers }, redirect: 'manual' });
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function stop(server: Server | undefined): Promise<void> {
  if (!server?.listening) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

before(async () => {
  if (skip) return;
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-gateway-distribution-'));
  const { stdout } = await run('htpasswd', ['-nbB', 'bot', PASSWORD]);
  distribution = await startDistribution({ htpasswd: stdout });
  useCredentials(distribution.url, 'bot', PASSWORD);
  files = await publishFixtures(distribution.url, 'team/hello');
  for (const version of Object.values(files)) {
    for (const build of Object.values(version)) {
      for (const data of Object.values(build)) blobsByDigest.set(`sha256:${sha256(data)}`, data);
    }
  }

  // A host no configuration names, which serves blobs to any client and counts the requests.
  foreign = createServer((req, res) => {
    foreignRequests.push(req.headers);
    const data = blobsByDigest.get(req.url?.slice(1) ?? '');
    res.writeHead(data ? 200 : 404, { 'Content-Length': String(data?.length ?? 0) });
    res.end(data);
  });
  const foreignHost = await listen(foreign);

  // A manifest whose file names the foreign host in its descriptor's `urls`.
  const elsewhere = Buffer.from('a program kept elsewhere\n');
  const pointing = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: OCIDROP_ARTIFACT,
      config: { mediaType: OCI_EMPTY, digest: digestOf('{}'), size: 2 },
      layers: [
        {
          mediaType: FILE_BLOB,
          digest: digestOf(elsewhere),
          size: elsewhere.length,
          urls: [`http://${foreignHost}/${digestOf(elsewhere)}`],
          annotations: { 'org.opencontainers.image.title': 'hello', 'io.ocidrop.file.main': 'true' },
        },
      ],
      annotations: { 'org.opencontainers.image.version': '1.0.0' },
    }),
  );
  blobsByDigest.set(digestOf(elsewhere), elsewhere);

  // A registry that passes everything to Distribution except blob reads, which it redirects to the
  // foreign host, and the repository team/pointing, which it makes up.
  redirector = createServer((req, res) => {
    if (req.url === '/v2/team/pointing/tags/list') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ name: 'team/pointing', tags: ['1.0.0'] }));
      return;
    }
    if (req.url === '/v2/team/pointing/manifests/1.0.0') {
      res.writeHead(200, {
        'Content-Type': OCI_MANIFEST,
        'Content-Length': String(pointing.length),
        'Docker-Content-Digest': digestOf(pointing),
      });
      res.end(req.method === 'HEAD' ? undefined : pointing);
      return;
    }
    const blob = /^\/v2\/team\/hello\/blobs\/(sha256:[0-9a-f]{64})$/.exec(req.url ?? '');
    if (req.method === 'GET' && blob) {
      res.writeHead(307, { Location: `http://${foreignHost}/${blob[1]}`, 'Content-Length': '0' });
      res.end();
      return;
    }
    const upstream = request(
      `${distribution.url}${req.url}`,
      { method: req.method, headers: { ...req.headers, host: distribution.host } },
      (response) => {
        res.writeHead(response.statusCode ?? 502, response.headers);
        response.pipe(res);
      },
    );
    req.pipe(upstream);
  });
  const redirectorHost = await listen(redirector);

  await writeFile(join(dir, 'password'), `${PASSWORD}\n`);
  await writeFile(
    join(dir, 'gateway.yaml'),
    `
registry: false
signing:
  keys:
    - id: ci
      secretEnv: LINK_SECRET
registries:
  - name: dist
    url: ${distribution.url}
    username: bot
    passwordFile: password
  - name: redirecting
    url: http://${redirectorHost}
    username: bot
    passwordFile: password
  - name: trusting
    url: http://${redirectorHost}
    username: bot
    passwordFile: password
    allowHosts: ["${foreignHost}"]
repositories:
  - name: hello
    registry: dist
    repository: team/hello
  - name: internal
    registry: dist
    repository: team/hello
    private: true
  - name: redirected
    registry: redirecting
    repository: team/hello
  - name: trusted
    registry: trusting
    repository: team/hello
  - name: pointing
    registry: redirecting
    repository: team/pointing
`,
  );
  const config = await loadConfig(join(dir, 'gateway.yaml'), { LINK_SECRET });
  gateway = await startServer({
    dataDir: join(dir, 'unused'),
    port: 0,
    config,
    logger: pino({ level: 'silent' }),
  });

  // The same registries with redirectToStorage: visitors go to the storage host themselves.
  await writeFile(
    join(dir, 'storage.yaml'),
    `
registry: false
redirectToStorage: true
registries:
  - name: dist
    url: ${distribution.url}
    username: bot
    passwordFile: password
  - name: redirecting
    url: http://${redirectorHost}
    username: bot
    passwordFile: password
repositories:
  - name: hello
    registry: dist
    repository: team/hello
  - name: redirected
    registry: redirecting
    repository: team/hello
`,
  );
  storageGateway = await startServer({
    dataDir: join(dir, 'unused'),
    port: 0,
    config: await loadConfig(join(dir, 'storage.yaml'), {}),
    logger: pino({ level: process.env['DEBUG_GW'] ? 'error' : 'silent' }),
  });
});

after(async () => {
  await gateway?.close();
  await storageGateway?.close();
  await stop(redirector);
  await stop(foreign);
  await distribution?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('gateway in front of Distribution with its credentials', { skip }, () => {
  it('Distribution refuses anonymous clients', async () => {
    const response = await fetch(`${distribution.url}/v2/team/hello/tags/list`);
    assert.equal(response.status, 401);
    await response.arrayBuffer();
  });

  it('runs without the embedded registry', async () => {
    assert.equal(gateway.store, undefined);
    const response = await get('/v2/team/hello/tags/list');
    assert.equal(response.status, 404);
    await response.arrayBuffer();
  });

  it('lists the public names only', async () => {
    const page = await (await get('/')).text();
    assert.match(page, /href="\/hello"/);
    assert.doesNotMatch(page, /internal/);
    assert.doesNotMatch(page, /team\/hello/);
  });

  it('shows the page under the public name', async () => {
    const response = await get('/hello');
    assert.equal(response.status, 200);
    assert.match(await response.text(), /1\.1\.0/);
  });

  it('serves the fixture with its sha256', async () => {
    const response = await get('/hello/latest/download', {});
    assert.equal(response.status, 302);
    const download = await get(response.headers.get('location')!);
    assert.equal(download.status, 200);
    const data = Buffer.from(await download.arrayBuffer());
    assert.equal(sha256(data), sha256(files['1.1.0']!['linux/amd64']!['hello']!));
  });

  it('serves a range', async () => {
    const whole = files['1.0.0']!['linux/amd64']!['hello']!;
    const response = await get('/hello/1.0.0/download', { range: 'bytes=100-199' });
    assert.equal(response.status, 206);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), whole.subarray(100, 200));
  });

  it('resumes with curl -C -', async () => {
    const whole = files['1.1.0']!['linux/amd64']!['hello']!;
    const target = join(dir, 'resumed-hello');
    await writeFile(target, whole.subarray(0, 100_000));
    await run('curl', [
      '-sS',
      '-f',
      '-C',
      '-',
      '-o',
      target,
      `${gateway.url}/hello/1.1.0/download?os=linux&arch=amd64`,
    ]);
    assert.equal(sha256(await readFile(target)), sha256(whole));
  });

  it('install.sh installs a build that runs', async (t) => {
    const home = join(dir, 'home');
    await mkdir(home);
    const script = join(dir, 'install.sh');
    await writeFile(script, await (await get('/hello/install.sh')).text());
    const { stdout } = await run('sh', [script], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home },
    });
    assert.match(stdout, /Installed hello 1\.1\.0/);
    const installed = join(home, '.local', 'bin', 'hello');
    if (platform() !== 'linux' || arch() !== 'x64') {
      t.diagnostic('the real hello build runs on linux/amd64 only; the run is left out here');
      return;
    }
    assert.equal(sha256(await readFile(installed)), sha256(files['1.1.0']!['linux/amd64']!['hello']!));
    const version = await run(installed, ['--version']);
    assert.equal(version.stdout.trim(), 'hello 1.1.0 linux/amd64');
  });

  it('does not expose unlisted repositories', async () => {
    const response = await get('/team/hello/1.1.0/download');
    assert.equal(response.status, 404);
    await response.arrayBuffer();
  });

  it('private name needs a user or a link', async () => {
    const response = await get('/internal/1.1.0/download');
    assert.equal(response.status, 401);
    await response.arrayBuffer();
  });

  it('signed link opens the private name', async () => {
    const signer = new LinkSigner([{ id: 'ci', secret: Buffer.from(LINK_SECRET) }]);
    const query = signer.sign('/internal/1.1.0/download', new Date(Date.now() + 60_000), '');
    const response = await get(`/internal/1.1.0/download?${query}`);
    assert.equal(response.status, 200);
    assert.equal(
      sha256(Buffer.from(await response.arrayBuffer())),
      sha256(files['1.1.0']!['linux/amd64']!['hello']!),
    );
  });
});

describe('hosts the configuration does not name', { skip }, () => {
  it('a redirect elsewhere is refused', async () => {
    const before = foreignRequests.length;
    const response = await get('/redirected/1.1.0/download');
    assert.equal(response.status, 502);
    const body = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'UPSTREAM_FAILED');
    assert.doesNotMatch(body.error.message, /127\.0\.0\.1/);
    assert.equal(foreignRequests.length, before, 'the foreign host was contacted');
  });

  it('a manifest that points elsewhere is not followed', async () => {
    const before = foreignRequests.length;
    const response = await get('/pointing/1.0.0/download');
    // The blob is not in the registry, and the gateway reads blobs from the registry only.
    assert.equal(response.status, 502);
    const body = (await response.json()) as { error: { message: string } };
    assert.match(body.error.message, /BLOB_UNKNOWN/);
    assert.equal(foreignRequests.length, before, 'the foreign host was contacted');
  });

  it('a host in allowHosts is followed without credentials', async () => {
    const before = foreignRequests.length;
    const response = await get('/trusted/1.1.0/download');
    assert.equal(response.status, 200);
    assert.equal(
      sha256(Buffer.from(await response.arrayBuffer())),
      sha256(files['1.1.0']!['linux/amd64']!['hello']!),
    );
    assert.equal(foreignRequests.length, before + 1);
    assert.equal(foreignRequests.at(-1)!.authorization, undefined);
  });
});

describe('gateway with redirectToStorage', { skip }, () => {
  const download = '/1.1.0/download?os=linux&arch=amd64';

  it('sends the visitor to the storage host', async () => {
    const before = foreignRequests.length;
    const response = await fetch(`${storageGateway.url}/redirected${download}`, { redirect: 'manual' });
    assert.ok(
      [302, 307].includes(response.status),
      `status ${response.status}: ${await response.clone().text()}`,
    );
    const location = response.headers.get('location') ?? '';
    assert.match(location, /^http:\/\/127\.0\.0\.1:\d+\/sha256:[0-9a-f]{64}$/);
    assert.equal(foreignRequests.length, before, 'the gateway itself fetched from the storage host');

    const bytes = Buffer.from(await (await fetch(location)).arrayBuffer());
    assert.deepEqual(bytes, files['1.1.0']!['linux/amd64']!['hello']);
  });

  it('relays blobs a registry serves itself', async () => {
    const response = await fetch(`${storageGateway.url}/hello${download}`, { redirect: 'manual' });
    assert.equal(response.status, 200);
    const bytes = Buffer.from(await response.arrayBuffer());
    assert.deepEqual(bytes, files['1.1.0']!['linux/amd64']!['hello']);
  });
});
