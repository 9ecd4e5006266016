import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { withFileLock } from '../../src/storage/file-lock.js';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-lock-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Returns the id of a process that has exited. */
async function deadProcessId(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.once('exit', resolve));
  assert.ok(child.pid !== undefined);
  return child.pid;
}

describe('withFileLock', () => {
  it('takes over the lock of a dead process at once', async () => {
    const path = join(dir, 'dead.lock');
    await writeFile(path, `${await deadProcessId()}\n`);

    const started = Date.now();
    const result = await withFileLock(path, async () => 'ran');

    assert.equal(result, 'ran');
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    await assert.rejects(stat(path), { code: 'ENOENT' }, 'the lock is removed afterwards');
  });

  it('waits for the lock of a live process', async () => {
    const path = join(dir, 'live.lock');
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    try {
      await writeFile(path, `${holder.pid}\n`);
      setTimeout(() => void rm(path, { force: true }), 300);

      const started = Date.now();
      await withFileLock(path, async () => undefined);

      assert.ok(Date.now() - started >= 250, 'the lock was awaited until its owner released it');
    } finally {
      holder.kill();
    }
  });

  it('serializes tasks of one process', async () => {
    const path = join(dir, 'self.lock');
    const order: string[] = [];
    const task = (name: string) =>
      withFileLock(path, async () => {
        order.push(`${name} start`);
        await new Promise((resolve) => setTimeout(resolve, 50));
        order.push(`${name} end`);
      });

    await Promise.all([task('a'), task('b')]);

    assert.deepEqual(order, ['a start', 'a end', 'b start', 'b end']);
  });
});
