import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import {
  DEFAULT_READ_BUDGET,
  MAX_READ_SIZE,
  MIN_READ_SIZE,
  ReadBudget,
  servingReads,
} from '../../src/content/read-budget.js';
import type { Digest } from '../../src/oci/digest.js';
import { FsStore } from '../../src/storage/fs-store.js';

const KIB = 1024;
const MIB = 1024 * KIB;

describe('ReadBudget', () => {
  it('sizes reads by stream size', () => {
    const budget = new ReadBudget(4 * MIB);
    assert.equal(budget.lease(100 * MIB).size, MAX_READ_SIZE);
    assert.equal(budget.lease(1000).size, MIN_READ_SIZE);
    assert.equal(budget.lease(300 * KIB).size, 320 * KIB, 'rounded up to 64 KiB');
    assert.equal(budget.free, 4 * MIB - (MAX_READ_SIZE - MIN_READ_SIZE) - 256 * KIB);
  });

  it('spent budget grants smallest read', () => {
    const budget = new ReadBudget(2 * MIB);
    const first = budget.lease(MIB * 8);
    const second = budget.lease(MIB * 8);
    const third = budget.lease(MIB * 8);
    const fourth = budget.lease(MIB * 8);
    assert.deepEqual(
      [first.size, second.size, third.size, fourth.size],
      [MAX_READ_SIZE, MAX_READ_SIZE, MIN_READ_SIZE + 128 * KIB, MIN_READ_SIZE],
    );
    assert.equal(budget.free, 0);
    first.release();
    first.release();
    assert.equal(budget.free, MAX_READ_SIZE - MIN_READ_SIZE, 'a second release returns nothing');
    assert.equal(budget.lease(MIB * 8).size, MAX_READ_SIZE);
    for (const lease of [second, third, fourth]) lease.release();
    assert.equal(budget.free, 2 * MIB - (MAX_READ_SIZE - MIN_READ_SIZE), 'only the last lease is out');
  });
});

describe('blob streams of the embedded store', () => {
  const content = Buffer.alloc(3 * MIB + 17, 7);
  const digest = `sha256:${createHash('sha256').update(content).digest('hex')}` as Digest;
  let dir: string;
  let store: FsStore;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocidrop-read-budget-'));
    store = await FsStore.open(dir);
    await store.putBlob('app', Readable.from([content]), { digest });
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('returns the budget on close', async () => {
    assert.equal(servingReads.free, DEFAULT_READ_BUDGET);
    const readers = await Promise.all(Array.from({ length: 40 }, () => store.blob('app', digest)));
    assert.equal(servingReads.free, DEFAULT_READ_BUDGET, 'a reader leases nothing before its stream is used');
    const streams = readers.map((reader) => reader.stream);
    assert.equal(streams.length, 40);
    assert.ok(servingReads.free < MAX_READ_SIZE, 'forty open streams spend the budget');
    assert.equal(readers[0]!.stream.readableHighWaterMark, MAX_READ_SIZE);
    assert.equal(readers.at(-1)!.stream.readableHighWaterMark, MIN_READ_SIZE);

    // Half are read to the end, half are dropped unread, as when a visitor goes away.
    const read = readers.slice(0, 20).map(async (reader) => {
      const chunks: Buffer[] = [];
      for await (const chunk of reader.stream) chunks.push(chunk as Buffer);
      assert.ok(Buffer.concat(chunks).equals(content));
    });
    await Promise.all(read);
    await Promise.all(
      readers.slice(20).map(
        (reader) =>
          new Promise((resolve) => {
            reader.stream.once('close', resolve);
            reader.stream.destroy();
          }),
      ),
    );
    assert.equal(servingReads.free, DEFAULT_READ_BUDGET);
  });

  it('reads a range with a read no larger than the range', async () => {
    const reader = await store.blob('app', digest, { start: 10, end: 10 + 1000 });
    assert.equal(reader.stream.readableHighWaterMark, MIN_READ_SIZE);
    const chunks: Buffer[] = [];
    for await (const chunk of reader.stream) chunks.push(chunk as Buffer);
    assert.equal(Buffer.concat(chunks).byteLength, 1001);
    assert.equal(servingReads.free, DEFAULT_READ_BUDGET);
  });
});
