/**
 * The cap on open upload sessions: a `POST` past it gets `429 TOOMANYREQUESTS` whose
 * `Retry-After` is the time until the oldest idle session expires, and cancelling a session
 * frees its slot at once.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UploadLimitError, UploadSessionLimit } from '../../src/registry/upload-limit.js';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { request, startSession } from './client.js';

const HOUR = 60 * 60 * 1000;
const MINUTE = 60 * 1000;

describe('UploadSessionLimit', () => {
  it('retry time is when the oldest session expires', () => {
    const limit = new UploadSessionLimit({ perRepository: 2, total: 10, ttlMs: HOUR });
    const start = 1_000_000;
    limit.opened(limit.reserve('app', start), 'first', start);
    limit.opened(limit.reserve('app', start + 10 * MINUTE), 'second', start + 10 * MINUTE);
    limit.touch('first', start + 15 * MINUTE);

    assert.throws(
      () => limit.reserve('app', start + 20 * MINUTE),
      (error: unknown) => {
        assert.ok(error instanceof UploadLimitError);
        assert.equal(error.name, 'UploadLimitError');
        assert.equal(error.code, 'TOOMANYREQUESTS');
        assert.equal(error.status, 429);
        // "second" was last used at +10 min, so it expires at +70 min: 50 minutes later.
        assert.equal(error.retryAfterSeconds, 50 * 60);
        assert.match(error.message, /retry after 3000 seconds/);
        assert.match(error.message, /DELETE/);
        return true;
      },
    );
  });

  it('total cap counts every repository', () => {
    const limit = new UploadSessionLimit({ perRepository: 5, total: 2, ttlMs: HOUR });
    limit.opened(limit.reserve('a', 0), 'one', 0);
    limit.opened(limit.reserve('b', 30 * MINUTE), 'two', 30 * MINUTE);
    assert.throws(() => limit.reserve('c', 40 * MINUTE), { retryAfterSeconds: 20 * 60 });
  });
});

describe('upload session cap over HTTP', () => {
  let registry: EmbeddedRegistry;

  before(async () => {
    registry = await startEmbeddedRegistry(undefined, { uploadSessions: { perRepository: 2 } });
  });

  after(async () => {
    await registry.close();
  });

  it('429 carries the real Retry-After', async () => {
    const first = await startSession(registry.url, 'capped');
    await startSession(registry.url, 'capped');

    const rejected = await request(registry.url, '/v2/capped/blobs/uploads/', { method: 'POST' });
    assert.equal(rejected.status, 429);
    const seconds = Number(rejected.headers.get('retry-after'));
    assert.ok(seconds > 3500, `Retry-After ${seconds} is about an hour`);
    assert.ok(seconds <= 3600, `Retry-After ${seconds} is at most the session lifetime`);
    const body = (await rejected.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]?.code, 'TOOMANYREQUESTS');
    assert.match(body.errors[0]?.message ?? '', new RegExp(`retry after ${seconds} seconds`));

    const cancelled = await request(registry.url, first, { method: 'DELETE' });
    assert.equal(cancelled.status, 204);
    const again = await request(registry.url, '/v2/capped/blobs/uploads/', { method: 'POST' });
    assert.equal(again.status, 202, 'a cancelled session frees its slot');
    await again.arrayBuffer();
  });
});
