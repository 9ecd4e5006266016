/**
 * Upload ids reach the file system only after `checkUploadId` (`src/storage/layout.ts`) accepted
 * them. The registry's routes check the name grammar too, so these tests call the store directly
 * with ids that name a folder outside the uploads folder, laid out like a real session.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { Digest } from '../../src/oci/digest.js';
import { RegistryError } from '../../src/oci/errors.js';
import { FsStore } from '../../src/storage/fs-store.js';

const DECOY_DATA = 'data outside the uploads folder';

describe('upload ids outside the uploads folder', () => {
  let work: string;
  let store: FsStore;
  let decoy: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidrop-upload-id-'));
    store = await FsStore.open(join(work, 'store'));
    decoy = join(work, 'decoy');
  });

  // A folder beside the store that looks like a session of `app`: without the id check, each call
  // below would read, extend, store or delete it.
  beforeEach(async () => {
    await rm(decoy, { recursive: true, force: true });
    await mkdir(decoy);
    await writeFile(
      join(decoy, 'session.json'),
      JSON.stringify({ repository: 'app', created: new Date().toISOString() }),
    );
    await writeFile(join(decoy, 'data'), DECOY_DATA);
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  async function assertDecoyUntouched(): Promise<void> {
    assert.deepEqual((await readdir(decoy)).sort(), ['data', 'session.json']);
    assert.equal(await readFile(join(decoy, 'data'), 'utf8'), DECOY_DATA);
  }

  function isUnknownUpload(error: unknown): boolean {
    assert.ok(error instanceof RegistryError, String(error));
    assert.equal(error.code, 'BLOB_UPLOAD_UNKNOWN');
    return true;
  }

  const ids = ['../../decoy', '../../decoy/', '../uploads/../../decoy'];
  const digest = `sha256:${createHash('sha256').update(DECOY_DATA).digest('hex')}` as Digest;

  for (const id of ids) {
    it(`status of upload id ${JSON.stringify(id)} is unknown`, async () => {
      await assert.rejects(store.uploads.status('app', id), isUnknownUpload);
      await assertDecoyUntouched();
    });

    it(`append to upload id ${JSON.stringify(id)} is unknown`, async () => {
      await assert.rejects(store.uploads.append('app', id, chunks(' and more')), isUnknownUpload);
      await assertDecoyUntouched();
    });

    it(`complete of upload id ${JSON.stringify(id)} is unknown`, async () => {
      await assert.rejects(store.uploads.complete('app', id, digest), isUnknownUpload);
      await assertDecoyUntouched();
      await assert.rejects(store.blobs.read(digest), isUnknownBlob);
    });

    it(`cancel of upload id ${JSON.stringify(id)} is unknown`, async () => {
      await assert.rejects(store.uploads.cancel('app', id), isUnknownUpload);
      await assertDecoyUntouched();
    });
  }
});

async function* chunks(text: string): AsyncGenerator<Uint8Array> {
  yield Buffer.from(text);
}

function isUnknownBlob(error: unknown): boolean {
  assert.ok(error instanceof RegistryError, String(error));
  assert.equal(error.code, 'BLOB_UNKNOWN');
  return true;
}
