import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { RegistryResponseError } from '../../src/client/errors.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { digestOf } from '../../src/oci/digest.js';

const CONTENT = Buffer.from('single post content');
const DIGEST = digestOf(CONTENT);
const LARGE = Buffer.alloc(4 * 1024 * 1024 + 1, 7);

/** How the test registry responds to a `POST` that carries `?digest=` and a body. */
type SinglePostAnswer = 'created' | 'session' | 'rejected';

describe('RegistryClient.uploadBlob single POST', () => {
  let server: Server;
  let answer: SinglePostAnswer = 'created';
  const requests: { method: string; digest: string | null; body: Buffer }[] = [];
  const stored = new Map<string, Buffer>();

  before(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        const url = new URL(request.url!, 'http://registry');
        const digest = url.searchParams.get('digest');
        requests.push({ method: request.method!, digest, body });

        if (request.method === 'HEAD') {
          response.writeHead(404, { 'content-length': 0 });
          response.end();
        } else if (request.method === 'POST' && url.pathname === '/v2/files/blobs/uploads/') {
          if (digest !== null && answer === 'created') {
            if (digest !== digestOf(body)) {
              const payload = JSON.stringify({
                errors: [{ code: 'DIGEST_INVALID', message: 'digest did not match' }],
              });
              response.writeHead(400, { 'content-length': Buffer.byteLength(payload) });
              response.end(payload);
              return;
            }
            stored.set(digest, body);
            response.writeHead(201, { location: `/v2/files/blobs/${digest}`, 'content-length': 0 });
          } else if (digest !== null && answer === 'rejected') {
            response.writeHead(405, { 'content-length': 0 });
          } else {
            // A registry without the single POST ignores the digest and the body and opens a session.
            response.writeHead(202, { location: '/upload/1', 'content-length': 0 });
          }
          response.end();
        } else if (request.method === 'PUT' && url.pathname === '/upload/1' && digest === digestOf(body)) {
          stored.set(digest, body);
          response.writeHead(201, { 'content-length': 0 });
          response.end();
        } else {
          response.writeHead(500, { 'content-length': 0 });
          response.end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  beforeEach(() => {
    requests.length = 0;
    stored.clear();
  });

  function newClient(): RegistryClient {
    return new RegistryClient(`127.0.0.1:${(server.address() as AddressInfo).port}`, {
      credentials: async () => undefined,
      retries: 0,
    });
  }

  it('sends a small blob in one POST', async () => {
    answer = 'created';
    const client = newClient();
    await client.uploadBlob('files', { digest: DIGEST, size: CONTENT.byteLength }, () => CONTENT);
    await client.close();
    assert.deepEqual(
      requests.map((request) => `${request.method} ${request.digest}`),
      ['HEAD null', `POST ${DIGEST}`],
    );
    assert.deepEqual(stored.get(DIGEST), CONTENT);
  });

  it('rejects content that mismatches its digest', async () => {
    answer = 'created';
    const client = newClient();
    const wrong = Buffer.alloc(CONTENT.byteLength, 'x');
    await assert.rejects(
      client.uploadBlob('files', { digest: DIGEST, size: CONTENT.byteLength }, () => wrong),
      (error: unknown) => error instanceof RegistryResponseError && error.hasCode('DIGEST_INVALID'),
    );
    await client.close();
    assert.deepEqual(
      requests.map((request) => `${request.method} ${request.digest}`),
      ['HEAD null', `POST ${DIGEST}`],
      'no session is opened after the rejection',
    );
  });

  it('uses the session a registry opens instead', async () => {
    answer = 'session';
    const client = newClient();
    await client.uploadBlob('files', { digest: DIGEST, size: CONTENT.byteLength }, () => CONTENT);
    assert.deepEqual(
      requests.map((request) => `${request.method} ${request.digest}`),
      ['HEAD null', `POST ${DIGEST}`, `PUT ${DIGEST}`],
    );
    assert.deepEqual(stored.get(DIGEST), CONTENT);

    requests.length = 0;
    await client.uploadBlob('files', { digest: DIGEST, size: CONTENT.byteLength }, () => CONTENT);
    await client.close();
    assert.deepEqual(
      requests.map((request) => `${request.method} ${request.digest}`),
      ['HEAD null', 'POST null', `PUT ${DIGEST}`],
      'the second blob goes straight to a session',
    );
  });

  it('falls back after a rejected POST', async () => {
    answer = 'rejected';
    const client = newClient();
    await client.uploadBlob('files', { digest: DIGEST, size: CONTENT.byteLength }, () => CONTENT);
    await client.close();
    assert.deepEqual(
      requests.map((request) => `${request.method} ${request.digest}`),
      ['HEAD null', `POST ${DIGEST}`, 'POST null', `PUT ${DIGEST}`],
    );
    assert.deepEqual(stored.get(DIGEST), CONTENT);
  });

  it('opens a session for a blob over 4 MiB', async () => {
    answer = 'created';
    const client = newClient();
    const digest = digestOf(LARGE);
    await client.uploadBlob('files', { digest, size: LARGE.byteLength }, () => LARGE);
    await client.close();
    assert.deepEqual(
      requests.map((request) => `${request.method} ${request.digest}`),
      ['HEAD null', 'POST null', `PUT ${digest}`],
    );
    assert.equal(stored.get(digest)?.byteLength, LARGE.byteLength);
  });
});
