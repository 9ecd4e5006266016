import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RegistryResponseError } from '../../src/client/errors.js';
import { isRetryableStatus, RegistryClient, retryAfter } from '../../src/client/registry-client.js';

describe('retryAfter', () => {
  it('reads delay seconds', () => {
    assert.equal(retryAfter('3'), 3000);
  });

  it('reads an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(retryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now), 5000);
  });

  it('ignores an invalid value', () => {
    assert.equal(retryAfter('soon'), undefined);
    assert.equal(retryAfter(undefined), undefined);
  });
});

describe('isRetryableStatus', () => {
  for (const status of [408, 429, 500, 502, 503, 504]) {
    it(`retries ${status}`, () => assert.equal(isRetryableStatus(status), true));
  }
  for (const status of [400, 401, 403, 404, 416, 501]) {
    it(`does not retry ${status}`, () => assert.equal(isRetryableStatus(status), false));
  }
});

describe('RegistryClient retries', () => {
  let server: Server;
  let host: string;
  // Responses still to fail, per repository: the status to send and an optional Retry-After.
  const failures = new Map<string, { status: number; retryAfter?: string }[]>();
  const attempts = new Map<string, number>();

  before(async () => {
    server = createServer((request, response) => {
      const repository = /^\/v2\/([^/]+)\/tags\/list/.exec(request.url ?? '')?.[1] ?? '';
      attempts.set(repository, (attempts.get(repository) ?? 0) + 1);
      const failure = failures.get(repository)?.shift();
      if (failure !== undefined) {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (failure.retryAfter !== undefined) headers['retry-after'] = failure.retryAfter;
        response.writeHead(failure.status, headers);
        response.end(JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] }));
        return;
      }
      if (repository === 'missing') {
        response.writeHead(404, { 'content-type': 'application/json' });
        response.end(
          JSON.stringify({
            errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }],
          }),
        );
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ name: repository, tags: ['1.0.0'] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('retries 503 after Retry-After', async () => {
    failures.set('busy', [
      { status: 503, retryAfter: '0' },
      { status: 503, retryAfter: '0' },
    ]);
    const client = new RegistryClient(host, { retryDelay: 1 });
    try {
      assert.deepEqual(await client.tags('busy'), ['1.0.0']);
    } finally {
      await client.close();
    }
    assert.equal(attempts.get('busy'), 3);
  });

  it('retries 429 with backoff', async () => {
    failures.set('limited', [{ status: 429 }]);
    const client = new RegistryClient(host, { retryDelay: 1 });
    try {
      assert.deepEqual(await client.tags('limited'), ['1.0.0']);
    } finally {
      await client.close();
    }
    assert.equal(attempts.get('limited'), 2);
  });

  it('gives up after the retries', async () => {
    failures.set('down', [{ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 }]);
    const client = new RegistryClient(host, { retries: 2, retryDelay: 1 });
    try {
      await assert.rejects(client.tags('down'), (error: unknown) => {
        assert.ok(error instanceof RegistryResponseError);
        assert.equal(error.status, 500);
        return true;
      });
    } finally {
      await client.close();
    }
    assert.equal(attempts.get('down'), 3);
  });

  it('does not retry 404', async () => {
    const client = new RegistryClient(host, { retryDelay: 1 });
    try {
      await assert.rejects(client.tags('missing'), { status: 404 });
    } finally {
      await client.close();
    }
    assert.equal(attempts.get('missing'), 1);
  });
});
