/**
 * The client's transport rules against small registry stand-ins on 127.0.0.1: automatic chunking
 * after a 413, `OCI-Chunk-Min-Length`, `Link` pages kept on the registry's origin and capped,
 * no HTTPS-to-HTTP downgrade on redirects and token realms, `--ca-file` and `--insecure`, and
 * token lifetimes.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { RegistryClient } from '../../src/client/registry-client.js';
import { digestOf } from '../../src/oci/digest.js';
import { skipUnless } from '../helpers/tools.js';

const run = promisify(execFile);

type Handler = (request: IncomingMessage, response: ServerResponse, body: Buffer) => void;

async function listen(handler: Handler): Promise<{ server: Server; host: string }> {
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => handler(request, response, Buffer.concat(chunks)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, host: `127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function close(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

describe('upload size rules', () => {
  const content = Buffer.alloc(100_000, 1);
  const digest = digestOf(content);
  let registry: { server: Server; host: string };
  let patches: number[] = [];
  let puts: number[] = [];
  let received: Buffer[] = [];
  let minimum = 0;

  before(async () => {
    registry = await listen((request, response, body) => {
      const url = new URL(request.url!, 'http://registry');
      if (request.method === 'HEAD') {
        response.writeHead(404).end();
      } else if (request.method === 'POST') {
        received = [];
        const headers: Record<string, string> = { location: '/upload/1' };
        if (minimum > 0) headers['oci-chunk-min-length'] = String(minimum);
        response.writeHead(202, headers).end();
      } else if (request.method === 'PATCH') {
        patches.push(body.byteLength);
        received.push(body);
        response.writeHead(202, { location: '/upload/1' }).end();
      } else if (request.method === 'PUT' && body.byteLength > 50_000) {
        // A proxy in front of the registry that limits request bodies.
        puts.push(body.byteLength);
        response.writeHead(413, { 'content-type': 'text/plain' }).end('request entity too large');
      } else if (request.method === 'PUT') {
        puts.push(body.byteLength);
        received.push(body);
        const ok = url.searchParams.get('digest') === digestOf(Buffer.concat(received));
        response.writeHead(ok ? 201 : 400).end();
      } else if (request.method === 'DELETE') {
        response.writeHead(204).end();
      } else {
        response.writeHead(500).end();
      }
    });
  });

  after(() => close(registry?.server));

  it('uploads in chunks after a 413', async () => {
    patches = [];
    puts = [];
    minimum = 0;
    const client = new RegistryClient(registry.host);
    const result = await client.uploadBlob('files', { digest, size: content.byteLength }, (range) =>
      range === undefined ? content : content.subarray(range.start, range.end + 1),
    );
    await client.close();
    assert.equal(result.uploaded, true);
    assert.deepEqual(puts, [100_000, 0], 'the monolithic PUT, then the closing PUT');
    assert.deepEqual(patches, [25_000, 25_000, 25_000, 25_000]);
  });

  it('raises the chunk size to OCI-Chunk-Min-Length', async () => {
    patches = [];
    puts = [];
    minimum = 40_000;
    const client = new RegistryClient(registry.host);
    await client.uploadBlob(
      'files',
      { digest, size: content.byteLength },
      (range) => (range === undefined ? content : content.subarray(range.start, range.end + 1)),
      { chunkSize: 10_000 },
    );
    await client.close();
    assert.deepEqual(patches, [40_000, 40_000, 20_000]);
  });
});

describe('Link pagination', () => {
  let registry: { server: Server; host: string };
  let next = '';
  let pages = 0;

  before(async () => {
    registry = await listen((request, response) => {
      pages++;
      const url = new URL(request.url!, 'http://registry');
      const page = Number(url.searchParams.get('page') ?? 0);
      const link = next === '' ? `</v2/files/tags/list?page=${page + 1}>; rel="next"` : next;
      response.writeHead(200, { 'content-type': 'application/json', link });
      response.end(JSON.stringify({ name: 'files', tags: [`t${page}`] }));
    });
  });

  after(() => close(registry?.server));

  it('stops at the page limit', async () => {
    pages = 0;
    next = '';
    const client = new RegistryClient(registry.host);
    await assert.rejects(client.tags('files'), /more than 1000 pages/);
    await client.close();
    assert.equal(pages, 1000);
  });

  it('rejects a next page on another origin', async () => {
    pages = 0;
    next = '<http://127.0.0.2:1/v2/files/tags/list?page=1>; rel="next"';
    const client = new RegistryClient(registry.host);
    await assert.rejects(client.tags('files'), /next page to another origin, http:\/\/127\.0\.0\.2:1/);
    await client.close();
    assert.equal(pages, 1);
  });
});

describe('token lifetime', () => {
  let tokens: { server: Server; host: string };
  let registry: { server: Server; host: string };
  let issued = 0;

  before(async () => {
    tokens = await listen((_request, response) => {
      issued++;
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ token: `token-${issued}`, expires_in: 1 }));
    });
    registry = await listen((request, response) => {
      if (request.headers.authorization !== `Bearer token-${issued}`) {
        response.writeHead(401, {
          'www-authenticate': `Bearer realm="http://${tokens.host}/token",service="test"`,
        });
        response.end();
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ name: 'files', tags: ['1'] }));
    });
  });

  after(async () => {
    await close(tokens?.server);
    await close(registry?.server);
  });

  it('asks for a new token after expires_in', async () => {
    const client = new RegistryClient(registry.host);
    await client.tags('files');
    await client.tags('files');
    assert.equal(issued, 1, 'the token is reused while it is valid');
    await delay(1100);
    await client.tags('files');
    assert.equal(issued, 2, 'an expired token is replaced');
    await client.close();
  });
});

describe('TLS', { skip: skipUnless('openssl') }, () => {
  let work: string;
  let caFile: string;
  let registry: ReturnType<typeof createHttpsServer>;
  let host: string;
  let plain: { server: Server; host: string };
  let mode: 'ok' | 'redirect' | 'realm' = 'ok';

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidrop-tls-'));
    caFile = join(work, 'cert.pem');
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(work, 'key.pem'),
      '-out',
      caFile,
    ]);
    plain = await listen((_request, response) => {
      response.writeHead(200, { 'content-length': 2 }).end('{}');
    });
    registry = createHttpsServer(
      { key: await readFile(join(work, 'key.pem')), cert: await readFile(caFile) },
      (request, response) => {
        if (mode === 'redirect' && request.url?.includes('/blobs/')) {
          response.writeHead(307, { location: `http://${plain.host}/storage/blob` }).end();
        } else if (mode === 'realm' && request.headers.authorization === undefined) {
          response.writeHead(401, { 'www-authenticate': `Bearer realm="http://${plain.host}/token"` }).end();
        } else {
          response.writeHead(200, { 'content-type': 'application/json' });
          response.end(JSON.stringify({ name: 'files', tags: ['1'] }));
        }
      },
    );
    await new Promise<void>((resolve) => registry.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(registry.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise<void>((resolve) => (registry ? registry.close(() => resolve()) : resolve()));
    await close(plain?.server);
    await rm(work, { recursive: true, force: true });
  });

  it('rejects an unknown certificate', async () => {
    mode = 'ok';
    const client = new RegistryClient(host, { plainHttp: false, retries: 0 });
    await assert.rejects(client.tags('files'), /self-signed|certificate/i);
    await client.close();
  });

  it('trusts a certificate from --ca-file', async () => {
    mode = 'ok';
    const client = new RegistryClient(host, { plainHttp: false, ca: await readFile(caFile) });
    assert.deepEqual(await client.tags('files'), ['1']);
    await client.close();
  });

  it('accepts any certificate with --insecure', async () => {
    mode = 'ok';
    const client = new RegistryClient(host, { plainHttp: false, insecure: true });
    assert.deepEqual(await client.tags('files'), ['1']);
    await client.close();
  });

  it('refuses a redirect from HTTPS to HTTP', async () => {
    mode = 'redirect';
    const client = new RegistryClient(host, { plainHttp: false, insecure: true });
    const digest = digestOf('{}');
    await assert.rejects(client.getBlob('files', digest), /redirect leads from HTTPS to http/);
    await client.close();
  });

  it('refuses a token realm over plain HTTP', async () => {
    mode = 'realm';
    const client = new RegistryClient(host, { plainHttp: false, insecure: true });
    await assert.rejects(client.tags('files'), /token realm .* over plain HTTP/);
    await client.close();
  });
});

describe('connections for HEAD requests', () => {
  let server: Server | undefined;

  after(async () => {
    server?.closeAllConnections();
    await close(server);
  });

  it('reuses connections across HEAD checks', async () => {
    const registry = await listen((request, response) => {
      // Node writes `Connection: keep-alive` on each response of a kept connection.
      response.writeHead(request.url?.includes('/blobs/') ? 404 : 200, { 'Content-Length': '0' });
      response.end();
    });
    server = registry.server;
    let connections = 0;
    server.on('connection', () => connections++);

    const client = new RegistryClient(registry.host);
    try {
      for (let i = 0; i < 10; i++) {
        assert.equal(await client.headBlob('app', digestOf(`blob ${i}`)), undefined);
      }
    } finally {
      await client.close();
    }
    // undici waits a turn of the event loop before it reuses a socket, so a request sent right
    // after the first response may open a second connection. Without keep-alive there are ten.
    assert.ok(connections <= 2, `${connections} connections for ten HEAD requests`);
  });
});
