/**
 * Readers of the embedded store's blob files: a reader holds no file handle and no read lease
 * until it is used, and a download through `writeTo` leases from the read budget once.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { endWritable } from '../../src/content/file-copy.js';
import { MAX_READ_SIZE, MIN_READ_SIZE, servingReads } from '../../src/content/read-budget.js';
import type { Digest } from '../../src/oci/digest.js';
import { FsStore } from '../../src/storage/fs-store.js';

const MIB = 1024 * 1024;
const CONTENT = Buffer.alloc(4 * MIB + 5, 3);
const DIGEST = `sha256:${createHash('sha256').update(CONTENT).digest('hex')}` as Digest;

let dir: string;
let store: FsStore;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-blob-reader-'));
  store = await FsStore.open(dir);
  await store.putBlob('app', Readable.from([CONTENT]), { digest: DIGEST });
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function openFiles(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

/** Creates a writable that keeps the bytes and records the free read budget at every write. */
function recorder(): { sink: Writable; bytes(): Buffer; freeDuringCopy: number[] } {
  const chunks: Buffer[] = [];
  const freeDuringCopy: number[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      freeDuringCopy.push(servingReads.free);
      setImmediate(callback);
    },
  });
  return { sink, bytes: () => Buffer.concat(chunks), freeDuringCopy };
}

describe('blob readers of the embedded store', () => {
  it('unused readers hold no file or lease', async () => {
    const before = await openFiles();
    const readers = await Promise.all(Array.from({ length: 20 }, () => store.blob('app', DIGEST)));
    assert.equal(readers.length, 20);
    assert.equal(servingReads.free, servingReads.total);
    assert.equal(await openFiles(), before);
  });

  it('writeTo leases once per download', async () => {
    const before = await openFiles();
    const oneLease = MAX_READ_SIZE - MIN_READ_SIZE;
    for (let i = 0; i < 10; i++) {
      const reader = await store.blob('app', DIGEST);
      const target = recorder();
      assert.ok(reader.writeTo, 'a stored blob is copied with writeTo');
      await reader.writeTo(target.sink);
      await endWritable(target.sink);
      assert.ok(target.bytes().equals(CONTENT), `download ${i} is intact`);
      assert.ok(target.freeDuringCopy.length > 0);
      for (const free of target.freeDuringCopy) assert.equal(free, servingReads.total - oneLease);
    }
    assert.equal(servingReads.free, servingReads.total);
    assert.equal(await openFiles(), before);
  });

  it('stream opens on first use and closes after', async () => {
    const before = await openFiles();
    const reader = await store.blob('app', DIGEST, { start: 10, end: 2 * MIB });
    const chunks: Buffer[] = [];
    for await (const chunk of reader.stream) chunks.push(chunk as Buffer);
    assert.ok(Buffer.concat(chunks).equals(CONTENT.subarray(10, 2 * MIB + 1)));
    assert.equal(servingReads.free, servingReads.total);
    assert.equal(await openFiles(), before);
  });
});
