/**
 * Server-side request forgery through the gateway: a remote registry that names another host in a
 * token realm or a redirect cannot make `ocidrop serve` contact it, loopback ports included,
 * unless the configuration lists that host in `allowHosts`.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { checkConfig } from '../../src/serve/config.js';
import { type RunningServer, startServer } from '../../src/serve/server.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** Starts a server on 127.0.0.1 that records each request and replies with `respond`. */
async function startRecorder(
  respond: (seen: Seen, res: ServerResponse) => void,
): Promise<{ url: string; host: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    seen.push(entry);
    req.resume();
    req.on('end', () => respond(entry, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: 'application/vnd.ocidrop.release.v1',
  config: {
    mediaType: 'application/vnd.oci.empty.v1+json',
    digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
    size: 2,
  },
  layers: [
    {
      mediaType: 'application/octet-stream',
      digest: `sha256:${'a'.repeat(64)}`,
      size: 4,
      annotations: { 'org.opencontainers.image.title': 'hello', 'io.ocidrop.file.main': 'true' },
    },
  ],
  annotations: { 'org.opencontainers.image.version': '1.0.0' },
});

describe('gateway contacts only configured hosts', () => {
  let catcher: Awaited<ReturnType<typeof startRecorder>>;
  let realmRegistry: Awaited<ReturnType<typeof startRecorder>>;
  let redirectRegistry: Awaited<ReturnType<typeof startRecorder>>;
  let gateway: RunningServer;
  let dataDir: string;

  before(async () => {
    catcher = await startRecorder((_, res) =>
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"token":"t"}'),
    );
    realmRegistry = await startRecorder((seen, res) => {
      if (seen.headers.authorization === 'Bearer t')
        return res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      res
        .writeHead(401, { 'WWW-Authenticate': `Bearer realm="${catcher.url}/token",service="remote"` })
        .end();
    });
    redirectRegistry = await startRecorder((seen, res) => {
      if (seen.url.includes('/manifests/')) {
        return res
          .writeHead(200, {
            'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
            'Docker-Content-Digest': `sha256:${createHash('sha256').update(MANIFEST).digest('hex')}`,
            'Content-Length': Buffer.byteLength(MANIFEST),
          })
          .end(seen.method === 'HEAD' ? undefined : MANIFEST);
      }
      if (seen.url.includes('/tags/list'))
        return res
          .writeHead(200, { 'Content-Type': 'application/json' })
          .end('{"name":"app","tags":["1.0.0"]}');
      if (seen.url.includes('/blobs/'))
        return res.writeHead(307, { Location: `${catcher.url}/storage/blob` }).end();
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
    });
    dataDir = await mkdtemp(join(tmpdir(), 'ocidrop-ssrf-'));
    const config = await checkConfig(
      {
        registry: false,
        registries: [
          { name: 'realm', url: realmRegistry.url, username: 'gateway', passwordEnv: 'REMOTE_PASSWORD' },
          { name: 'redirect', url: redirectRegistry.url },
        ],
        repositories: [
          { name: 'realm/app', registry: 'realm', repository: 'app' },
          { name: 'redirect/app', registry: 'redirect', repository: 'app' },
        ],
      },
      {
        path: join(dataDir, 'ocidrop.yaml'),
        env: { REMOTE_PASSWORD: 'gateway-secret' },
        readSecretFile: async () => '',
      },
    );
    gateway = await startServer({
      dataDir,
      host: '127.0.0.1',
      port: 0,
      config,
      logger: pino({ level: 'silent' }),
    });
  });

  after(async () => {
    await gateway.close();
    for (const server of [catcher, realmRegistry, redirectRegistry]) await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('token realm on another host is refused', async () => {
    catcher.seen.length = 0;
    const response = await fetch(`${gateway.url}/realm/app/1.0.0`, { headers: { Accept: 'text/html' } });
    const body = await response.text();
    assert.ok(realmRegistry.seen.length > 0, 'the gateway never asked the registry');
    assert.equal(response.status, 502, body.slice(0, 300));
    assert.equal(catcher.seen.length, 0, 'the gateway contacted the realm host');
    assert.ok(!body.includes('gateway-secret'));
  });

  it('redirect to another host is refused', async () => {
    catcher.seen.length = 0;
    const response = await fetch(`${gateway.url}/redirect/app/1.0.0/download?os=linux&arch=amd64`);
    const body = await response.text();
    assert.ok(
      redirectRegistry.seen.some((seen) => seen.url.includes('/blobs/')),
      'the gateway never asked for the blob',
    );
    assert.ok(response.status >= 500, `status ${response.status}`);
    assert.equal(catcher.seen.length, 0, 'the gateway followed the redirect');
    assert.doesNotMatch(body, /127\.0\.0\.1:\d+\/storage/);
  });
});
