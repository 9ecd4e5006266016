/**
 * Secrets that reach `ocidrop serve` in requests (passwords and tokens in `Authorization`, link
 * signatures in query strings) never appear in its log, nor in the pages and errors it sends back.
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { type ServeProcess, startServe } from '../helpers/serve.js';
import { basic, rawRequest } from './wire.js';

const PASSWORD = 'hunter2-in-the-log';
const TOKEN = 'eyJhbGciOiJIUzI1NiJ9.secret-bearer-token.c2ln';
const SIGNATURE = 'c2lnbmF0dXJlLXRoYXQtbXVzdC1zdGF5LXByaXZhdGU';

describe('secrets in the server log', () => {
  let serve: ServeProcess;
  const secrets = [PASSWORD, Buffer.from(`alice:${PASSWORD}`).toString('base64'), TOKEN, SIGNATURE];
  const answers: string[] = [];

  before(async () => {
    serve = await startServe();
    const targets = [
      '/v2/',
      '/v2/_catalog',
      '/v2/app/manifests/latest',
      '/v2/app/blobs/uploads/',
      `/v2/token?service=ocidrop&scope=repository:app:pull&password=${PASSWORD}`,
      `/app/latest/download?os=linux&arch=amd64&expires=9999999999&kid=key&sig=${SIGNATURE}`,
      `/app?sig=${SIGNATURE}&expires=1&kid=key`,
      `/nowhere/at/all?sig=${SIGNATURE}`,
      '/',
    ];
    for (const target of targets) {
      for (const authorization of [basic('alice', PASSWORD), `Bearer ${TOKEN}`]) {
        const method = target.endsWith('/uploads/') ? 'POST' : 'GET';
        const response = await rawRequest(serve.url, method, target, {
          Authorization: authorization,
          Accept: 'text/html',
        });
        answers.push(response.headers.map(([name, value]) => `${name}: ${value}`).join('\n'), response.body);
      }
    }
    // A malformed request line, which the server rejects before any handler runs.
    answers.push(
      (
        await rawRequest(serve.url, 'GET', `/v2/%ZZ?sig=${SIGNATURE}`, {
          Authorization: basic('alice', PASSWORD),
        })
      ).body,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
  });

  after(async () => {
    await serve.close();
    await rm(serve.dataDir, { recursive: true, force: true });
  });

  it('log names the requests', () => {
    assert.match(serve.log(), /"path":"\/v2\/app\/manifests\/latest"/);
  });

  for (const [index, secret] of secrets.entries()) {
    it(`log holds no secret ${index + 1}`, () => {
      assert.ok(!serve.log().includes(secret), `the log contains ${secret}`);
    });

    it(`answers hold no secret ${index + 1}`, () => {
      for (const answer of answers)
        assert.ok(!answer.includes(secret), `an answer contains ${secret}: ${answer.slice(0, 300)}`);
    });
  }
});
