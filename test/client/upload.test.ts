import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { RegistryResponseError } from '../../src/client/errors.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { digestOf } from '../../src/oci/digest.js';

const CONTENT = Buffer.from('0123456789');
const DIGEST = digestOf(CONTENT);

describe('RegistryClient.uploadBlob', () => {
  let server: Server;
  let client: RegistryClient;
  const requests: { method: string; url: string; range?: string | undefined; body: Buffer }[] = [];
  let received: Buffer[] = [];
  let existing = false;

  before(async () => {
    server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        const url = new URL(request.url!, 'http://registry');
        requests.push({
          method: request.method!,
          url: request.url!,
          range: request.headers['content-range'],
          body,
        });

        if (request.method === 'HEAD') {
          response.writeHead(existing ? 200 : 404, { 'content-length': existing ? CONTENT.byteLength : 0 });
          response.end();
        } else if (request.method === 'POST' && url.pathname === '/v2/files/blobs/uploads/') {
          received = [];
          // An absolute Location with upload state in the query, which the client must keep.
          response.writeHead(202, {
            location: `http://${request.headers.host}/upload/1?_state=s0`,
            'content-length': 0,
          });
          response.end();
        } else if (request.method === 'PATCH' && url.pathname === '/upload/1') {
          received.push(body);
          response.writeHead(202, { location: `/upload/1?_state=s${received.length}`, 'content-length': 0 });
          response.end();
        } else if (request.method === 'PUT' && url.pathname === '/upload/1') {
          received.push(body);
          const ok = url.searchParams.get('digest') === digestOf(Buffer.concat(received));
          const status = ok ? 201 : 400;
          const payload = ok
            ? ''
            : JSON.stringify({ errors: [{ code: 'DIGEST_INVALID', message: 'digest did not match' }] });
          response.writeHead(status, { 'content-length': Buffer.byteLength(payload) });
          response.end(payload);
        } else if (request.method === 'DELETE' && url.pathname === '/upload/1') {
          response.writeHead(204);
          response.end();
        } else {
          response.writeHead(500);
          response.end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    client = new RegistryClient(`127.0.0.1:${(server.address() as AddressInfo).port}`, {
      credentials: async () => undefined,
      retries: 0,
    });
  });

  after(async () => {
    await client.close();
    server.closeAllConnections();
    server.close();
  });

  beforeEach(() => {
    requests.length = 0;
    existing = false;
  });

  it('sends one PUT with the digest', async () => {
    assert.deepEqual(await client.uploadBlob('files', { digest: DIGEST, size: 10 }, () => CONTENT), {
      uploaded: true,
    });
    const put = requests.find((request) => request.method === 'PUT')!;
    assert.equal(put.url, `/upload/1?_state=s0&digest=${encodeURIComponent(DIGEST)}`);
    assert.deepEqual(put.body, CONTENT);
  });

  it('sends chunks with Content-Range', async () => {
    const open = (range?: { start: number; end: number }) =>
      range === undefined ? CONTENT : CONTENT.subarray(range.start, range.end + 1);
    await client.uploadBlob('files', { digest: DIGEST, size: 10 }, open, { chunkSize: 4 });
    const patches = requests.filter((request) => request.method === 'PATCH');
    assert.deepEqual(
      patches.map((request) => request.range),
      ['0-3', '4-7', '8-9'],
    );
    assert.deepEqual(
      patches.map((request) => request.url),
      ['/upload/1?_state=s0', '/upload/1?_state=s1', '/upload/1?_state=s2'],
    );
    const put = requests.find((request) => request.method === 'PUT')!;
    assert.equal(put.url, `/upload/1?_state=s3&digest=${encodeURIComponent(DIGEST)}`);
    assert.equal(put.body.byteLength, 0);
  });

  it('skips a blob the registry has', async () => {
    existing = true;
    assert.deepEqual(await client.uploadBlob('files', { digest: DIGEST, size: 10 }, () => CONTENT), {
      uploaded: false,
    });
    assert.deepEqual(
      requests.map((request) => request.method),
      ['HEAD'],
    );
  });

  it('cancels the session after a rejected PUT', async () => {
    const wrong = Buffer.from('9876543210');
    await assert.rejects(
      client.uploadBlob('files', { digest: DIGEST, size: 10 }, () => wrong),
      (error: unknown) => {
        assert.ok(error instanceof RegistryResponseError);
        assert.equal(error.status, 400);
        assert.ok(error.hasCode('DIGEST_INVALID'));
        assert.doesNotMatch(error.message, /_state/, 'the upload state stays out of messages');
        return true;
      },
    );
    assert.equal(requests.at(-1)?.method, 'DELETE');
  });
});
