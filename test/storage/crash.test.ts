/**
 * Crash safety and concurrency of the store behind the registry. A registry process is killed
 * with SIGKILL while pushes are in flight. After a restart on the same folder, everything the
 * registry acknowledged is served intact. Many parallel pushes to one repository, one tag and one
 * blob lose nothing.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startEmbeddedRegistry } from '../helpers/embedded-registry.js';

const HANDLER = new URL('../../src/registry/handler.js', import.meta.url).href;
const STORE = new URL('../../src/storage/fs-store.js', import.meta.url).href;

// The child process: the registry over DIR on 127.0.0.1, printing its port once it listens.
const CHILD = `
import { createServer } from 'node:http';
const { createRegistryHandler } = await import(${JSON.stringify(HANDLER)});
const { FsStore } = await import(${JSON.stringify(STORE)});
const store = await FsStore.open(process.env.STORE_DIR);
const handler = createRegistryHandler(store);
const server = createServer((req, res) => void handler(req, res));
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));
`;

const folders: string[] = [];

after(async () => {
  for (const folder of folders) await rm(folder, { recursive: true, force: true });
});

function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

async function startChild(dir: string): Promise<{ child: ChildProcess; base: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    env: { ...process.env, STORE_DIR: dir },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<string>((resolve, reject) => {
    let text = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(text.trim());
    });
    child.once('exit', (code) => reject(new Error(`registry process exited with ${code} before listening`)));
  });
  return { child, base: `http://127.0.0.1:${port}` };
}

async function killHard(child: ChildProcess): Promise<void> {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGKILL');
  await exited;
}

/** Pushes one blob in three chunks and a manifest tagged `tag`; records each acknowledged step. */
async function pushOne(
  base: string,
  name: string,
  tag: string,
  acknowledged: { blobs: Map<string, Buffer>; tags: Map<string, string> },
): Promise<void> {
  const data = randomBytes(256 * 1024);
  const digest = sha256(data);
  const started = await fetch(`${base}/v2/${name}/blobs/uploads/`, { method: 'POST' });
  let location = started.headers.get('location') ?? '';
  const third = Math.floor(data.length / 3);
  for (const [start, end] of [
    [0, third],
    [third, 2 * third],
  ] as const) {
    const response = await fetch(new URL(location, base), {
      method: 'PATCH',
      headers: { 'Content-Range': `${start}-${end - 1}` },
      body: data.subarray(start, end),
    });
    if (response.status !== 202) return;
    location = response.headers.get('location') ?? location;
  }
  const done = await fetch(new URL(`${location}?digest=${digest}`, base), {
    method: 'PUT',
    headers: { 'Content-Range': `${2 * third}-${data.length - 1}` },
    body: data.subarray(2 * third),
  });
  if (done.status !== 201) return;
  acknowledged.blobs.set(digest, data);

  const config = Buffer.from('{}');
  await fetch(`${base}/v2/${name}/blobs/uploads/?digest=${sha256(config)}`, { method: 'POST', body: config });
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(config), size: 2 },
    layers: [{ mediaType: 'application/octet-stream', digest, size: data.length }],
  });
  const put = await fetch(`${base}/v2/${name}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
  });
  if (put.status === 201) acknowledged.tags.set(tag, sha256(manifest));
}

describe('crash safety', () => {
  it('SIGKILL during pushes keeps every acknowledged blob and tag', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocidrop-crash-'));
    folders.push(dir);
    const acknowledged = { blobs: new Map<string, Buffer>(), tags: new Map<string, string>() };

    for (let round = 0; round < 3; round++) {
      const { child, base } = await startChild(dir);
      const pushes = Array.from({ length: 12 }, (_, i) =>
        pushOne(base, 'crash/repo', `r${round}-${i}`, acknowledged).catch(() => {}),
      );
      // Kill the process part-way through the pushes, at a different point in each round: once a
      // few more blobs are acknowledged, while the other pushes are still in flight.
      const target = acknowledged.blobs.size + 1 + 2 * round;
      const deadline = Date.now() + 20_000;
      while (acknowledged.blobs.size < target && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 2));
      await killHard(child);
      await Promise.all(pushes);
    }

    const { child, base } = await startChild(dir);
    try {
      assert.ok(acknowledged.blobs.size > 0, 'some pushes were acknowledged before the kill');
      for (const [digest, data] of acknowledged.blobs) {
        const response = await fetch(`${base}/v2/crash/repo/blobs/${digest}`);
        assert.equal(response.status, 200, digest);
        const body = Buffer.from(await response.arrayBuffer());
        assert.equal(sha256(body), digest);
        assert.equal(body.length, data.length);
      }
      for (const [tag, digest] of acknowledged.tags) {
        const response = await fetch(`${base}/v2/crash/repo/manifests/${tag}`, { method: 'HEAD' });
        assert.equal(response.status, 200, tag);
        assert.equal(response.headers.get('docker-content-digest'), digest, tag);
      }
      const index = JSON.parse(
        await readFile(join(dir, 'repositories', 'crash', 'repo', '_oci', 'index.json'), 'utf8'),
      ) as { manifests: unknown[] };
      assert.ok(Array.isArray(index.manifests), 'index.json is whole JSON after the kills');

      const after = { blobs: new Map<string, Buffer>(), tags: new Map<string, string>() };
      await pushOne(base, 'crash/repo', 'after-restart', after);
      assert.equal(after.tags.size, 1, 'the restarted registry accepts pushes');
    } finally {
      await killHard(child);
    }
  });
});

describe('concurrency', () => {
  it('parallel pushes to one repository, tag and blob lose nothing', async () => {
    const registry = await startEmbeddedRegistry();
    try {
      const base = registry.url;
      const acknowledged = { blobs: new Map<string, Buffer>(), tags: new Map<string, string>() };
      const distinct = Array.from({ length: 16 }, (_, i) =>
        pushOne(base, 'busy/repo', `t${i}`, acknowledged),
      );
      const sameTag = Array.from({ length: 8 }, () =>
        pushOne(base, 'busy/repo', 'latest', { blobs: new Map(), tags: new Map() }),
      );
      const shared = Buffer.from('the same blob from every client');
      const sameBlob = Array.from({ length: 8 }, async () => {
        const response = await fetch(`${base}/v2/busy/repo/blobs/uploads/?digest=${sha256(shared)}`, {
          method: 'POST',
          body: shared,
        });
        assert.equal(response.status, 201);
      });
      await Promise.all([...distinct, ...sameTag, ...sameBlob]);

      assert.equal(acknowledged.tags.size, 16);
      const list = (await (await fetch(`${base}/v2/busy/repo/tags/list`)).json()) as { tags: string[] };
      assert.deepEqual(list.tags, [...[...acknowledged.tags.keys()], 'latest'].sort());
      for (const [tag, digest] of acknowledged.tags) {
        const response = await fetch(`${base}/v2/busy/repo/manifests/${tag}`, { method: 'HEAD' });
        assert.equal(response.headers.get('docker-content-digest'), digest, tag);
      }
      for (const [digest] of acknowledged.blobs) {
        const response = await fetch(`${base}/v2/busy/repo/blobs/${digest}`);
        assert.equal(sha256(Buffer.from(await response.arrayBuffer())), digest);
      }
      const latest = await fetch(`${base}/v2/busy/repo/manifests/latest`);
      assert.equal(latest.status, 200);
      const blob = await fetch(`${base}/v2/busy/repo/blobs/${sha256(shared)}`);
      assert.equal(await blob.text(), shared.toString());
    } finally {
      await registry.close();
    }
  });
});
