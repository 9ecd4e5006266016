/**
 * Request smuggling against `ocidrop serve`: requests whose length is ambiguous, which a proxy in
 * front and the server could read differently, are rejected instead of being guessed at.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type ServeProcess, startServe } from '../helpers/serve.js';

/** Sends `text` as is and returns the status lines of every response the server sent back. */
function exchange(base: string, text: string): Promise<string[]> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    const chunks: Buffer[] = [];
    socket.setTimeout(3_000, () => socket.end());
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    socket.on('close', () =>
      resolve(
        Buffer.concat(chunks)
          .toString('latin1')
          .match(/HTTP\/1\.1 \d{3}/g) ?? [],
      ),
    );
    socket.write(text);
  });
}

describe('request smuggling', () => {
  let serve: ServeProcess;

  before(async () => {
    serve = await startServe();
  });

  after(async () => {
    await serve.close();
    await rm(serve.dataDir, { recursive: true, force: true });
  });

  const smuggled = 'GET /v2/_catalog HTTP/1.1\r\nHost: x\r\n\r\n';
  const cases: [string, string][] = [
    [
      'Content-Length with Transfer-Encoding',
      `POST /v2/app/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${smuggled}`,
    ],
    [
      'two different Content-Length headers',
      `POST /v2/app/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    ],
    [
      'obfuscated Transfer-Encoding',
      `POST /v2/app/blobs/uploads/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\nContent-Length: 0\r\n\r\n${smuggled}`,
    ],
    ['bare LF line endings', `GET /v2/ HTTP/1.1\nHost: x\nX-Padding: a\rb\n\n`],
    ['header without a colon', `GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Broken\r\n\r\n`],
    ['space before the colon', `GET /v2/ HTTP/1.1\r\nHost: x\r\nContent-Length : 5\r\n\r\nhello${smuggled}`],
  ];

  for (const [name, text] of cases) {
    it(`${name} is rejected`, async () => {
      const statuses = await exchange(serve.url, text);
      assert.ok(statuses.length >= 1, 'no response');
      assert.equal(statuses[0], 'HTTP/1.1 400', `responses: ${statuses.join(', ')}`);
      assert.equal(statuses.length, 1, `the server answered a smuggled request too: ${statuses.join(', ')}`);
    });
  }
});
