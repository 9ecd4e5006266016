/**
 * Garbage collection: what no tag reaches goes, what a tag reaches stays, fresh content is kept
 * for the grace period, and a dry run changes nothing.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import type { Digest } from '../../src/oci/digest.js';
import { RegistryError } from '../../src/oci/errors.js';
import { FsStore } from '../../src/storage/fs-store.js';
import { gc } from '../../src/storage/gc.js';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { pushBlob, pushImage, request, sha256, startSession } from '../registry/client.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

const folders: string[] = [];
let registry: EmbeddedRegistry;

beforeEach(async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ocidrop-gc-'));
  folders.push(dir);
  registry = await startEmbeddedRegistry(dir);
});

afterEach(async () => {
  await registry.close();
});

after(async () => {
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

function isUnknown(error: unknown): boolean {
  return (
    error instanceof RegistryError && (error.code === 'MANIFEST_UNKNOWN' || error.code === 'BLOB_UNKNOWN')
  );
}

describe('gc', () => {
  it('removes an untagged manifest and its blobs, keeps tagged ones', async () => {
    const base = registry.url;
    const kept = await pushImage(base, 'gc/repo', 'v1', 'kept layer');
    const dropped = await pushImage(base, 'gc/repo', 'v2', 'dropped layer');
    await request(base, '/v2/gc/repo/manifests/v2', { method: 'DELETE' });

    const report = await gc(registry.store, { gracePeriodMs: 0 });
    assert.deepEqual(report.manifests, [
      { repository: 'gc/repo', digest: dropped.digest, size: Buffer.byteLength(dropped.manifest) },
    ]);
    assert.ok(report.blobs.some((blob) => blob.digest === sha256('dropped layer')));
    assert.ok(!report.blobs.some((blob) => blob.digest === sha256('kept layer')));

    await assert.rejects(registry.store.manifest('gc/repo', dropped.digest), isUnknown);
    await assert.rejects(registry.store.blobs.stat(sha256('dropped layer') as Digest), isUnknown);
    assert.equal((await registry.store.manifest('gc/repo', 'v1')).digest, kept.digest);
    assert.equal((await registry.store.statBlob('gc/repo', sha256('kept layer') as Digest)).size, 10);
    assert.equal(
      (await registry.store.statBlob('gc/repo', sha256('{}') as Digest)).size,
      2,
      'a config shared with a kept image stays',
    );
  });

  it('keeps children of a tagged index and referrers of a tagged manifest', async () => {
    const base = registry.url;
    const child = await pushImage(base, 'gc/index', sha256('placeholder'), 'child layer').catch(
      () => undefined,
    );
    assert.equal(child, undefined, 'pushImage by a wrong digest is rejected');
    const image = await pushImage(base, 'gc/index', 'untagged-soon', 'child layer');
    await request(base, '/v2/gc/index/manifests/untagged-soon', { method: 'DELETE' });
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: image.digest, size: Buffer.byteLength(image.manifest) }],
    });
    const put = await request(base, '/v2/gc/index/manifests/v1', {
      method: 'PUT',
      headers: { 'Content-Type': OCI_INDEX },
      body: index,
    });
    assert.equal(put.status, 201);
    const signature = await pushImage(base, 'gc/index', 'temporary', 'signature layer', {
      subject: { mediaType: OCI_INDEX, digest: sha256(index), size: Buffer.byteLength(index) },
    });
    await request(base, '/v2/gc/index/manifests/temporary', { method: 'DELETE' });

    const report = await gc(registry.store, { gracePeriodMs: 0 });
    assert.deepEqual(report.manifests, []);
    assert.equal((await registry.store.manifest('gc/index', image.digest)).digest, image.digest);
    assert.equal((await registry.store.manifest('gc/index', signature.digest)).digest, signature.digest);
  });

  it('keeps unreachable content inside the grace period', async () => {
    const base = registry.url;
    const digest = await pushBlob(base, 'gc/fresh', 'fresh blob');
    const report = await gc(registry.store, { gracePeriodMs: 60_000 });
    assert.deepEqual(report.repositoryBlobs, []);
    assert.equal((await registry.store.statBlob('gc/fresh', digest as Digest)).size, 10);
  });

  it('dry run reports without removing', async () => {
    const base = registry.url;
    const digest = await pushBlob(base, 'gc/dry', 'orphan blob');
    const report = await gc(registry.store, { dryRun: true, gracePeriodMs: 0 });
    assert.deepEqual(report.repositoryBlobs, [{ repository: 'gc/dry', digest, size: 11 }]);
    assert.deepEqual(
      report.blobs.map((blob) => blob.digest),
      [digest],
    );
    assert.equal((await registry.store.statBlob('gc/dry', digest as Digest)).size, 11);
  });

  it('removes stale upload sessions and temporary files', async () => {
    const location = await startSession(registry.url, 'gc/uploads');
    const id = location.split('/').pop() ?? '';
    await mkdir(join(registry.store.blobs.root, 'sha256'), { recursive: true });
    const temp = join(registry.store.blobs.root, 'sha256', '.tmp-upload-abandoned');
    await writeFile(temp, 'partial');
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await utimes(temp, old, old);
    await utimes(join(registry.store.root, 'uploads', id, 'data'), old, old);

    const report = await gc(registry.store, { gracePeriodMs: 60_000 });
    assert.deepEqual(report.uploads, [{ id, size: 0 }]);
    assert.deepEqual(report.tempFiles, [{ path: temp, size: 7 }]);
    assert.equal(report.bytesFreed, 7);
    await assert.rejects(stat(temp));
    const status = await request(registry.url, location);
    assert.equal(status.status, 404);
  });

  it('store reopened after gc serves what is left', async () => {
    const base = registry.url;
    const image = await pushImage(base, 'gc/reopen', 'v1', 'reopen layer');
    await gc(registry.store, { gracePeriodMs: 0 });
    const reopened = await FsStore.open(registry.store.root);
    assert.equal((await reopened.manifest('gc/reopen', 'v1')).digest, image.digest);
  });
});
