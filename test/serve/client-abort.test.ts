/**
 * Downloads that the client cuts are logged as aborted requests at `info`, never as server
 * errors, on both the registry's blob endpoint and the gateway's file links, while a blob file
 * that fails mid-copy is still logged at `error`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, truncate } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { Digest } from '../../src/oci/digest.js';
import { type RunningServer, startServer } from '../../src/serve/server.js';
import { publishRelease } from '../gateway/publish.js';

const BIG = randomBytes(32 * 1024 * 1024);

interface LogLine {
  level: number;
  msg: string;
  path?: string;
  aborted?: boolean;
  err?: { type?: string; code?: string };
}

let dir: string;
let server: RunningServer;
let digest: Digest;
const lines: LogLine[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-client-abort-'));
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => lines.push(JSON.parse(line) as LogLine) },
  );
  server = await startServer({ dataDir: dir, port: 0, logger });
  const published = await publishRelease(server.url, 'big', '1', [
    { files: [{ name: 'big.bin', data: BIG, main: true }] },
  ]);
  assert.ok(published.digest);
  const manifest = (await (
    await fetch(`${server.url}/v2/big/manifests/1`, {
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    })
  ).json()) as { layers: { digest: Digest }[] };
  digest = manifest.layers[0]!.digest;
});

after(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/**
 * Sends a GET on a raw socket and cuts it once `afterBytes` bytes of the response have arrived:
 * with a reset when `reset` is set, else with a plain close, as `curl --max-time` does.
 */
function cutDownload(path: string, afterBytes: number, reset: boolean): Promise<void> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    let received = 0;
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      received += chunk.byteLength;
      if (received < afterBytes || socket.destroyed) return;
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
    });
    socket.on('close', () => resolve());
    socket.on('error', () => {});
    setTimeout(() => reject(new Error(`no response to ${path} within 10 s`)), 10_000).unref();
  });
}

/** Waits up to 10 s until `count` access lines for `path` are logged. */
async function waitForRequests(path: string, count: number): Promise<LogLine[]> {
  for (let waited = 0; waited < 10_000; waited += 50) {
    const found = lines.filter((line) => line.msg === 'request' && line.path === path);
    if (found.length >= count) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`fewer than ${count} requests to ${path} were logged within 10 s`);
}

describe('downloads cut by the client', () => {
  for (const target of ['registry', 'gateway'] as const) {
    it(`${target} logs cuts as aborted at info`, async () => {
      const path = target === 'registry' ? `/v2/big/blobs/${digest}` : '/big/1/files/big.bin';
      const before = lines.length;
      let cuts = 0;
      for (const afterBytes of [1, 16 * 1024, 256 * 1024, 1024 * 1024, 2 * 1024 * 1024]) {
        for (const reset of [false, true]) {
          for (let i = 0; i < 3; i++) {
            await cutDownload(path, afterBytes, reset);
            cuts++;
          }
        }
      }
      const requests = await waitForRequests(path, cuts);
      // Let a late error line, which follows the access line, reach the log.
      await new Promise((resolve) => setTimeout(resolve, 200));

      const errors = lines.slice(before).filter((line) => line.level >= 50);
      assert.deepEqual(errors, [], 'no cut download is logged as an error');
      assert.equal(requests.length, cuts);
      for (const line of requests) {
        assert.equal(line.level, 30);
        assert.equal(line.aborted, true, JSON.stringify(line));
      }
    });
  }
});

describe('blob file that fails mid-copy', () => {
  it('registry logs it as an error', async () => {
    const path = `/v2/big/blobs/${digest}`;
    const before = lines.length;
    const { port } = new URL(server.url);
    const blobFile = join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));

    // The client reads nothing, so the copy stalls on a full socket, and then the file shrinks.
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    });
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('data', resolve));
    socket.pause();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await truncate(blobFile, 1024);
    socket.resume();
    socket.on('data', () => {});
    await new Promise((resolve) => socket.once('close', resolve));

    await waitForRequests(path, 1);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const failures = lines.slice(before).filter((line) => line.msg === 'registry request failed');
    assert.equal(failures.length, 1, 'the read failure is logged once');
    assert.equal(failures[0]?.level, 50);
    assert.equal(failures[0]?.err?.code, 'ERR_DIGEST_MISMATCH');
  });
});
