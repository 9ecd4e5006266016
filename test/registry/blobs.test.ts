/**
 * Blob uploads and blob reads of the embedded registry, each test named after the rule of the
 * OCI Distribution Specification v1.1 (`spec.md`) that it checks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { errorCode, pushBlob, request, sha256, sha512, startSession, withQuery } from './client.js';

let registry: EmbeddedRegistry;
let base: string;

before(async () => {
  registry = await startEmbeddedRegistry();
  base = registry.url;
});

after(async () => {
  await registry.close();
});

describe('GET /v2/', () => {
  it('answers 200 to show the API is supported', async () => {
    const response = await request(base, '/v2/');
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('docker-distribution-api-version'), 'registry/2.0');
  });
});

describe('pushing blobs', () => {
  it('monolithic POST with digest answers 201 with Location', async () => {
    const data = 'monolithic blob';
    const digest = sha256(data);
    const response = await request(base, `/v2/push/mono/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: data,
    });
    assert.equal(response.status, 201);
    assert.equal(response.headers.get('location'), `/v2/push/mono/blobs/${digest}`);
    assert.equal(response.headers.get('docker-content-digest'), digest);
  });

  it('POST then PUT with the whole body completes the upload', async () => {
    const data = 'post then put';
    const location = await startSession(base, 'push/post-put');
    assert.match(location, /^\/v2\/push\/post-put\/blobs\/uploads\/[0-9a-f-]{36}$/);
    const response = await request(base, withQuery(location, 'digest', sha256(data)), {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: data,
    });
    assert.equal(response.status, 201);
    assert.equal(response.headers.get('docker-content-digest'), sha256(data));
  });

  it('chunked PATCH with Content-Range appends in order', async () => {
    const parts = ['first chunk|', 'second chunk|', 'third'];
    let location = await startSession(base, 'push/chunked');
    let offset = 0;
    for (const part of parts) {
      const response = await request(base, location, {
        method: 'PATCH',
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Range': `${offset}-${offset + part.length - 1}`,
        },
        body: part,
      });
      assert.equal(response.status, 202);
      offset += part.length;
      assert.equal(response.headers.get('range'), `0-${offset - 1}`);
      location = response.headers.get('location') ?? location;
    }
    const whole = parts.join('');
    const done = await request(base, withQuery(location, 'digest', sha256(whole)), { method: 'PUT' });
    assert.equal(done.status, 201);
    const fetched = await request(base, `/v2/push/chunked/blobs/${sha256(whole)}`);
    assert.equal(await fetched.text(), whole);
  });

  it('out-of-order chunk answers 416 and keeps the session usable', async () => {
    const location = await startSession(base, 'push/out-of-order');
    const first = await request(base, location, {
      method: 'PATCH',
      headers: { 'Content-Range': '0-4' },
      body: 'hello',
    });
    assert.equal(first.status, 202);

    const skipped = await request(base, location, {
      method: 'PATCH',
      headers: { 'Content-Range': '10-14' },
      body: 'world',
    });
    assert.equal(skipped.status, 416);
    assert.equal(await errorCode(skipped), 'RANGE_INVALID');
    assert.equal(skipped.headers.get('range'), '0-4');

    const repeated = await request(base, location, {
      method: 'PATCH',
      headers: { 'Content-Range': '0-4' },
      body: 'hello',
    });
    assert.equal(repeated.status, 416);

    const next = await request(base, location, {
      method: 'PATCH',
      headers: { 'Content-Range': '5-10' },
      body: ' world',
    });
    assert.equal(next.status, 202);
    const done = await request(base, withQuery(location, 'digest', sha256('hello world')), { method: 'PUT' });
    assert.equal(done.status, 201);
  });

  it('malformed Content-Range answers 416', async () => {
    const location = await startSession(base, 'push/bad-range');
    const response = await request(base, location, {
      method: 'PATCH',
      headers: { 'Content-Range': 'five-ten' },
      body: 'x',
    });
    assert.equal(response.status, 416);
    assert.equal(await errorCode(response), 'RANGE_INVALID');
  });

  it('PATCH without Content-Length streams the body', async () => {
    const location = await startSession(base, 'push/streamed');
    const pieces = ['streamed ', 'with no ', 'length'];
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const piece of pieces) controller.enqueue(Buffer.from(piece));
        controller.close();
      },
    });
    const response = await request(base, location, { method: 'PATCH', body, duplex: 'half' } as RequestInit);
    assert.equal(response.status, 202);
    const whole = pieces.join('');
    assert.equal(response.headers.get('range'), `0-${whole.length - 1}`);
    const done = await request(base, withQuery(location, 'digest', sha256(whole)), { method: 'PUT' });
    assert.equal(done.status, 201);
  });

  it('PUT may carry the last chunk', async () => {
    const location = await startSession(base, 'push/last-chunk');
    await request(base, location, { method: 'PATCH', headers: { 'Content-Range': '0-3' }, body: 'abcd' });
    const done = await request(base, withQuery(location, 'digest', sha256('abcdefgh')), {
      method: 'PUT',
      headers: { 'Content-Range': '4-7' },
      body: 'efgh',
    });
    assert.equal(done.status, 201);
  });

  it('GET on an upload session answers 204 with Range and Location', async () => {
    const location = await startSession(base, 'push/status');
    await request(base, location, { method: 'PATCH', headers: { 'Content-Range': '0-2' }, body: 'abc' });
    const response = await request(base, location);
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('range'), '0-2');
    assert.equal(response.headers.get('location'), location);
  });

  it('DELETE cancels an upload session', async () => {
    const location = await startSession(base, 'push/cancel');
    const cancelled = await request(base, location, { method: 'DELETE' });
    assert.equal(cancelled.status, 204);
    const status = await request(base, location);
    assert.equal(status.status, 404);
    assert.equal(await errorCode(status), 'BLOB_UPLOAD_UNKNOWN');
  });

  it('digest mismatch answers 400 DIGEST_INVALID', async () => {
    const location = await startSession(base, 'push/mismatch');
    const response = await request(base, withQuery(location, 'digest', sha256('other content')), {
      method: 'PUT',
      body: 'content',
    });
    assert.equal(response.status, 400);
    assert.equal(await errorCode(response), 'DIGEST_INVALID');
    const head = await request(base, `/v2/push/mismatch/blobs/${sha256('content')}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
  });

  it('PUT without digest answers 400 DIGEST_INVALID', async () => {
    const location = await startSession(base, 'push/no-digest');
    const response = await request(base, location, { method: 'PUT', body: 'x' });
    assert.equal(response.status, 400);
    assert.equal(await errorCode(response), 'DIGEST_INVALID');
  });

  it('unknown upload session answers 404 BLOB_UPLOAD_UNKNOWN', async () => {
    for (const id of ['00000000-0000-4000-8000-000000000000', 'x.y', 'not-an-id']) {
      const response = await request(base, `/v2/push/unknown/blobs/uploads/${id}`);
      assert.equal(response.status, 404, id);
      assert.equal(await errorCode(response), 'BLOB_UPLOAD_UNKNOWN', id);
    }
  });

  it('upload session of another repository is unknown', async () => {
    const location = await startSession(base, 'push/owner');
    const id = location.split('/').pop();
    const response = await request(base, `/v2/push/intruder/blobs/uploads/${id}`);
    assert.equal(response.status, 404);
  });

  it('sha512 digest is verified and served', async () => {
    const data = 'sha512 content';
    const digest = sha512(data);
    const response = await request(base, `/v2/push/sha512/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: data,
    });
    assert.equal(response.status, 201);
    assert.equal(response.headers.get('docker-content-digest'), digest);
    const fetched = await request(base, `/v2/push/sha512/blobs/${digest}`);
    assert.equal(fetched.status, 200);
    assert.equal(await fetched.text(), data);
  });
});

describe('cross-repository mount', () => {
  it('mount answers 201 when the source has the blob', async () => {
    const digest = await pushBlob(base, 'mount/source', 'mounted content');
    const response = await request(
      base,
      `/v2/mount/target/blobs/uploads/?mount=${digest}&from=mount/source`,
      { method: 'POST' },
    );
    assert.equal(response.status, 201);
    assert.equal(response.headers.get('location'), `/v2/mount/target/blobs/${digest}`);
    const head = await request(base, `/v2/mount/target/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  it('mount falls back to 202 when the source lacks the blob', async () => {
    const digest = sha256('never pushed');
    const response = await request(
      base,
      `/v2/mount/target/blobs/uploads/?mount=${digest}&from=mount/source`,
      { method: 'POST' },
    );
    assert.equal(response.status, 202);
    assert.match(response.headers.get('location') ?? '', /\/blobs\/uploads\//);
  });

  it('mount with an invalid source name falls back to 202', async () => {
    const digest = await pushBlob(base, 'mount/source', 'mounted content');
    const response = await request(base, `/v2/mount/target2/blobs/uploads/?mount=${digest}&from=Bad..Name`, {
      method: 'POST',
    });
    assert.equal(response.status, 202);
  });
});

describe('mount without from', () => {
  it('mount finds the blob in another repository', async () => {
    const digest = await pushBlob(base, 'discover/source', 'discovered content');
    const response = await request(base, `/v2/discover/target/blobs/uploads/?mount=${digest}`, {
      method: 'POST',
    });
    assert.equal(response.status, 201);
    assert.equal(response.headers.get('location'), `/v2/discover/target/blobs/${digest}`);
    const head = await request(base, `/v2/discover/target/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
  });

  it('unknown blob falls back to an upload session', async () => {
    const response = await request(base, `/v2/discover/target/blobs/uploads/?mount=${sha256('nowhere')}`, {
      method: 'POST',
    });
    assert.equal(response.status, 202);
    assert.match(response.headers.get('location') ?? '', /\/v2\/discover\/target\/blobs\/uploads\//);
  });

  it('blob deleted from every repository is not mounted', async () => {
    const digest = await pushBlob(base, 'discover/gone', 'deleted content');
    const removed = await request(base, `/v2/discover/gone/blobs/${digest}`, { method: 'DELETE' });
    assert.equal(removed.status, 202);
    const response = await request(base, `/v2/discover/other/blobs/uploads/?mount=${digest}`, {
      method: 'POST',
    });
    assert.equal(response.status, 202);
  });
});

describe('OCI-Chunk-Min-Length', () => {
  it('is absent unless configured', async () => {
    const response = await request(base, '/v2/chunk/min/blobs/uploads/', { method: 'POST' });
    assert.equal(response.status, 202);
    assert.equal(response.headers.get('oci-chunk-min-length'), null);
  });

  it('configured minimum is sent when a session starts', async () => {
    const hinted = await startEmbeddedRegistry(undefined, { minChunkLength: 1_048_576 });
    try {
      const response = await request(hinted.url, '/v2/chunk/min/blobs/uploads/', { method: 'POST' });
      assert.equal(response.status, 202);
      assert.equal(response.headers.get('oci-chunk-min-length'), '1048576');
      const location = response.headers.get('location') ?? '';
      const chunk = await request(hinted.url, location, {
        method: 'PATCH',
        headers: { 'Content-Range': '0-4', 'Content-Type': 'application/octet-stream' },
        body: 'small',
      });
      assert.equal(chunk.status, 202, 'the minimum is a hint, so a smaller last chunk is accepted');
    } finally {
      await hinted.close();
    }
  });
});

describe('pulling blobs', () => {
  const data = '0123456789abcdefghij';
  let digest: string;

  before(async () => {
    digest = await pushBlob(base, 'pull/blob', data);
  });

  it('HEAD answers Content-Length and Docker-Content-Digest', async () => {
    const response = await request(base, `/v2/pull/blob/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-length'), String(data.length));
    assert.equal(response.headers.get('docker-content-digest'), digest);
  });

  it('GET returns the bytes', async () => {
    const response = await request(base, `/v2/pull/blob/blobs/${digest}`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), data);
  });

  it('Range request answers 206 with Content-Range', async () => {
    const cases = [
      { range: 'bytes=0-3', body: '0123', contentRange: 'bytes 0-3/20' },
      { range: 'bytes=10-', body: 'abcdefghij', contentRange: 'bytes 10-19/20' },
      { range: 'bytes=-5', body: 'fghij', contentRange: 'bytes 15-19/20' },
      { range: 'bytes=18-100', body: 'ij', contentRange: 'bytes 18-19/20' },
    ];
    for (const { range, body, contentRange } of cases) {
      const response = await request(base, `/v2/pull/blob/blobs/${digest}`, { headers: { Range: range } });
      assert.equal(response.status, 206, range);
      assert.equal(response.headers.get('content-range'), contentRange, range);
      assert.equal(await response.text(), body, range);
    }
  });

  it('unsatisfiable Range answers 416 RANGE_INVALID', async () => {
    const response = await request(base, `/v2/pull/blob/blobs/${digest}`, {
      headers: { Range: 'bytes=20-30' },
    });
    assert.equal(response.status, 416);
    assert.equal(response.headers.get('content-range'), 'bytes */20');
    assert.equal(await errorCode(response), 'RANGE_INVALID');
  });

  it('unknown blob answers 404 BLOB_UNKNOWN', async () => {
    const response = await request(base, `/v2/pull/blob/blobs/${sha256('missing')}`);
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), 'BLOB_UNKNOWN');
  });

  it('blob of another repository is unknown here', async () => {
    const response = await request(base, `/v2/pull/other/blobs/${digest}`, { method: 'GET' });
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), 'BLOB_UNKNOWN');
  });

  it('malformed digest answers 400 DIGEST_INVALID', async () => {
    const response = await request(base, '/v2/pull/blob/blobs/sha256:1234');
    assert.equal(response.status, 400);
    assert.equal(await errorCode(response), 'DIGEST_INVALID');
  });
});

describe('deleting blobs', () => {
  it('DELETE answers 202, then the blob is unknown', async () => {
    const digest = await pushBlob(base, 'delete/blob', 'to delete');
    const deleted = await request(base, `/v2/delete/blob/blobs/${digest}`, { method: 'DELETE' });
    assert.equal(deleted.status, 202);
    const head = await request(base, `/v2/delete/blob/blobs/${digest}`, { method: 'HEAD' });
    assert.equal(head.status, 404);
    const again = await request(base, `/v2/delete/blob/blobs/${digest}`, { method: 'DELETE' });
    assert.equal(again.status, 404);
    assert.equal(await errorCode(again), 'BLOB_UNKNOWN');
  });
});

describe('repository names', () => {
  it('name outside the grammar answers 400 NAME_INVALID', async () => {
    for (const name of ['Upper', 'a..b', '-lead', 'trail-', 'a//b', 'a%20b', 'x%2F..%2Fy']) {
      const response = await request(base, `/v2/${name}/blobs/uploads/`, { method: 'POST' });
      assert.equal(response.status, 400, name);
      assert.equal(await errorCode(response), 'NAME_INVALID', name);
    }
  });

  it('unsupported method answers 405 UNSUPPORTED', async () => {
    const response = await request(base, '/v2/some/repo/tags/list', { method: 'DELETE' });
    assert.equal(response.status, 405);
    assert.equal(await errorCode(response), 'UNSUPPORTED');
  });
});
