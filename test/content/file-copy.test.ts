import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { copyFileTo, endWritable } from '../../src/content/file-copy.js';
import { MAX_READ_SIZE, ReadBudget } from '../../src/content/read-budget.js';

const CONTENT = randomBytes(5 * 1024 * 1024 + 123);

let dir: string;
let path: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-file-copy-'));
  path = join(dir, 'blob');
  await writeFile(path, CONTENT);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Creates a writable that copies every chunk, as a socket's kernel buffer does. */
function collector(): { sink: Writable; bytes(): Buffer } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(Buffer.from(chunk));
      setImmediate(callback);
    },
  });
  return { sink, bytes: () => Buffer.concat(chunks) };
}

describe('copyFileTo', () => {
  it('copies the whole file and a range, byte for byte', async () => {
    const budget = new ReadBudget();
    const whole = collector();
    await copyFileTo(path, 0, CONTENT.byteLength, whole.sink, budget);
    assert.ok(whole.bytes().equals(CONTENT));

    const part = collector();
    await copyFileTo(path, 1_000_000, 3_000_001, part.sink, budget);
    assert.ok(part.bytes().equals(CONTENT.subarray(1_000_000, 4_000_001)));
    assert.equal(budget.free, budget.total, 'the read size is returned');
  });

  it('fails, naming the file, when the file is shorter than expected', async () => {
    const short = join(dir, 'short');
    await writeFile(short, CONTENT);
    await truncate(short, 2 * MAX_READ_SIZE + 10);
    const budget = new ReadBudget();
    await assert.rejects(
      copyFileTo(short, 0, CONTENT.byteLength, collector().sink, budget),
      (error: Error & { code?: string }) => {
        assert.match(error.message, /short is shorter than expected: it ended at 2097162 bytes, not 5243003/);
        assert.equal(error.name, 'DigestMismatchError');
        assert.equal(error.code, 'ERR_DIGEST_MISMATCH');
        return true;
      },
    );
    assert.equal(budget.free, budget.total);
  });

  it('reports a destroyed destination as DestinationClosedError', async () => {
    const budget = new ReadBudget();
    const target = collector();
    target.sink.destroy();
    await assert.rejects(copyFileTo(path, 0, CONTENT.byteLength, target.sink, budget), {
      name: 'DestinationClosedError',
      code: 'ERR_STREAM_PREMATURE_CLOSE',
    });
    assert.equal(budget.free, budget.total);
  });

  it('reports a failed write as DestinationClosedError with its cause', async () => {
    const broken = new Error('write after the peer left') as Error & { code: string };
    broken.code = 'ERR_STREAM_DESTROYED';
    const sink = new Writable({
      write(_chunk, _encoding, callback) {
        callback(broken);
      },
    });
    sink.on('error', () => {});
    await assert.rejects(copyFileTo(path, 0, CONTENT.byteLength, sink, new ReadBudget()), (error: Error) => {
      assert.equal(error.name, 'DestinationClosedError');
      assert.equal((error as Error & { code?: string }).code, 'ERR_STREAM_PREMATURE_CLOSE');
      assert.equal(error.cause, broken);
      return true;
    });
  });

  it('fails before writing anything when the file is missing', async () => {
    const target = collector();
    await assert.rejects(copyFileTo(join(dir, 'absent'), 0, 10, target.sink), { code: 'ENOENT' });
    assert.equal(target.bytes().byteLength, 0);
  });
});

/** Waits up to 5 s for `condition` to hold. */
async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 20) {
    assert.ok(waited < 5000, 'the condition held within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('copyFileTo into HTTP responses', () => {
  const budget = new ReadBudget(4 * 1024 * 1024);
  const outcomes: (Error | undefined)[] = [];
  let server: Server;
  let url: string;

  before(async () => {
    server = createServer((_req, res) => {
      res.writeHead(200, { 'Content-Length': CONTENT.byteLength });
      copyFileTo(path, 0, CONTENT.byteLength, res, budget)
        .then(() => endWritable(res))
        .then(
          () => outcomes.push(undefined),
          (error: Error) => {
            outcomes.push(error);
            res.destroy();
          },
        );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('serves many concurrent downloads intact', async () => {
    const bodies = await Promise.all(
      Array.from({ length: 20 }, async () => Buffer.from(await (await fetch(url)).arrayBuffer())),
    );
    for (const body of bodies) assert.ok(body.equals(CONTENT));
    await until(() => outcomes.length === 20);
    assert.deepEqual(outcomes, new Array(20).fill(undefined), 'every copy ended without an error');
    assert.equal(budget.free, budget.total);
  });

  it('stops and frees its buffers when the client goes away mid-download', async () => {
    outcomes.length = 0;
    await new Promise<void>((resolve, reject) => {
      const request = get(url, (response) => {
        response.once('data', () => {
          request.destroy();
          resolve();
        });
      });
      request.on('error', () => {});
      request.on('close', resolve);
      setTimeout(() => reject(new Error('no data within 5 s')), 5000).unref();
    });
    await until(() => outcomes.length === 1);
    assert.ok(outcomes[0] instanceof Error, 'the copy reports the cut');
    assert.equal(outcomes[0].name, 'DestinationClosedError');
    assert.equal((outcomes[0] as Error & { code?: string }).code, 'ERR_STREAM_PREMATURE_CLOSE');
    assert.equal(budget.free, budget.total);
  });
});
