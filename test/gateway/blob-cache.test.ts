import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { text } from 'node:stream/consumers';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { DiskBlobCache } from '../../src/gateway/blob-cache.js';
import { createGatewayHandler } from '../../src/gateway/handler.js';
import { type Digest, digestOf } from '../../src/oci/digest.js';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { publishRelease, pushBlob } from './publish.js';

let root: string;
let registry: EmbeddedRegistry;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'ocidrop-blob-cache-'));
  registry = await startEmbeddedRegistry(join(root, 'store'));
});

after(async () => {
  await registry?.close();
  await rm(root, { recursive: true, force: true });
});

/** Overwrites every copy of a blob in the store folder. */
async function overwriteInStore(digest: Digest, data: Buffer): Promise<number> {
  const hex = digest.slice('sha256:'.length);
  let count = 0;
  for (const entry of await readdir(join(root, 'store'), { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name === hex) {
      await writeFile(join(entry.parentPath, entry.name), data);
      count++;
    }
  }
  return count;
}

/** Waits until the cache folder contains `count` blobs, because a blob lands there after its stream ends. */
async function cachedNames(dir: string, count: number): Promise<string[]> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const names = await readdir(join(dir, 'sha256')).catch(() => [] as string[]);
    const blobs = names.filter((name) => !name.startsWith('.tmp-'));
    if (blobs.length === count) return blobs.sort();
    await delay(10);
  }
  return (await readdir(join(dir, 'sha256')).catch(() => [] as string[])).sort();
}

describe('DiskBlobCache', () => {
  it('serves a blob from disk once read', async () => {
    const dir = join(root, 'cache-a');
    const data = Buffer.from('cached blob\n'.repeat(1000));
    const { digest } = await pushBlob(registry.url, 'app', data);
    const cache = new DiskBlobCache(registry.store, { dir, maxBytes: 1024 * 1024 });

    assert.equal(await text((await cache.blob('app', digest)).stream), data.toString());
    assert.deepEqual(await cachedNames(dir, 1), [digest.slice(7)]);
    assert.deepEqual(await readFile(join(dir, 'sha256', digest.slice(7))), data);

    // The store's copy changes; the cache still serves the verified bytes.
    assert.ok((await overwriteInStore(digest, Buffer.alloc(data.length))) > 0);
    assert.equal(await text((await cache.blob('app', digest)).stream), data.toString());
  });

  it('serves ranges from the cached copy', async () => {
    const dir = join(root, 'cache-b');
    const data = Buffer.from('0123456789'.repeat(10));
    const { digest } = await pushBlob(registry.url, 'app', data);
    const cache = new DiskBlobCache(registry.store, { dir, maxBytes: 1024 * 1024 });
    await text((await cache.blob('app', digest)).stream);
    assert.equal((await cachedNames(dir, 1)).length, 1);
    await overwriteInStore(digest, Buffer.alloc(data.length));

    const reader = await cache.blob('app', digest, { start: 10, end: 19 });
    assert.deepEqual(reader.range, { start: 10, end: 19 });
    assert.equal(await text(reader.stream), '0123456789');
  });

  it('does not keep a blob whose digest differs', async () => {
    const dir = join(root, 'cache-c');
    const data = Buffer.from('will be corrupted\n');
    const { digest } = await pushBlob(registry.url, 'app', data);
    await overwriteInStore(digest, Buffer.from('will be CORRUPTED\n'));
    const cache = new DiskBlobCache(registry.store, { dir, maxBytes: 1024 * 1024 });

    await text((await cache.blob('app', digest)).stream);
    await delay(50);
    assert.deepEqual(await cachedNames(dir, 0), []);
  });

  it('backs gateway downloads', async () => {
    const dir = join(root, 'cache-e');
    const data = Buffer.from('#!/bin/sh\necho cached\n');
    await publishRelease(registry.url, 'tool', '1.0.0', [{ files: [{ name: 'tool', data, main: true }] }]);
    const handler = createGatewayHandler(registry.store, { blobCache: { dir, maxBytes: 1024 * 1024 } });
    const server = createServer((req, res) => {
      void handler(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/tool/1.0.0/download`;
    try {
      assert.equal(await (await fetch(url)).text(), data.toString());
      assert.equal((await cachedNames(dir, 1)).length, 1);
      await overwriteInStore(digestOf(data), Buffer.alloc(data.length));
      const second = await fetch(url);
      assert.equal(second.status, 200);
      assert.equal(await second.text(), data.toString());
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('evicts the least recently used blobs', async () => {
    const dir = join(root, 'cache-d');
    const cache = new DiskBlobCache(registry.store, { dir, maxBytes: 2500 });
    const digests: Digest[] = [];
    for (const fill of ['a', 'b', 'c']) {
      const data = Buffer.from(fill.repeat(1000));
      digests.push((await pushBlob(registry.url, 'app', data)).digest);
      await text((await cache.blob('app', digests.at(-1)!)).stream);
      await delay(20);
    }
    const names = await cachedNames(dir, 2);
    assert.deepEqual(names, [digests[1]!.slice(7), digests[2]!.slice(7)].sort());
    assert.equal(digestOf(await readFile(join(dir, 'sha256', digests[2]!.slice(7)))), digests[2]);
  });
});
