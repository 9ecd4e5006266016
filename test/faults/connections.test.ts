/**
 * Dropped connections in both directions: a client that vanishes mid-upload leaves `ocidrop serve`
 * running with a session it can resume or that expires, and a pull cut off mid-blob resumes where
 * it stopped and still verifies the whole file.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pull } from '../../src/client/pull.js';
import { gc } from '../../src/storage/gc.js';
import { publishRelease } from '../gateway/publish.js';
import { startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';
import { sha256 } from './workload.js';

/** Sends the head and the first `sent` bytes of a PATCH of `total` bytes, then resets the connection. */
function patchAndVanish(base: string, location: string, total: number, sent: number): Promise<void> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    socket.on('error', () => undefined);
    socket.on('close', () => resolve());
    socket.write(
      `PATCH ${location} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/octet-stream\r\n` +
        `Content-Range: 0-${total - 1}\r\nContent-Length: ${total}\r\n\r\n`,
    );
    socket.write(Buffer.alloc(sent, 1), () => setTimeout(() => socket.resetAndDestroy(), 100));
  });
}

describe('client drops the connection mid-upload', () => {
  let serve: ServeProcess;

  before(async () => {
    serve = await startServe();
  });

  after(async () => {
    await serve.close();
    await rm(serve.dataDir, { recursive: true, force: true });
  });

  it('server survives and frees or resumes the session', async () => {
    const started = await fetch(`${serve.url}/v2/drop/app/blobs/uploads/`, { method: 'POST' });
    await started.arrayBuffer();
    const location = started.headers.get('location')!;
    const id = location.split('/').at(-1)!.split('?')[0]!;
    for (let i = 0; i < 3; i++) await patchAndVanish(serve.url, location, 4 * 1024 * 1024, 1024 * 1024);
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(serve.child.exitCode, null, `the server exited: ${serve.log().slice(-1500)}`);

    const status = await fetch(new URL(location, serve.url));
    await status.arrayBuffer();
    if (status.status === 404) {
      // The server dropped the session with the connection: nothing of it may stay on disk.
      assert.deepEqual(
        (await readdir(join(serve.dataDir, 'uploads'))).filter((entry) => entry === id),
        [],
      );
      return;
    }
    // Otherwise the session holds what arrived whole and continues from its Range.
    assert.equal(status.status, 204);
    const range = status.headers.get('range');
    // `0-0` is what Distribution reports for an empty session too, so it counts as nothing stored.
    const stored = range === null || range === '0-0' ? 0 : Number(/^0-(\d+)$/.exec(range)![1]) + 1;
    const data = Buffer.alloc(2 * 1024 * 1024, 1);
    const rest = await fetch(new URL(location, serve.url), {
      method: 'PATCH',
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `${stored}-${data.length - 1}`,
      },
      body: data.subarray(stored),
    });
    await rest.arrayBuffer();
    assert.equal(rest.status, 202);
    const closing = new URL(rest.headers.get('location')!, serve.url);
    closing.searchParams.set('digest', sha256(data));
    const closed = await fetch(closing, { method: 'PUT' });
    await closed.arrayBuffer();
    assert.equal(closed.status, 201);
  });

  it('server keeps serving after many resets', async () => {
    for (let i = 0; i < 20; i++) {
      const started = await fetch(`${serve.url}/v2/drop/many/blobs/uploads/`, { method: 'POST' });
      await started.arrayBuffer();
      await patchAndVanish(serve.url, started.headers.get('location')!, 1024 * 1024, 256 * 1024);
    }
    const response = await fetch(`${serve.url}/v2/`);
    assert.equal(response.status, 200);
    assert.equal(serve.child.exitCode, null);
  });

  it('reset upload is logged as aborted', async () => {
    const started = await fetch(`${serve.url}/v2/drop/logged/blobs/uploads/`, { method: 'POST' });
    await started.arrayBuffer();
    const location = started.headers.get('location')!;
    const path = location.split('?')[0]!;
    await patchAndVanish(serve.url, location, 1024 * 1024, 256 * 1024);
    await new Promise((resolve) => setTimeout(resolve, 500));

    const entries = serve
      .log()
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map(
        (line) =>
          JSON.parse(line) as {
            level: number;
            msg: string;
            method?: string;
            path?: string;
            aborted?: boolean;
            status?: number;
          },
      )
      .filter((entry) => entry.path === path && entry.method === 'PATCH');
    assert.ok(entries.length > 0, `no log line for the PATCH: ${serve.log().slice(-1500)}`);
    for (const entry of entries) assert.ok(entry.level < 50, `logged at level ${entry.level}: ${entry.msg}`);
    assert.ok(entries.some((entry) => entry.aborted === true && entry.status === undefined));
  });
});

describe('abandoned upload sessions', () => {
  it('expired sessions are removed by collection', async () => {
    const registry = await startEmbeddedRegistry(undefined, { store: { uploadTtlMs: 200 } });
    try {
      // Clients that open a session, send one chunk and never come back.
      for (let i = 0; i < 5; i++) {
        const started = await fetch(`${registry.url}/v2/drop/app/blobs/uploads/`, { method: 'POST' });
        await started.arrayBuffer();
        const chunk = await fetch(new URL(started.headers.get('location')!, registry.url), {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-65535' },
          body: Buffer.alloc(65536, i),
        });
        await chunk.arrayBuffer();
        assert.equal(chunk.status, 202);
      }
      assert.equal((await readdir(join(registry.store.root, 'uploads'))).length, 5);
      await new Promise((resolve) => setTimeout(resolve, 400));
      const report = await gc(registry.store, { gracePeriodMs: 0, uploadTtlMs: 200 });
      assert.equal(report.uploads.length, 5);
      assert.deepEqual(await readdir(join(registry.store.root, 'uploads')), []);
    } finally {
      await registry.close();
    }
  });
});

/**
 * A TCP proxy that cuts the first response carrying more than `cutAfter` bytes, as a network
 * failure mid-download would, and passes everything else through. It records the first offset of
 * every `Range` request header it forwards.
 */
async function startCuttingProxy(
  target: string,
  cutAfter: number,
): Promise<{ host: string; cuts: number; rangeStarts: number[]; close(): Promise<void> }> {
  const { hostname, port } = new URL(target);
  const state = { cuts: 0, rangeStarts: [] as number[] };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    sockets.add(client).add(upstream);
    let received = 0;
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.pipe(upstream);
    client.on('data', (chunk: Buffer) => {
      // Request heads are small and arrive whole on loopback; the first offset of each Range counts.
      for (const match of chunk.toString('latin1').matchAll(/^range: *bytes=(\d+)-/gim)) {
        state.rangeStarts.push(Number(match[1]));
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (state.cuts === 0 && received > cutAfter) {
        state.cuts++;
        client.write(chunk.subarray(0, chunk.length - (received - cutAfter)));
        client.destroy();
        upstream.destroy();
        return;
      }
      client.write(chunk);
    });
    upstream.on('end', () => client.end());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: proxyPort } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${proxyPort}`,
    get cuts() {
      return state.cuts;
    },
    get rangeStarts() {
      return state.rangeStarts;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('server drops the connection mid-download', () => {
  it('pull resumes and verifies', async () => {
    const registry = await startEmbeddedRegistry();
    const proxy = await startCuttingProxy(registry.url, 1024 * 1024);
    const output = await mkdtemp(join(tmpdir(), 'ocidrop-cut-'));
    try {
      const program = Buffer.concat([Buffer.from('\x7fELF'), Buffer.alloc(4 * 1024 * 1024, 3)]);
      await publishRelease(registry.url, 'cut/app', '1.0.0', [
        { platform: 'linux/amd64', files: [{ name: 'app', data: program, main: true }] },
      ]);
      const platform = { os: 'linux', architecture: 'amd64' };
      // The first attempt may fail with the cut, keeping its bytes; the second resumes from them.
      await pull(`${proxy.host}/cut/app:1.0.0`, output, { platform }).catch(() => undefined);
      assert.equal(proxy.cuts, 1, 'the proxy cut no download');
      await pull(`${proxy.host}/cut/app:1.0.0`, output, { platform, overwrite: true });
      assert.deepEqual(await readFile(join(output, 'app')), program);
      // Resuming means asking for the rest only, from where the cut download stopped.
      assert.ok(
        proxy.rangeStarts.some((start) => start > 0),
        `no request resumed with a Range past 0 (ranges from: ${proxy.rangeStarts.join(', ') || 'none'})`,
      );
      assert.deepEqual(
        (await readdir(output)).filter((entry) => entry !== 'app'),
        [],
      );
    } finally {
      await proxy.close();
      await registry.close();
      await rm(output, { recursive: true, force: true });
    }
  });
});
