/**
 * Blob writes and upload sessions batch small chunks into large file writes: content that spans
 * several batches, in chunks of odd sizes, must land on disk byte for byte and in order.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Digest } from '../../src/oci/digest.js';
import { BatchedFileWriter, BLOB_IO_SIZE } from '../../src/storage/fs-blobs.js';
import { FsStore } from '../../src/storage/fs-store.js';

/** Three and a half batches, so the content ends with a partial batch. */
const CONTENT = randomBytes(Math.floor(BLOB_IO_SIZE * 3.5));
const DIGEST = `sha256:${createHash('sha256').update(CONTENT).digest('hex')}` as Digest;

let dir: string;
let store: FsStore;

/** Yields `data` in chunks of `size` bytes, the last one shorter. */
async function* chunksOf(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let start = 0; start < data.byteLength; start += size) yield data.subarray(start, start + size);
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part);
  return Buffer.concat(parts);
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-batched-'));
  store = await FsStore.open(join(dir, 'store'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('batched blob writes', () => {
  it('stores a monolithic blob intact', async () => {
    const info = await store.putBlob('batch/whole', chunksOf(CONTENT, 7001), { digest: DIGEST });
    assert.equal(info.size, CONTENT.byteLength);
    const reader = await store.blob('batch/whole', DIGEST);
    assert.ok((await readAll(reader.stream)).equals(CONTENT));
  });

  it('stores chunked upload sessions intact', async () => {
    const session = await store.uploads.create('batch/chunks');
    const split = BLOB_IO_SIZE + 12345;
    await store.uploads.append('batch/chunks', session.id, chunksOf(CONTENT.subarray(0, split), 65536), {
      start: 0,
      length: split,
    });
    const info = await store.completeUpload(
      'batch/chunks',
      session.id,
      DIGEST,
      chunksOf(CONTENT.subarray(split), 3000),
      { start: split, length: CONTENT.byteLength - split },
    );
    assert.equal(info.digest, DIGEST);
    const reader = await store.blob('batch/chunks', DIGEST);
    assert.ok((await readAll(reader.stream)).equals(CONTENT));
  });

  it('writes from the start position', async () => {
    const path = join(dir, 'offset');
    const handle = await open(path, 'w+');
    await handle.write(Buffer.from('head'), 0, 4, 0);
    const writer = new BatchedFileWriter(handle, 4);
    for await (const chunk of chunksOf(CONTENT, 100_000)) await writer.write(chunk);
    await writer.end();
    await handle.close();
    const written = await readFile(path);
    assert.equal(written.subarray(0, 4).toString(), 'head');
    assert.ok(written.subarray(4).equals(CONTENT));
  });

  it('rejects after a failed write', async () => {
    const path = join(dir, 'read-only');
    await (await open(path, 'w')).close();
    const handle = await open(path, 'r');
    const writer = new BatchedFileWriter(handle, 0);
    await assert.rejects(
      (async () => {
        for await (const chunk of chunksOf(CONTENT, 65536)) await writer.write(chunk);
        await writer.end();
      })(),
      (error: NodeJS.ErrnoException) => error.code === 'EBADF',
    );
    await writer.settle();
    await handle.close();
  });
});
