/**
 * `ocidrop serve --verify-blobs` and `verifyBlobs: true`: a download of a blob whose file changed
 * on disk breaks instead of completing. Without them, the download only gets its length checked.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { digestOf } from '../../src/oci/digest.js';
import { publishRelease } from '../gateway/publish.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';

const PROGRAM = Buffer.from('#!/bin/sh\necho stored\n'.repeat(8192));
const CORRUPT = Buffer.from(PROGRAM);
CORRUPT[100] = 0x21;

let scratch: string;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'ocidrop-verify-'));
});

after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

/** Starts `ocidrop serve` with `args`, publishes the program, then overwrites every stored copy of it. */
async function serveCorrupted(name: string, args: string[]): Promise<ServeProcess> {
  const serve = await startServe(join(scratch, name), args);
  await publishRelease(serve.url, 'app', '1.0.0', [{ files: [{ name: 'app', data: PROGRAM, main: true }] }]);
  const hex = digestOf(PROGRAM).slice('sha256:'.length);
  let copies = 0;
  for (const entry of await readdir(serve.dataDir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name === hex) {
      await writeFile(join(entry.parentPath, entry.name), CORRUPT);
      copies++;
    }
  }
  assert.ok(copies > 0, 'the store keeps the blob under its digest');
  return serve;
}

/** Downloads the program and expects the hash check to cut the transfer after a 200. */
async function expectCutDownload(serve: ServeProcess): Promise<void> {
  try {
    const response = await fetch(`${serve.url}/app/1.0.0/download`);
    assert.equal(response.status, 200);
    await assert.rejects(response.arrayBuffer(), 'the hash check cuts the transfer');
  } finally {
    await serve.close();
  }
}

describe('serve and blobs changed on disk', () => {
  it('breaks the download with --verify-blobs', async () => {
    await expectCutDownload(await serveCorrupted('flag', ['--verify-blobs']));
  });

  it('breaks the download with verifyBlobs in the configuration', async () => {
    const config = join(scratch, 'verify.yaml');
    await writeFile(config, 'verifyBlobs: true\n');
    await expectCutDownload(await serveCorrupted('config', ['--config', config]));
  });

  it('checks only the length by default', async () => {
    const serve = await serveCorrupted('default', []);
    try {
      const response = await fetch(`${serve.url}/app/1.0.0/download`);
      assert.equal(response.status, 200);
      const body = Buffer.from(await response.arrayBuffer());
      assert.equal(body.byteLength, PROGRAM.byteLength);
      assert.ok(body.equals(CORRUPT), 'the file on disk is sent as it is');
    } finally {
      await serve.close();
    }
  });
});
