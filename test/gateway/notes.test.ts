/**
 * Release notes attached with `ocidrop attach` as a referrer of a release: the gateway shows them
 * on the release's page and in `latest.json?current=`, over the embedded store (referrers API) and
 * over CNCF Distribution (fallback tag `<alg>-<hex>`).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { RegistryClient } from '../../src/client/registry-client.js';
import { RemoteSource } from '../../src/client/remote-source.js';
import type { ContentSource } from '../../src/content/source.js';
import { createGatewayHandler, type GatewayOptions } from '../../src/gateway/handler.js';
import { MAX_NOTES_BYTES } from '../../src/gateway/notes.js';
import { parseManifest } from '../../src/oci/manifest.js';
import { RELEASE_NOTES_ARTIFACT } from '../../src/oci/media-types.js';
import { runCli } from '../helpers/cli.js';
import { type RunningDistribution, startDistribution } from '../helpers/distribution.js';
import { skipUnless } from '../helpers/tools.js';
import { type BuildSpec, publishRelease } from './publish.js';
import { type GatewayFixture, startGateway } from './server.js';

const LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const NOTES = '# hello 1.1.0\n\n- Fixes <script>alert("x")</script> & more\n';
const ESCAPED = '- Fixes &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more';

let dir: string;

/** Two platform builds of a tiny program. */
function builds(version: string): BuildSpec[] {
  return ['linux/amd64', 'darwin/arm64'].map((platform) => ({
    platform,
    files: [{ name: 'hello', data: Buffer.from(`hello ${version} ${platform}\n`), main: true }],
  }));
}

/** Writes `text` to a file named `name` in the test folder and attaches it to `reference`. */
async function attachNotes(
  reference: string,
  name: string,
  text: string | Buffer,
  artifactType = RELEASE_NOTES_ARTIFACT,
  annotations: string[] = [],
): Promise<void> {
  const path = join(dir, name);
  await writeFile(path, text);
  const result = await runCli([
    'attach',
    reference,
    path,
    '--artifact-type',
    artifactType,
    '--plain-http',
    ...annotations.flatMap((annotation) => ['-a', annotation]),
  ]);
  assert.equal(result.code, 0, result.stderr);
}

async function page(base: string, path: string): Promise<string> {
  const response = await fetch(`${base}${path}`, { headers: { 'user-agent': LINUX } });
  assert.equal(response.status, 200);
  return response.text();
}

async function latest(
  base: string,
  path: string,
): Promise<{ notes: string | null; notesTruncated: boolean; version: string }> {
  const response = await fetch(`${base}${path}`);
  assert.equal(response.status, 200);
  return (await response.json()) as { notes: string | null; notesTruncated: boolean; version: string };
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-notes-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('release notes over the embedded store', () => {
  let gateway: GatewayFixture;

  before(async () => {
    gateway = await startGateway();
    const { url, host } = gateway.registry;
    await publishRelease(url, 'tools/hello', '1.0.0', builds('1.0.0'));
    await publishRelease(url, 'tools/hello', '1.1.0', builds('1.1.0'));
    await attachNotes(`${host}/tools/hello:1.1.0`, 'NOTES.md', NOTES);
    // Older by its date although attached later, and a newer attachment of another type: neither wins.
    await attachNotes(`${host}/tools/hello:1.1.0`, 'OLD.md', 'older notes\n', 'text/markdown', [
      'org.opencontainers.image.created=2020-01-01T00:00:00Z',
    ]);
    await attachNotes(`${host}/tools/hello:1.1.0`, 'SHA256SUMS', 'abc  hello\n', 'text/x-checksums');
  });

  after(async () => {
    await gateway?.close();
  });

  it('shows the newest notes escaped', async () => {
    const html = await page(gateway.url, '/tools/hello/1.1.0');
    assert.match(html, /<h2 id="notes">Release notes<\/h2>/);
    assert.ok(html.includes(ESCAPED), 'the notes appear escaped');
    assert.ok(!html.includes('<script>alert'), 'no markup from the notes');
    assert.ok(!html.includes('older notes'), 'the older notes are not shown');
    assert.ok(!html.includes('abc  hello'), 'a checksum file is not notes');
    assert.ok(!html.includes('were cut'));
  });

  it('carries the notes in latest.json for an update check', async () => {
    const body = await latest(gateway.url, '/tools/hello/latest.json?current=1.0.0&os=linux&arch=amd64');
    assert.equal(body.version, '1.1.0');
    assert.equal(body.notes, NOTES);
    assert.equal(body.notesTruncated, false);
  });

  it('leaves referrer notes out of latest.json without current', async () => {
    const body = await latest(gateway.url, '/tools/hello/latest.json?os=linux&arch=amd64');
    assert.equal(body.notes, null);
  });

  it('shows no notes for a version without any', async () => {
    const html = await page(gateway.url, '/tools/hello/1.0.0');
    assert.ok(!html.includes('Release notes'));
  });

  it('cuts notes longer than the limit', async () => {
    const { url, host } = gateway.registry;
    await publishRelease(url, 'tools/long', '2.0.0', builds('2.0.0'));
    // A two-byte character straddles the limit, so the cut must not split it.
    const text = `${'a'.repeat(MAX_NOTES_BYTES - 1)}é${'b'.repeat(10_000)}`;
    await attachNotes(`${host}/tools/long:2.0.0`, 'LONG.txt', text, 'text/plain');

    const html = await page(gateway.url, '/tools/long/2.0.0');
    assert.match(html, /The notes were cut at 64 KiB/);
    assert.ok(!html.includes('b'.repeat(10)), 'the part past the limit is not shown');

    const body = await latest(gateway.url, '/tools/long/latest.json?current=1.0.0&os=linux&arch=amd64');
    assert.equal(body.notesTruncated, true);
    assert.equal(body.notes, 'a'.repeat(MAX_NOTES_BYTES - 1));
  });

  it('reads notes attached to the platform manifest', async () => {
    const { url, host, store } = gateway.registry;
    await publishRelease(url, 'tools/split', '3.0.0', builds('3.0.0'));
    const index = await store.manifest('tools/split', '3.0.0');
    const parsed = parseManifest(index.bytes, index.mediaType);
    assert.equal(parsed.kind, 'index');
    const linux = parsed.manifest.manifests.find((entry) => entry.platform?.os === 'linux');
    assert.ok(linux);
    await attachNotes(`${host}/tools/split@${linux.digest}`, 'LINUX.md', 'linux only notes\n');

    assert.match(await page(gateway.url, '/tools/split/3.0.0'), /linux only notes/);
    const mac = await fetch(`${gateway.url}/tools/split/3.0.0?os=darwin&arch=arm64`);
    assert.ok(!(await mac.text()).includes('linux only notes'), 'another platform has no notes');
  });

  it('prefers the description annotation', async () => {
    const { url, host } = gateway.registry;
    await publishRelease(url, 'tools/described', '1.0.0', builds('1.0.0'), {
      annotations: { 'org.opencontainers.image.description': 'notes from the annotation' },
    });
    await attachNotes(`${host}/tools/described:1.0.0`, 'NOTES.md', 'notes from a referrer\n');

    const html = await page(gateway.url, '/tools/described/1.0.0');
    assert.match(html, /notes from the annotation/);
    assert.ok(!html.includes('notes from a referrer'));
  });
});

describe('release notes lookup that fails', () => {
  let gateway: GatewayFixture;
  let server: Server;
  let base: string;
  const logged: Record<string, unknown>[] = [];

  before(async () => {
    gateway = await startGateway();
    const { url, host, store } = gateway.registry;
    await publishRelease(url, 'tools/hello', '1.1.0', builds('1.1.0'));
    await attachNotes(`${host}/tools/hello:1.1.0`, 'NOTES.md', NOTES);

    const failing: ContentSource = {
      repositories: () => store.repositories(),
      tags: (repository) => store.tags(repository),
      manifest: (repository, reference) => store.manifest(repository, reference),
      blob: (repository, digest, range) => store.blob(repository, digest, range),
      referrers: async () => {
        throw new Error('referrers listing failed');
      },
    };
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logged.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
        callback();
      },
    });
    const options: GatewayOptions = { logger: pino({ level: 'info' }, destination) };
    const handler = createGatewayHandler(failing, options);
    server = createServer((req, res) => {
      void handler(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await gateway?.close();
  });

  it('still renders the page', async () => {
    const html = await page(base, '/tools/hello/1.1.0');
    assert.match(html, /hello <span class="meta">1\.1\.0<\/span>/);
    assert.ok(!html.includes('Release notes'));
    const warning = logged.find((line) => line['level'] === 40);
    assert.ok(warning, 'a warning is logged');
    assert.match(String(warning['msg']), /release notes/);
  });

  it('still answers latest.json', async () => {
    const body = await latest(base, '/tools/hello/latest.json?current=1.0.0&os=linux&arch=amd64');
    assert.equal(body.version, '1.1.0');
    assert.equal(body.notes, null);
  });
});

const skip = skipUnless('docker-registry');

describe('release notes through CNCF Distribution', { skip }, () => {
  let distribution: RunningDistribution;
  let client: RegistryClient;
  let server: Server;
  let base: string;

  before(async () => {
    distribution = await startDistribution();
    await publishRelease(distribution.url, 'tools/hello', '1.0.0', builds('1.0.0'));
    await publishRelease(distribution.url, 'tools/hello', '1.1.0', builds('1.1.0'));
    await attachNotes(`${distribution.host}/tools/hello:1.1.0`, 'NOTES.md', NOTES);

    client = new RegistryClient(distribution.host, { credentials: async () => undefined, retries: 0 });
    const handler = createGatewayHandler(new RemoteSource(client), { cache: { tagTtlMs: 5_000 } });
    server = createServer((req, res) => {
      void handler(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await client?.close();
    await distribution?.close();
  });

  it('stores the notes under the fallback tag', async () => {
    const tags = await client.tags('tools/hello');
    assert.ok(
      tags.some((tag) => /^sha256-[0-9a-f]{64}$/.test(tag)),
      `a referrers tag among ${tags.join(', ')}`,
    );
  });

  it('shows the notes escaped', async () => {
    const html = await page(base, '/tools/hello/1.1.0');
    assert.ok(html.includes(ESCAPED), 'the notes appear escaped');
    assert.ok(!html.includes('<script>alert'));
  });

  it('carries the notes in latest.json', async () => {
    const body = await latest(base, '/tools/hello/latest.json?current=1.0.0&os=linux&arch=amd64');
    assert.equal(body.version, '1.1.0');
    assert.equal(body.notes, NOTES);
  });
});
