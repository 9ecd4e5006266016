import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { EMPTY_CONFIG_DESCRIPTOR } from '../../src/client/artifact.js';
import { partialPath } from '../../src/client/download.js';
import { pull } from '../../src/client/pull.js';
import { digestOf } from '../../src/oci/digest.js';
import { DigestMismatchError } from '../../src/oci/errors.js';
import { encodeManifest, type ImageManifest } from '../../src/oci/manifest.js';

const DATA = randomBytes(256 * 1024);
const DESCRIPTOR = {
  mediaType: 'application/octet-stream',
  digest: digestOf(DATA),
  size: DATA.byteLength,
  annotations: { 'org.opencontainers.image.title': 'data.bin', 'io.ocidrop.file.mode': '0644' },
};
const MANIFEST: ImageManifest = {
  schemaVersion: 2,
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  artifactType: 'application/vnd.ocidrop.release.v1',
  config: EMPTY_CONFIG_DESCRIPTOR,
  layers: [DESCRIPTOR],
};

type Mode = 'cut' | 'range' | 'ignore-range' | 'wrong';

describe('pull resume', () => {
  let server: Server;
  let host: string;
  let mode: Mode = 'range';
  const ranges: (string | undefined)[] = [];
  let folder: string;

  before(async () => {
    server = createServer((request, response) => {
      if (request.url === '/v2/files/manifests/v1') {
        const body = encodeManifest(MANIFEST);
        response.writeHead(200, { 'content-type': MANIFEST.mediaType!, 'content-length': body.byteLength });
        response.end(body);
        return;
      }
      if (request.url !== `/v2/files/blobs/${DESCRIPTOR.digest}`) {
        response.writeHead(500);
        response.end();
        return;
      }
      ranges.push(request.headers.range);
      const match = /^bytes=(\d+)-(\d+)$/.exec(request.headers.range ?? '');
      if (mode === 'cut') {
        response.writeHead(200, { 'content-length': DATA.byteLength });
        // The pause lets the client store the first half before the connection drops.
        response.write(DATA.subarray(0, DATA.byteLength / 2));
        setTimeout(() => response.socket?.destroy(), 200);
      } else if (mode === 'wrong') {
        response.writeHead(200, { 'content-length': DATA.byteLength });
        response.end(Buffer.alloc(DATA.byteLength));
      } else if (mode === 'range' && match !== null) {
        const start = Number(match[1]);
        const end = Number(match[2]);
        response.writeHead(206, {
          'content-length': end - start + 1,
          'content-range': `bytes ${start}-${end}/${DATA.byteLength}`,
        });
        response.end(DATA.subarray(start, end + 1));
      } else {
        response.writeHead(200, { 'content-length': DATA.byteLength });
        response.end(DATA);
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    server.close();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  beforeEach(async () => {
    if (folder) await rm(folder, { recursive: true, force: true });
    folder = await mkdtemp(join(tmpdir(), 'ocidrop-resume-'));
    ranges.length = 0;
  });

  const partial = () => partialPath(folder, DESCRIPTOR, 'data.bin');

  it('keeps the partial file after a cut and resumes', async () => {
    mode = 'cut';
    await assert.rejects(pull(`${host}/files:v1`, folder), (error: unknown) => {
      assert.equal((error as Error).name, 'RegistryConnectionError');
      assert.match((error as Error).message, /running the pull again resumes/);
      return true;
    });
    const kept = (await readFile(partial())).byteLength;
    assert.ok(kept > 0, 'some bytes were kept');
    assert.ok(kept < DATA.byteLength, `kept ${kept} bytes, fewer than the whole blob`);
    assert.deepEqual(await readdir(folder), [partial().split('/').pop()]);

    mode = 'range';
    await pull(`${host}/files:v1`, folder);
    assert.equal(ranges.at(-1), `bytes=${kept}-${DATA.byteLength - 1}`);
    assert.deepEqual(await readFile(join(folder, 'data.bin')), DATA);
    assert.deepEqual(await readdir(folder), ['data.bin']);
  });

  it('starts over when kept bytes are corrupt', async () => {
    mode = 'range';
    await writeFile(partial(), Buffer.alloc(1000, 7));
    await pull(`${host}/files:v1`, folder);
    assert.deepEqual(ranges, [`bytes=1000-${DATA.byteLength - 1}`, undefined]);
    assert.deepEqual(await readFile(join(folder, 'data.bin')), DATA);
  });

  it('starts over when the registry ignores Range', async () => {
    mode = 'ignore-range';
    await writeFile(partial(), DATA.subarray(0, 5000));
    await pull(`${host}/files:v1`, folder);
    assert.deepEqual(await readFile(join(folder, 'data.bin')), DATA);
    assert.deepEqual(await readdir(folder), ['data.bin']);
  });

  it('finishes from a complete partial file', async () => {
    mode = 'range';
    await writeFile(partial(), DATA);
    await pull(`${host}/files:v1`, folder);
    assert.deepEqual(ranges, [], 'no blob request');
    assert.deepEqual(await readFile(join(folder, 'data.bin')), DATA);
  });

  it('reports a folder in the way', async () => {
    mode = 'range';
    await mkdir(join(folder, 'data.bin', 'inside'), { recursive: true });
    ranges.length = 0;
    await assert.rejects(pull(`${host}/files:v1`, folder), /data\.bin already exists: .*--overwrite/);
    assert.deepEqual(ranges, [], 'nothing downloaded');

    await pull(`${host}/files:v1`, folder, { overwrite: true });
    assert.deepEqual(await readFile(join(folder, 'data.bin')), DATA, 'the folder was replaced');
  });

  it('deletes content with a wrong digest', async () => {
    mode = 'wrong';
    await assert.rejects(pull(`${host}/files:v1`, folder), DigestMismatchError);
    assert.deepEqual(await readdir(folder), []);
  });
});
