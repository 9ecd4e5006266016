/**
 * Slow clients against `ocidrop serve`. A client that sends its headers a byte at a time is cut off
 * by the headers timeout (30 s, checked by Node.js every 30 s). While such clients hold their
 * connections, the server keeps serving everyone else. A body sent a byte at a time is cut by the
 * minimum body rate, while a steady upload that takes longer than one window is not.
 */
import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { type RunningServer, startServer } from '../../src/serve/server.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';

/** How long a header drip may last before the test calls the server defenceless: 30 s + 30 s + margin. */
const CUT_OFF_WITHIN_MS = 75_000;
const SLOW_CLIENTS = 20;

/** Opens a connection that sends one header byte per second; resolves with how long it stayed open. */
function dripHeaders(
  base: string,
  stop: AbortSignal,
): Promise<{ closedByServer: boolean; ms: number; reply: string }> {
  const { hostname, port } = new URL(base);
  const started = Date.now();
  return new Promise((resolve) => {
    const socket: Socket = connect(Number(port), hostname);
    let reply = '';
    let closedByServer = true;
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      reply += text;
    });
    socket.on('error', () => undefined);
    const text = `GET /v2/ HTTP/1.1\r\nHost: ${hostname}:${port}\r\nX-Slow: ${'a'.repeat(200)}`;
    let position = 0;
    const timer = setInterval(() => {
      if (socket.destroyed) return;
      socket.write(text[position % text.length]!);
      position++;
    }, 1_000);
    stop.addEventListener('abort', () => {
      closedByServer = false;
      socket.destroy();
    });
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ closedByServer, ms: Date.now() - started, reply });
    });
  });
}

describe('slow clients', () => {
  let serve: ServeProcess;

  before(async () => {
    serve = await startServe();
  });

  after(async () => {
    await serve.close();
    await rm(serve.dataDir, { recursive: true, force: true });
  });

  it('header drip is cut off', { timeout: CUT_OFF_WITHIN_MS + 30_000 }, async () => {
    const stop = AbortSignal.timeout(CUT_OFF_WITHIN_MS);
    // Every slow client listens to the one signal.
    setMaxListeners(SLOW_CLIENTS + 1, stop);
    const drips = Array.from({ length: SLOW_CLIENTS }, () => dripHeaders(serve.url, stop));

    // While the slow clients hold their connections, others are served at once.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    for (let i = 0; i < 5; i++) {
      const started = Date.now();
      const response = await fetch(`${serve.url}/v2/`);
      await response.arrayBuffer();
      assert.equal(response.status, 200);
      assert.ok(Date.now() - started < 2_000, 'a normal request waited behind the slow clients');
    }

    const results = await Promise.all(drips);
    for (const result of results) {
      assert.ok(result.closedByServer, `the server kept a header drip open for ${result.ms} ms`);
      assert.ok(result.ms >= 29_000, `cut off after ${result.ms} ms, before the 30 s headers timeout`);
      assert.match(result.reply, /^(?:HTTP\/1\.1 408|$)/);
    }
  });
});

/** Sends a PATCH whose body arrives in `chunk`-byte pieces every `everyMs`; resolves when the socket closes. */
function sendBodyAtRate(
  base: string,
  path: string,
  total: number,
  chunk: number,
  everyMs: number,
): Promise<{ ms: number; reply: string; sent: number }> {
  const { hostname, port } = new URL(base);
  const started = Date.now();
  return new Promise((resolve) => {
    const socket: Socket = connect(Number(port), hostname);
    let reply = '';
    let sent = 0;
    socket.setEncoding('latin1');
    socket.on('data', (text: string) => {
      reply += text;
      // A complete response ends the exchange, so the test does not wait for the keep-alive timeout.
      if (/\r\n\r\n/.test(reply)) socket.end();
    });
    socket.on('error', () => undefined);
    socket.write(
      `PATCH ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${total}\r\n\r\n`,
    );
    const timer = setInterval(() => {
      if (socket.destroyed || sent >= total) return;
      const size = Math.min(chunk, total - sent);
      socket.write(Buffer.alloc(size, 0x61));
      sent += size;
    }, everyMs);
    // Bounds the test if the server never cuts the drip.
    const limit = setTimeout(() => socket.destroy(), 20_000);
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(limit);
      resolve({ ms: Date.now() - started, reply, sent });
    });
  });
}

describe('slow request bodies', () => {
  let server: RunningServer;
  let dataDir: string;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ocidrop-body-rate-'));
    server = await startServer({
      dataDir,
      port: 0,
      logger: pino({ level: 'silent' }),
      requestBody: { windowMs: 1_000, minBytes: 1024 },
    });
  });

  after(async () => {
    await server.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function openSession(): Promise<string> {
    const response = await fetch(`${server.url}/v2/drip/blobs/uploads/`, { method: 'POST' });
    await response.arrayBuffer();
    assert.equal(response.status, 202);
    return response.headers.get('location')!;
  }

  it('body drip is cut off', async () => {
    const result = await sendBodyAtRate(server.url, await openSession(), 100_000, 1, 200);
    assert.ok(result.ms < 5_000, `the server kept a body drip open for ${result.ms} ms`);
    assert.ok(result.sent < 100, `the drip sent ${result.sent} bytes before it was cut`);
    assert.match(result.reply, /^(?:HTTP\/1\.1 408|$)/);
  });

  it('steady upload longer than a window completes', async () => {
    const total = 64 * 1024 * 12;
    const result = await sendBodyAtRate(server.url, await openSession(), total, 64 * 1024, 250);
    assert.equal(result.sent, total);
    assert.ok(result.ms > 2_000, `the upload took ${result.ms} ms, less than two windows`);
    assert.match(result.reply, /^HTTP\/1\.1 202/);
  });
});
