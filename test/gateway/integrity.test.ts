import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { digestOf } from '../../src/oci/digest.js';
import { publishRelease } from './publish.js';
import { type GatewayFixture, startGateway } from './server.js';

const PROGRAM = Buffer.from('#!/bin/sh\necho original\n'.repeat(4096));

let dir: string;
let gateway: GatewayFixture;
const logged: Record<string, unknown>[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-integrity-'));
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logged.push(JSON.parse(chunk.toString('utf8')) as Record<string, unknown>);
      callback();
    },
  });
  gateway = await startGateway(
    { logger: pino({ level: 'info' }, destination), verifyStoredBlobs: true },
    dir,
  );
  await publishRelease(gateway.registry.url, 'app', '1.0.0', [
    { files: [{ name: 'app', data: PROGRAM, main: true }] },
  ]);
});

after(async () => {
  await gateway?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Finds every stored copy of a blob under the store folder, whatever the layout names it. */
async function blobFiles(root: string, hex: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name === hex) found.push(join(entry.parentPath, entry.name));
  }
  return found;
}

describe('blob integrity', () => {
  it('with verifyStoredBlobs, breaks a download whose blob changed on disk', async () => {
    const hex = digestOf(PROGRAM).slice('sha256:'.length);
    const copies = await blobFiles(dir, hex);
    assert.ok(copies.length > 0, 'the store keeps the blob under its digest');
    const corrupt = Buffer.from(PROGRAM);
    corrupt[corrupt.length - 2] = 0x21;
    for (const path of copies) {
      assert.equal((await stat(path)).size, PROGRAM.length);
      await writeFile(path, corrupt);
    }

    const response = await fetch(`${gateway.url}/app/1.0.0/download`);
    assert.equal(response.status, 200);
    await assert.rejects(response.arrayBuffer());

    const entry = logged.find((line) => line['msg'] === 'gateway request failed');
    assert.ok(entry, 'the failure is logged');
    assert.equal(entry['level'], 50);
    assert.equal((entry['err'] as { type: string }).type, 'DigestMismatchError');
  });

  it('logs nothing for a 404', async () => {
    const before = logged.length;
    const response = await fetch(`${gateway.url}/app/9.9.9/download`);
    assert.equal(response.status, 404);
    await response.arrayBuffer();
    assert.equal(logged.length, before);
  });
});
