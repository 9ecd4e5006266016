/**
 * Conditional and range requests on `GET` and `HEAD /v2/<name>/blobs/<digest>` (RFC 9110 sections
 * 13.1.2, 13.1.5 and 14.2), whose entity tag is the blob's digest.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { errorCode, pushBlob, request } from './client.js';

const DATA = '0123456789abcdefghij';

let registry: EmbeddedRegistry;
let path: string;
let etag: string;

before(async () => {
  registry = await startEmbeddedRegistry();
  const digest = await pushBlob(registry.url, 'conditional/blob', DATA);
  path = `/v2/conditional/blob/blobs/${digest}`;
  etag = `"${digest}"`;
});

after(async () => {
  await registry.close();
});

describe('If-None-Match on a blob', () => {
  for (const method of ['GET', 'HEAD']) {
    it(`${method} with a matching tag answers 304`, async () => {
      const forms = [etag, '*', `W/${etag}`, `"sha256:other", ${etag}`];
      for (const value of forms) {
        const response = await request(registry.url, path, { method, headers: { 'If-None-Match': value } });
        assert.equal(response.status, 304, value);
        assert.equal(response.headers.get('etag'), etag, value);
        assert.equal(await response.text(), '', value);
      }
    });

    it(`${method} with another tag answers 200`, async () => {
      const response = await request(registry.url, path, {
        method,
        headers: { 'If-None-Match': '"sha256:other"' },
      });
      assert.equal(response.status, 200);
      assert.equal(response.headers.get('content-length'), String(DATA.length));
      assert.equal(await response.text(), method === 'GET' ? DATA : '');
    });
  }
});

describe('If-Range on a blob', () => {
  it('matching tag serves the range', async () => {
    const response = await request(registry.url, path, { headers: { Range: 'bytes=0-3', 'If-Range': etag } });
    assert.equal(response.status, 206);
    assert.equal(response.headers.get('content-range'), 'bytes 0-3/20');
    assert.equal(await response.text(), '0123');
  });

  it('another tag sends the whole blob', async () => {
    const response = await request(registry.url, path, {
      headers: { Range: 'bytes=0-3', 'If-Range': '"sha256:other"' },
    });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-range'), null);
    assert.equal(await response.text(), DATA);
  });

  it('a date sends the whole blob', async () => {
    const response = await request(registry.url, path, {
      headers: { Range: 'bytes=0-3', 'If-Range': 'Mon, 16 Feb 2026 12:00:00 GMT' },
    });
    assert.equal(response.status, 200);
    assert.equal(await response.text(), DATA);
  });
});

describe('Range on a blob', () => {
  it('invalid syntax sends the whole blob', async () => {
    for (const range of ['bytes=5-4', 'bytes=x-3', 'items=0-3', 'bytes=0-1,4-5']) {
      const response = await request(registry.url, path, { headers: { Range: range } });
      assert.equal(response.status, 200, range);
      assert.equal(response.headers.get('content-length'), String(DATA.length), range);
      assert.equal(await response.text(), DATA, range);
    }
  });

  for (const method of ['GET', 'HEAD']) {
    it(`${method} past the end answers 416 with the size`, async () => {
      for (const range of ['bytes=20-30', 'bytes=-0']) {
        const response = await request(registry.url, path, { method, headers: { Range: range } });
        assert.equal(response.status, 416, range);
        assert.equal(response.headers.get('content-range'), 'bytes */20', range);
        if (method === 'GET') assert.equal(await errorCode(response), 'RANGE_INVALID', range);
        else await response.arrayBuffer();
      }
    });
  }

  it('HEAD with a range answers 206 without a body', async () => {
    const response = await request(registry.url, path, { method: 'HEAD', headers: { Range: 'bytes=5-9' } });
    assert.equal(response.status, 206);
    assert.equal(response.headers.get('content-range'), 'bytes 5-9/20');
    assert.equal(response.headers.get('content-length'), '5');
    assert.equal(await response.text(), '');
  });
});
