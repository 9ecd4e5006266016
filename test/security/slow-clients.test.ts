/**
 * Slow clients against `ocidrop serve`. A client that sends its headers a byte at a time is cut off
 * by the headers timeout (30 s, checked by Node.js every 30 s). While such clients hold their
 * connections, the server keeps serving everyone else.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
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
