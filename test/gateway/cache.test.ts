import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CachingSource } from '../../src/gateway/cache.js';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { publishRelease } from './publish.js';

let registry: EmbeddedRegistry;

before(async () => {
  registry = await startEmbeddedRegistry();
  await publishRelease(registry.url, 'app', '1.0.0', [
    { files: [{ name: 'app', data: Buffer.from('one\n'), main: true }] },
  ]);
});

after(async () => {
  await registry?.close();
});

describe('CachingSource', () => {
  it('reads tags afresh without a TTL', async () => {
    const cache = new CachingSource(registry.store);
    const first = await cache.manifest('app', '1.0.0');
    await publishRelease(registry.url, 'app', '1.0.0', [
      { files: [{ name: 'app', data: Buffer.from('two\n'), main: true }] },
    ]);
    const second = await cache.manifest('app', '1.0.0');
    assert.notEqual(second.digest, first.digest);
  });

  it('keeps a tag for its TTL', async () => {
    const cache = new CachingSource(registry.store, { tagTtlMs: 60_000 });
    const first = await cache.manifest('app', '1.0.0');
    await publishRelease(registry.url, 'app', '1.0.0', [
      { files: [{ name: 'app', data: Buffer.from('three\n'), main: true }] },
    ]);
    assert.equal((await cache.manifest('app', '1.0.0')).digest, first.digest);
    assert.deepEqual(await cache.tags('app'), ['1.0.0']);
  });

  it('keeps digest-addressed manifests', async () => {
    const cache = new CachingSource(registry.store);
    const { digest } = await registry.store.manifest('app', '1.0.0');
    const first = await cache.manifest('app', digest);
    const second = await cache.manifest('app', digest);
    assert.equal(first, second);
  });

  it('does not keep failures', async () => {
    const cache = new CachingSource(registry.store, { tagTtlMs: 60_000 });
    await assert.rejects(cache.tags('later'), { code: 'NAME_UNKNOWN' });
    await publishRelease(registry.url, 'later', '1.0.0', [
      { files: [{ name: 'x', data: Buffer.from('x\n'), main: true }] },
    ]);
    assert.deepEqual(await cache.tags('later'), ['1.0.0']);
  });

  it('evicts beyond the byte limit', async () => {
    const cache = new CachingSource(registry.store, { maxBytes: 1 });
    const { digest } = await registry.store.manifest('app', '1.0.0');
    const first = await cache.manifest('app', digest);
    await new Promise((resolve) => setImmediate(resolve));
    const second = await cache.manifest('app', digest);
    assert.notEqual(first, second);
    assert.equal(first.digest, second.digest);
  });
});
