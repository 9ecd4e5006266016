/**
 * Running `ocidrop pull` again after it was interrupted with Ctrl-C, or after it failed on a
 * corrupt blob, against `ocidrop serve`. The second run keeps the files that are already complete,
 * resumes the partial one and verifies every file.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { push } from '../../src/client/push.js';
import { type Digest, digestOf } from '../../src/oci/digest.js';
import { CLI, runCli } from '../helpers/cli.js';
import { type DownloadProxy, startDownloadProxy } from '../helpers/download-proxy.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';

const LARGE_SIZE = 32 * 1024 * 1024;
const SMALL_SIZE = 5 * 1024 * 1024;
/** Bytes of the large file that the proxy sends before it stalls. */
const STALL_AFTER = 12 * 1024 * 1024;

const noCredentials = async () => undefined;

describe('pull run again', () => {
  let serve: ServeProcess;
  let proxy: DownloadProxy;
  let work: string;
  let large: Buffer;
  let small: Buffer;
  let largeDigest: Digest;
  let smallDigest: Digest;
  let reference: string;

  before(async () => {
    serve = await startServe();
    work = await mkdtemp(join(tmpdir(), 'ocidrop-pull-again-'));
    large = randomBytes(LARGE_SIZE);
    small = randomBytes(SMALL_SIZE);
    largeDigest = digestOf(large);
    smallDigest = digestOf(small);
    await mkdir(join(work, 'in'));
    await writeFile(join(work, 'in', 'large.bin'), large);
    await writeFile(join(work, 'in', 'small.bin'), small);
    await push(
      `${serve.host}/files/app:1`,
      [{ path: join(work, 'in', 'large.bin') }, { path: join(work, 'in', 'small.bin') }],
      { credentials: noCredentials },
    );
    proxy = await startDownloadProxy(serve.host);
    reference = `${proxy.host}/files/app:1`;
  });

  after(async () => {
    await proxy?.close();
    await serve?.close();
    await rm(serve.dataDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  async function assertPulled(output: string): Promise<void> {
    assert.deepEqual((await readdir(output)).sort(), ['large.bin', 'small.bin'], 'no partial file is left');
    assert.equal(digestOf(await readFile(join(output, 'large.bin'))), largeDigest);
    assert.equal(digestOf(await readFile(join(output, 'small.bin'))), smallDigest);
  }

  it('resumes after Ctrl-C', async () => {
    const output = join(work, 'interrupted');
    proxy.setFault(largeDigest, { stallAfter: STALL_AFTER });
    const child = spawn(process.execPath, [CLI, 'pull', reference, '-o', output], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = exitOf(child);

    // Ctrl-C arrives once the small file is in place and the large one is stalled part-way.
    await waitFor(async () => {
      const names = await readdir(output).catch((): string[] => []);
      const partial = names.find((name) => name.endsWith('.partial'));
      if (!names.includes('small.bin') || partial === undefined) return false;
      return (await stat(join(output, partial))).size === STALL_AFTER;
    });
    child.kill('SIGINT');
    const { code, stderr } = await exited;
    assert.equal(code, 130, stderr);
    assert.match(stderr, /interrupted: run the same command again: pull resumes where it stopped/);

    proxy.setFault(largeDigest, 'forward');
    proxy.blobRequests.length = 0;
    const again = await runCli(['pull', reference, '-o', output]);

    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(proxy.blobRequests, [
      { digest: largeDigest, range: `bytes=${STALL_AFTER}-${LARGE_SIZE - 1}` },
    ]);
    await assertPulled(output);
  });

  it('finishes after a digest mismatch', async () => {
    const output = join(work, 'corrupt');
    proxy.setFault(smallDigest, { corruptAt: 1000 });
    const failed = await runCli(['pull', reference, '-o', output]);

    assert.notEqual(failed.code, 0);
    assert.match(failed.stderr, /\[ERR_DIGEST_MISMATCH\]/);
    assert.match(failed.stderr, new RegExp(`blob ${smallDigest}: received content with digest sha256:`));
    assert.match(
      failed.stderr,
      /the registry stores corrupt content, or something between it and this machine altered the bytes/,
    );
    assert.match(
      failed.stderr,
      /pull again, and if it fails the same way, ask the publisher to push the release again/,
    );
    assert.deepEqual(
      await readdir(output),
      ['large.bin'],
      'the large file was completed, the corrupt one deleted',
    );

    proxy.setFault(smallDigest, 'forward');
    proxy.blobRequests.length = 0;
    const again = await runCli(['pull', reference, '-o', output, '--json']);

    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual(proxy.blobRequests, [{ digest: smallDigest, range: undefined }]);
    const files = (JSON.parse(again.stdout) as { files: { title: string; existing: boolean }[] }).files;
    assert.deepEqual(
      files.map((file) => [file.title, file.existing]),
      [
        ['large.bin', true],
        ['small.bin', false],
      ],
    );
    await assertPulled(output);
  });

  it('rejects a file with other content', async () => {
    const output = join(work, 'other');
    await mkdir(output);
    await writeFile(join(output, 'small.bin'), randomBytes(SMALL_SIZE));
    proxy.blobRequests.length = 0;
    const refused = await runCli(['pull', reference, '-o', output]);

    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /small\.bin already exists: .*--overwrite.*\[ERR_OUTPUT_EXISTS\]/);
    assert.deepEqual(proxy.blobRequests, [], 'nothing was downloaded');

    const replaced = await runCli(['pull', reference, '-o', output, '--overwrite']);
    assert.equal(replaced.code, 0, replaced.stderr);
    await assertPulled(output);
  });
});

function exitOf(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  child.stdout!.resume();
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
}

// Polls `condition` every 50 ms and fails after 20 s.
async function waitFor(condition: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('the condition did not hold within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
