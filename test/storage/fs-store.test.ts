/**
 * The filesystem store on its own: content verified while it streams, nothing visible before it
 * is complete, byte ranges, repository membership and the on-disk OCI image layout.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Digest } from '../../src/oci/digest.js';
import { RegistryError } from '../../src/oci/errors.js';
import { FsStore } from '../../src/storage/fs-store.js';

let dir: string;
let store: FsStore;

function sha256(data: string | Buffer): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const part of parts) yield Buffer.from(part);
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts).toString();
}

function hasCode(code: string): (error: unknown) => boolean {
  return (error) => error instanceof RegistryError && error.code === code;
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-store-'));
  store = await FsStore.open(dir);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('blob store', () => {
  it('write stores content under its digest', async () => {
    const info = await store.blobs.write(chunks('hello ', 'world'));
    assert.equal(info.digest, sha256('hello world'));
    assert.equal(info.size, 11);
    const reader = await store.blobs.read(info.digest);
    assert.equal(await readAll(reader.stream), 'hello world');
  });

  it('write with a wrong digest leaves nothing behind', async () => {
    await assert.rejects(
      store.blobs.write(chunks('content'), { digest: sha256('other') }),
      hasCode('DIGEST_INVALID'),
    );
    await assert.rejects(store.blobs.stat(sha256('content')), hasCode('BLOB_UNKNOWN'));
    const files = await readdir(join(dir, 'blobs', 'sha256'));
    assert.deepEqual(
      files.filter((name) => name.startsWith('.tmp-')),
      [],
    );
  });

  it('write longer than the expected size stops early', async () => {
    await assert.rejects(store.blobs.write(chunks('12345', '67890'), { size: 5 }), hasCode('SIZE_INVALID'));
  });

  it('write shorter than the expected size is rejected', async () => {
    await assert.rejects(store.blobs.write(chunks('123'), { size: 5 }), hasCode('SIZE_INVALID'));
  });

  it('read with a range streams only that range', async () => {
    const info = await store.blobs.write(chunks('0123456789'));
    const reader = await store.blobs.read(info.digest, { start: 2, end: 5 });
    assert.equal(reader.size, 10);
    assert.equal(await readAll(reader.stream), '2345');
    await assert.rejects(store.blobs.read(info.digest, { start: 5, end: 10 }), hasCode('RANGE_INVALID'));
  });

  it('delete removes the blob', async () => {
    const info = await store.blobs.write(chunks('short-lived'));
    await store.blobs.delete(info.digest);
    await assert.rejects(store.blobs.stat(info.digest), hasCode('BLOB_UNKNOWN'));
    await assert.rejects(store.blobs.delete(info.digest), hasCode('BLOB_UNKNOWN'));
  });
});

describe('repositories', () => {
  it('blob is shared between repositories without a copy', async () => {
    const first = await store.putBlob('share/one', chunks('shared bytes'));
    await store.putBlob('share/two', chunks('shared bytes'));
    const shared = await stat(store.blobs.pathOf(first.digest));
    const linked = await stat(
      join(store.repositoryFolder('share/one'), 'blobs', 'sha256', first.digest.slice(7)),
    );
    assert.equal(linked.ino, shared.ino, 'the repository file is a hard link to the shared blob');
    assert.ok(shared.nlink >= 3);
  });

  it('repository is an OCI image layout', async () => {
    await store.putBlob('layout/repo', chunks('{}'));
    const folder = store.repositoryFolder('layout/repo');
    assert.deepEqual(JSON.parse(await readFile(join(folder, 'oci-layout'), 'utf8')), {
      imageLayoutVersion: '1.0.0',
    });
    const index = JSON.parse(await readFile(join(folder, 'index.json'), 'utf8')) as {
      schemaVersion: number;
      manifests: unknown[];
    };
    assert.equal(index.schemaVersion, 2);
    assert.deepEqual(index.manifests, []);
  });

  it('nested name cannot collide with a layout folder', async () => {
    await store.putBlob('nest', chunks('outer'));
    await store.putBlob('nest/blobs', chunks('inner'));
    assert.deepEqual(
      (await store.repositories()).filter((name) => name.startsWith('nest')),
      ['nest', 'nest/blobs'],
    );
    await assert.rejects(store.statBlob('nest', sha256('inner')), hasCode('BLOB_UNKNOWN'));
  });

  it('invalid name is rejected before any disk access', async () => {
    for (const name of ['../escape', 'a/../../b', 'UPPER', '', '/abs']) {
      await assert.rejects(store.putBlob(name, chunks('x')), hasCode('NAME_INVALID'), name);
      await assert.rejects(store.tags(name), hasCode('NAME_INVALID'), name);
    }
  });

  it('manifest stored by tag is listed in index.json with ref.name', async () => {
    const config = await store.putBlob('layout/tagged', chunks('{}'));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: config.digest, size: 2 },
        layers: [],
      }),
    );
    const stored = await store.putManifest('layout/tagged', '1.0.0', manifest);
    const index = await store.readIndex('layout/tagged');
    assert.deepEqual(index.manifests, [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: stored.digest,
        size: manifest.byteLength,
        annotations: { 'org.opencontainers.image.ref.name': '1.0.0' },
      },
    ]);
    const fetched = await store.manifest('layout/tagged', '1.0.0');
    assert.ok(fetched.bytes.equals(manifest));
  });

  it('upload sessions expire after their time to live', async () => {
    const shortLived = await FsStore.open(dir, { uploadTtlMs: 1 });
    const session = await shortLived.uploads.create('expire/me');
    await new Promise((resolve) => setTimeout(resolve, 20));
    await assert.rejects(shortLived.uploads.status('expire/me', session.id), hasCode('BLOB_UPLOAD_UNKNOWN'));
  });
});

describe('index lock file', () => {
  async function pushTagged(repository: string, tag: string): Promise<void> {
    const config = await store.putBlob(repository, chunks('{}'));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: config.digest, size: 2 },
        layers: [],
      }),
    );
    await store.putManifest(repository, tag, manifest);
  }

  it('update waits for a lock another process holds', async () => {
    await store.putBlob('lock/held', chunks('{}'));
    const lock = join(store.repositoryFolder('lock/held'), '.index.json.lock');
    // The parent process (the test runner) is alive, so its lock is not taken over.
    await writeFile(lock, `${process.ppid}\n`);
    let done = false;
    const push = pushTagged('lock/held', 'v1').then(() => {
      done = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(done, false, 'the update waits while the lock exists');
    await unlink(lock);
    await push;
    assert.deepEqual(await store.tags('lock/held'), ['v1']);
  });

  it('stale lock is taken over', async () => {
    await store.putBlob('lock/stale', chunks('{}'));
    const lock = join(store.repositoryFolder('lock/stale'), '.index.json.lock');
    // The parent process (the test runner) is alive, so its lock is not taken over.
    await writeFile(lock, `${process.ppid}\n`);
    const old = new Date(Date.now() - 60_000);
    await utimes(lock, old, old);
    await pushTagged('lock/stale', 'v1');
    assert.deepEqual(await store.tags('lock/stale'), ['v1']);
    await assert.rejects(stat(lock));
  });
});
