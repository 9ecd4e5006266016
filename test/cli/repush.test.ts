/**
 * Pushing a large file that the registry already has, through `ocidrop push` against
 * `ocidrop serve`: the output says so whether or not some bytes went out before the hash was known.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { requestsTo, startRecordingProxy } from '../helpers/recording-proxy.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';

const SIZE = 24 * 1024 * 1024;

describe('push of a blob the registry has', () => {
  let serve: ServeProcess;
  let work: string;
  let file: string;

  before(async () => {
    serve = await startServe();
    work = await mkdtemp(join(tmpdir(), 'ocidrop-repush-'));
    file = join(work, 'large.bin');
    await writeFile(file, randomBytes(SIZE));
    const first = await runCli(['push', `${serve.host}/repush/app:1`, file]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /large\.bin \(24\.0 MiB\) for every platform, uploaded/);
  });

  after(async () => {
    await serve?.close();
    await rm(serve.dataDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  it('says already in the registry after an overlapped upload', async () => {
    const again = await runCli(['push', `${serve.host}/repush/app:2`, file]);

    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /large\.bin \(24\.0 MiB\) for every platform, already in the registry/);
    const json = await runCli(['push', `${serve.host}/repush/app:3`, file, '--json']);
    const files = (JSON.parse(json.stdout) as { files: { uploaded: boolean }[] }).files;
    assert.equal(files[0]?.uploaded, false);
  });

  it('sends no blob body with --hash-first', async () => {
    const proxy = await startRecordingProxy(serve.host);
    try {
      const again = await runCli(['push', `${proxy.host}/repush/app:4`, file, '--hash-first']);

      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /large\.bin \(24\.0 MiB\) for every platform, already in the registry/);
      assert.deepEqual(requestsTo(proxy, 'PATCH'), []);
      const sent = proxy.requests.filter(
        (request) =>
          request.path.includes('/blobs/uploads/') && Number(request.headers['content-length'] ?? 0) > 2,
      );
      assert.deepEqual(sent, [], 'only the 2-byte empty config may go out');
    } finally {
      await proxy.close();
    }
  });
});
