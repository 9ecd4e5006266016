/**
 * The gateway in front of a remote registry that turns slow, answers `5xx` or disappears: the
 * visitor gets a clear error page, what is cached keeps being served, and the gateway recovers
 * once the registry is back.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { checkConfig } from '../../src/serve/config.js';
import { type RunningServer, startServer } from '../../src/serve/server.js';
import { publishRelease } from '../gateway/publish.js';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';

type Mode = 'pass' | 'error' | 'hang' | 'reset';

/** A TCP front for a registry whose behaviour a test switches: pass through, 503, hang or reset. */
interface Faulty {
  url: string;
  mode: Mode;
  close(): Promise<void>;
}

async function startFaulty(target: string): Promise<Faulty> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  const state = { mode: 'pass' as Mode };
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => undefined);
    switch (state.mode) {
      case 'reset':
        client.resetAndDestroy();
        return;
      case 'hang':
        client.resume();
        return;
      case 'error':
        client.once('data', () =>
          client.end(
            'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nmaintenance\n',
          ),
        );
        return;
      case 'pass': {
        const upstream = connect(Number(port), hostname);
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        upstream.on('error', () => client.destroy());
        client.pipe(upstream).pipe(client);
      }
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: frontPort } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${frontPort}`,
    get mode() {
      return state.mode;
    },
    set mode(mode: Mode) {
      state.mode = mode;
      // Pooled connections would keep the old behaviour, so every open one is cut.
      for (const socket of sockets) socket.destroy();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

const PROGRAM = Buffer.concat([Buffer.from('\x7fELF'), Buffer.alloc(2048, 5)]);

describe('gateway in front of a failing registry', () => {
  let registry: EmbeddedRegistry;
  let faulty: Faulty;
  let gateway: RunningServer;
  let dataDir: string;

  before(async () => {
    registry = await startEmbeddedRegistry();
    faulty = await startFaulty(registry.url);
    dataDir = await mkdtemp(join(tmpdir(), 'ocidrop-upstream-'));
    for (const version of ['1.0.0', '1.1.0']) {
      await publishRelease(registry.url, 'hello', version, [
        {
          platform: 'linux/amd64',
          files: [{ name: 'hello', data: Buffer.concat([PROGRAM, Buffer.from(version)]), main: true }],
        },
      ]);
    }
    const config = await checkConfig(
      {
        registry: false,
        // Short timeouts keep the hung-registry case quick; the defaults are 10 s and 30 s.
        registries: [{ name: 'remote', url: faulty.url, headersTimeoutSeconds: 2, bodyTimeoutSeconds: 5 }],
        repositories: [{ name: 'hello', registry: 'remote', repository: 'hello' }],
        cache: { tagTtlSeconds: 3, blobDir: join(dataDir, 'blobs'), blobBytes: 64 * 1024 * 1024 },
      },
      { path: join(dataDir, 'ocidrop.yaml'), env: {}, readSecretFile: async () => '' },
    );
    gateway = await startServer({
      dataDir,
      host: '127.0.0.1',
      port: 0,
      config,
      logger: pino({ level: 'silent' }),
    });
  });

  after(async () => {
    await gateway.close();
    await faulty.close();
    await registry.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function page(
    path: string,
    timeoutMs = 20_000,
  ): Promise<{ status: number; body: string; type: string }> {
    const response = await fetch(`${gateway.url}${path}`, {
      headers: { Accept: 'text/html', 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64)' },
      signal: AbortSignal.timeout(timeoutMs),
    });
    return {
      status: response.status,
      body: await response.text(),
      type: response.headers.get('content-type') ?? '',
    };
  }

  it('serves while the registry is healthy', async () => {
    faulty.mode = 'pass';
    assert.equal((await page('/hello/1.0.0')).status, 200);
    const download = await fetch(`${gateway.url}/hello/1.0.0/download?os=linux&arch=amd64`);
    assert.equal(download.status, 200);
    assert.deepEqual(
      Buffer.from(await download.arrayBuffer()),
      Buffer.concat([PROGRAM, Buffer.from('1.0.0')]),
    );
  });

  for (const mode of ['error', 'reset'] as const) {
    it(`cached version is served while the registry is ${mode === 'error' ? 'answering 503' : 'gone'}`, async () => {
      faulty.mode = 'pass';
      assert.equal((await page('/hello/1.0.0')).status, 200);
      const download = await fetch(`${gateway.url}/hello/1.0.0/download?os=linux&arch=amd64`);
      await download.arrayBuffer();
      faulty.mode = mode;
      assert.equal((await page('/hello/1.0.0')).status, 200);
      const again = await fetch(`${gateway.url}/hello/1.0.0/download?os=linux&arch=amd64`);
      assert.equal(again.status, 200);
      assert.deepEqual(
        Buffer.from(await again.arrayBuffer()),
        Buffer.concat([PROGRAM, Buffer.from('1.0.0')]),
      );
    });

    it(`uncached version gets a clear error page while the registry is ${mode === 'error' ? 'answering 503' : 'gone'}`, async () => {
      faulty.mode = mode;
      const started = Date.now();
      const answer = await page('/hello/1.1.0');
      assert.equal(answer.status, 502);
      assert.match(answer.type, /^text\/html/);
      assert.match(answer.body, /registry/i);
      assert.ok(!answer.body.includes('at '.concat('async')), 'the page shows a stack trace');
      assert.ok(Date.now() - started < 10_000);
    });
  }

  it('slow registry gets a clear error page in bounded time', async () => {
    faulty.mode = 'hang';
    const started = Date.now();
    const answer = await page('/hello/1.1.0?fresh=1', 8_000).catch((error: Error) => error);
    assert.ok(!(answer instanceof Error), `no answer within 8 s (${Date.now() - started} ms)`);
    assert.equal(answer.status, 504);
    assert.match(answer.type, /^text\/html/);
    assert.match(answer.body, /did not respond in time/);
  });

  it('stale tag is served while the registry is gone', async () => {
    faulty.mode = 'pass';
    assert.equal((await page('/hello/1.0.0')).status, 200);
    faulty.mode = 'reset';
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    assert.equal((await page('/hello/1.0.0')).status, 200);
  });

  it('recovers once the registry is back', async () => {
    faulty.mode = 'reset';
    assert.equal((await page('/hello/1.1.0?again=1')).status, 502);
    faulty.mode = 'pass';
    const answer = await page('/hello/1.1.0');
    assert.equal(answer.status, 200);
    const download = await fetch(`${gateway.url}/hello/1.1.0/download?os=linux&arch=amd64`);
    assert.equal(download.status, 200);
    assert.deepEqual(
      Buffer.from(await download.arrayBuffer()),
      Buffer.concat([PROGRAM, Buffer.from('1.1.0')]),
    );
  });
});
