/**
 * `sendFile` over the embedded store: blobs the store verified get only their length checked,
 * unless the caller passes `verifyStoredBlobs: true`, which hashes them while they stream.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { sendFile } from '../../src/gateway/download.js';
import type { Digest } from '../../src/oci/digest.js';
import { FsStore } from '../../src/storage/fs-store.js';

const CONTENT = Buffer.from('stored blob content\n'.repeat(10_000));
const DIGEST = `sha256:${createHash('sha256').update(CONTENT).digest('hex')}` as Digest;

let dir: string;
let store: FsStore;
let server: Server;
let baseUrl: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-stored-'));
  store = await FsStore.open(dir);
  await store.putBlob('app/files', Readable.from([CONTENT]), { digest: DIGEST });
  server = createServer((req, res) => {
    const verify = new URL(req.url!, 'http://gateway').searchParams.get('verify');
    const file = { name: 'app', digest: DIGEST, size: CONTENT.byteLength };
    sendFile(req, res, store, 'app/files', file, {
      cacheControl: 'no-store',
      ...(verify === null ? {} : { verifyStoredBlobs: verify === 'yes' }),
    }).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('sendFile over the embedded store', () => {
  it('serves an intact blob either way', async () => {
    for (const query of ['', '?verify=yes', '?verify=no']) {
      const response = await fetch(`${baseUrl}/${query}`);
      assert.equal(response.status, 200);
      assert.ok(Buffer.from(await response.arrayBuffer()).equals(CONTENT), `query ${query || '(none)'}`);
    }
  });

  it('breaks or passes a changed blob by option', async () => {
    const hex = DIGEST.slice('sha256:'.length);
    const corrupt = Buffer.from(CONTENT);
    corrupt[10] = 0x21;
    for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (entry.isFile() && entry.name === hex) await writeFile(join(entry.parentPath, entry.name), corrupt);
    }

    const verified = await fetch(`${baseUrl}/?verify=yes`);
    assert.equal(verified.status, 200);
    await assert.rejects(verified.arrayBuffer(), 'the hash check breaks the transfer');

    for (const query of ['', '?verify=no']) {
      const trusted = await fetch(`${baseUrl}/${query}`);
      assert.equal(trusted.status, 200);
      const body = Buffer.from(await trusted.arrayBuffer());
      assert.ok(body.equals(corrupt), `only the length is checked with ${query || 'the default'}`);
    }
  });
});
