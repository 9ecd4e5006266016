/**
 * A full disk under `ocidrop serve`: an upload that does not fit gets a clear error, leaves no
 * partial blob, and the server keeps serving reads and accepts pushes once space is back. The data
 * folder is a small tmpfs where the machine allows mounts; elsewhere the server runs with a file-size
 * limit (`ulimit -f`), which makes a write past it fail with EFBIG.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLI } from '../helpers/paths.js';
import { waitForServeUrl } from '../helpers/serve.js';
import { sha256, uploadBlob } from './workload.js';

const DISK_BYTES = 8 * 1024 * 1024;

/** Mounts a tmpfs of `bytes` on `folder`; false when the machine does not allow it. */
function tryMount(folder: string, bytes: number): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', folder], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Starts `ocidrop serve`, under `ulimit -f` when `fileLimitBlocks` (of 512 bytes) is given. */
async function startLimitedServe(
  dataDir: string,
  fileLimitBlocks?: number,
): Promise<{ url: string; child: ChildProcess; log: () => string }> {
  const args = [CLI, 'serve', '--data', dataDir, '--host', '127.0.0.1', '--port', '0'];
  const child =
    fileLimitBlocks === undefined
      ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn('sh', ['-c', `ulimit -f ${fileLimitBlocks} && exec "$0" "$@"`, process.execPath, ...args], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
  const { url, log } = await waitForServeUrl(child);
  return { url, child, log };
}

/**
 * Sends a POST with `body` over a raw socket and returns the server's response. The server may
 * respond before it reads the whole body and then close the connection, which `fetch` reports as
 * a failure without the response.
 */
function postAndReadEarlyAnswer(base: string, target: string, body: Buffer): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.write(
      `POST ${target} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nConnection: close\r\nContent-Length: ${body.length}\r\n\r\n`,
    );
    socket.write(body);
  });
}

/**
 * Runs `action` again once when it fails to connect. The pool may hand out a kept-alive socket
 * that the server closed after a failed upload, which is no fault of the server.
 */
async function retryOnce<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch {
    return action();
  }
}

describe('full disk during upload', () => {
  let root: string;
  let dataDir: string;
  let mounted = false;
  let serve: Awaited<ReturnType<typeof startLimitedServe>>;
  const small = Buffer.from('small blob that fits\n'.repeat(100));

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'ocidrop-disk-'));
    dataDir = join(root, 'data');
    await mkdir(dataDir);
    mounted = tryMount(dataDir, DISK_BYTES);
    serve = await startLimitedServe(dataDir, mounted ? undefined : DISK_BYTES / 512);
    assert.ok(await uploadBlob(serve.url, 'disk/app', small, 0));
  });

  after(async () => {
    if (serve.child.exitCode === null) {
      const exited = new Promise((resolve) => serve.child.once('exit', resolve));
      serve.child.kill('SIGTERM');
      await exited;
    }
    if (mounted) execFileSync('umount', [dataDir]);
    await rm(root, { recursive: true, force: true });
  });

  for (const chunks of [0, 1, 4]) {
    it(`upload past the limit fails cleanly (${chunks} chunks)`, async () => {
      const big = Buffer.alloc(DISK_BYTES + 1024 * 1024, chunks + 1);
      const digest = sha256(big);
      const accepted = await uploadBlob(serve.url, 'disk/app', big, chunks).catch(() => false);
      assert.equal(accepted, false, 'a blob larger than the disk was acknowledged');
      assert.equal(serve.child.exitCode, null, `the server exited: ${serve.log().slice(-2000)}`);

      const head = await fetch(`${serve.url}/v2/disk/app/blobs/${digest}`, { method: 'HEAD' });
      assert.equal(head.status, 404, 'a partial blob is visible');
      const files = (await readdir(join(dataDir, 'blobs', 'sha256'))).filter((name) => !name.startsWith('.'));
      assert.ok(!files.includes(digest.slice('sha256:'.length)));
    });
  }

  it('failed upload names the cause', async () => {
    const big = Buffer.alloc(DISK_BYTES + 1024 * 1024, 9);
    const answer = await postAndReadEarlyAnswer(
      serve.url,
      `/v2/disk/app/blobs/uploads/?digest=${sha256(big)}`,
      big,
    );
    assert.match(answer, /^HTTP\/1\.1 5\d\d/);
    assert.match(answer, /"errors"/);
    assert.match(answer, /no space|storage is full|ENOSPC|EFBIG|disk/i, answer);
  });

  it('reads keep working on a full disk', async () => {
    const response = await retryOnce(() => fetch(`${serve.url}/v2/disk/app/blobs/${sha256(small)}`));
    assert.equal(response.status, 200);
    assert.deepEqual(Buffer.from(await response.arrayBuffer()), small);
  });

  it('pushes work again once space is freed', async () => {
    const next = Buffer.from('another small blob\n'.repeat(100));
    assert.ok(
      await retryOnce(() => uploadBlob(serve.url, 'disk/app', next, 2)),
      'the failed uploads left their bytes on the disk',
    );
  });
});
