/**
 * The handler's error path: every failure becomes the spec's JSON error body, a 5xx is logged
 * once with its error object, and paths outside `/v2` are left to the caller.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { pushImage, request } from './client.js';

const lines: Record<string, unknown>[] = [];
let registry: EmbeddedRegistry;

before(async () => {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n'))
        if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  registry = await startEmbeddedRegistry(undefined, { logger: pino({ level: 'info' }, sink) });
});

after(async () => {
  await registry.close();
});

describe('registry handler errors', () => {
  it('storage failure answers 500 and logs once', async () => {
    await pushImage(registry.url, 'broken/repo', 'v1', 'layer');
    await writeFile(join(registry.store.repositoryFolder('broken/repo'), 'index.json'), '{ not json');
    lines.length = 0;

    const response = await request(registry.url, '/v2/broken/repo/tags/list', {
      headers: { Authorization: 'Bearer secret-token' },
    });
    assert.equal(response.status, 500);
    const body = (await response.json()) as { errors: { code: string; message: string }[] };
    assert.equal(body.errors[0]?.code, 'UNKNOWN');
    assert.equal(body.errors[0]?.message, 'internal server error');

    assert.equal(lines.length, 1);
    const entry = lines[0] ?? {};
    assert.equal(entry['level'], 50);
    assert.equal(entry['path'], '/v2/broken/repo/tags/list');
    assert.ok((entry['err'] as { type?: string } | undefined)?.type, 'the log line carries the error object');
    assert.ok(!JSON.stringify(entry).includes('secret-token'), 'the Authorization header is not logged');
  });

  it('client error is not logged by the handler', async () => {
    lines.length = 0;
    const response = await request(registry.url, '/v2/missing/repo/tags/list');
    assert.equal(response.status, 404);
    assert.equal(lines.length, 0);
  });

  it('HEAD error has headers and no body', async () => {
    const response = await request(registry.url, '/v2/missing/repo/manifests/v1', { method: 'HEAD' });
    assert.equal(response.status, 404);
    assert.equal(response.headers.get('content-type'), 'application/json; charset=utf-8');
    assert.equal(await response.text(), '');
  });

  it('path outside /v2 is not the registry', async () => {
    const response = await request(registry.url, '/hello');
    assert.equal(response.status, 404);
    assert.equal(response.headers.get('docker-distribution-api-version'), null);
  });

  it('unknown path under /v2 answers 404 JSON', async () => {
    const response = await request(registry.url, '/v2/some/repo/unknown-endpoint');
    assert.equal(response.status, 404);
    const body = (await response.json()) as { errors: { code: string }[] };
    assert.equal(body.errors[0]?.code, 'NAME_UNKNOWN');
  });
});
