/**
 * `kill -9` of `ocidrop serve` while workers push blobs, write manifests and move tags, and of
 * `ocidrop gc` while it deletes: after a restart everything acknowledged is served intact, no file
 * under a final name is half-written, and an interrupted upload session resumes.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { CLI } from '../helpers/paths.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';
import {
  acknowledged,
  manifestBytes,
  putManifest,
  runReader,
  runWorker,
  sha256,
  uploadBlob,
  verifyAcknowledged,
} from './workload.js';

const WORKERS = 6;
const STORE_MODULE = pathToFileURL(join(dirname(CLI), '..', 'storage', 'fs-store.js')).href;
const GC_MODULE = pathToFileURL(join(dirname(CLI), '..', 'storage', 'gc.js')).href;

async function killHard(serve: ServeProcess): Promise<void> {
  if (serve.child.exitCode !== null || serve.child.signalCode !== null) return;
  const exited = new Promise((resolve) => serve.child.once('exit', resolve));
  serve.child.kill('SIGKILL');
  await exited;
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}

/** Checks that every blob under its final name hashes to that name and every index.json parses. */
async function checkDataFolder(dataDir: string): Promise<void> {
  const blobs = join(dataDir, 'blobs', 'sha256');
  for (const name of await readdir(blobs)) {
    if (name.startsWith('.')) continue;
    assert.equal(await hashFile(join(blobs, name)), `sha256:${name}`, `blob file ${name} is half-written`);
  }
  const entries = (await readdir(join(dataDir, 'repositories'), { recursive: true })).map(String);
  for (const entry of entries.filter((path) => path.endsWith('/_oci/index.json'))) {
    const index = JSON.parse(await readFile(join(dataDir, 'repositories', entry), 'utf8')) as {
      manifests: unknown[];
    };
    assert.ok(Array.isArray(index.manifests), `${entry} is not an image index`);
  }
}

async function setOld(folder: string, ageMs: number): Promise<void> {
  const when = new Date(Date.now() - ageMs);
  for (const entry of await readdir(folder, { recursive: true }))
    await utimes(join(folder, String(entry)), when, when);
}

describe('kill -9 of the server', () => {
  let dataDir: string;
  let serve: ServeProcess | undefined;
  const record = acknowledged();

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ocidrop-crash-'));
  });

  after(async () => {
    if (serve) await serve.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  for (const delayMs of [250, 700, 1500]) {
    it(`acknowledged content survives a kill after ${delayMs} ms`, async () => {
      serve = await startServe(dataDir);
      const base = serve.url;
      const until = Date.now() + 20_000;
      const workers = Array.from({ length: WORKERS }, (_, id) =>
        runWorker({ base, id, until, maxBlobSize: 512 * 1024, shared: 'load/shared', record }),
      );
      const readers = Array.from({ length: 2 }, () => runReader(base, WORKERS, until));
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      await killHard(serve);
      const rounds = await Promise.all(workers);
      const unexpected = (await Promise.all(readers)).flat();
      assert.deepEqual(unexpected, [], 'readers saw content that was not complete');
      assert.ok(
        rounds.some((count) => count > 0),
        'no worker completed a round before the kill',
      );

      serve = await startServe(dataDir);
      await verifyAcknowledged(serve.url, record);
      await checkDataFolder(dataDir);
      await serve.close();
      serve = undefined;
    });
  }

  it('interrupted upload session resumes after restart', async () => {
    serve = await startServe(dataDir);
    const data = Buffer.alloc(300_000, 7);
    const started = await fetch(`${serve.url}/v2/resume/app/blobs/uploads/`, { method: 'POST' });
    await started.arrayBuffer();
    const first = await fetch(new URL(started.headers.get('location')!, serve.url), {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-99999' },
      body: data.subarray(0, 100_000),
    });
    await first.arrayBuffer();
    assert.equal(first.status, 202);
    const location = first.headers.get('location')!;
    await killHard(serve);

    serve = await startServe(dataDir);
    const status = await fetch(new URL(location, serve.url));
    await status.arrayBuffer();
    assert.equal(status.status, 204);
    assert.equal(status.headers.get('range'), '0-99999');
    const rest = await fetch(new URL(location, serve.url), {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '100000-299999' },
      body: data.subarray(100_000),
    });
    await rest.arrayBuffer();
    assert.equal(rest.status, 202);
    const closing = new URL(rest.headers.get('location')!, serve.url);
    closing.searchParams.set('digest', sha256(data));
    const closed = await fetch(closing, { method: 'PUT' });
    await closed.arrayBuffer();
    assert.equal(closed.status, 201);
    const blob = await fetch(`${serve.url}/v2/resume/app/blobs/${sha256(data)}`);
    assert.deepEqual(Buffer.from(await blob.arrayBuffer()), data);
    await serve.close();
    serve = undefined;
  });
});

describe('kill -9 of garbage collection', () => {
  let dataDir: string;
  let serve: ServeProcess | undefined;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ocidrop-gc-crash-'));
  });

  after(async () => {
    if (serve) await serve.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  function runGc(
    killAfterMs?: number,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
    // The collector runs in its own process, as `ocidrop gc` does, so it can be killed alone.
    const script = [
      `import { FsStore } from ${JSON.stringify(STORE_MODULE)};`,
      `import { gc } from ${JSON.stringify(GC_MODULE)};`,
      `await gc(await FsStore.open(${JSON.stringify(dataDir)}), { gracePeriodMs: 600000 });`,
    ].join('\n');
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    if (killAfterMs !== undefined) setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, stderr })));
  }

  it('tags survive a collection killed mid-run', async () => {
    serve = await startServe(dataDir);
    const base = serve.url;
    const kept = acknowledged();
    await uploadBlob(base, 'kept/app', Buffer.from('{}'), 0);

    // Garbage: blobs no manifest references, and manifests whose tags were deleted.
    for (let i = 0; i < 150; i++) {
      const data = Buffer.from(`garbage ${i}\n`.repeat(200));
      assert.ok(await uploadBlob(base, 'garbage/app', data, 0));
      if (i % 3 === 0) {
        const layer = { digest: sha256(data), size: data.length };
        assert.ok(await uploadBlob(base, 'garbage/app', Buffer.from('{}'), 0));
        assert.ok(await putManifest(base, 'garbage/app', `g${i}`, manifestBytes([layer], `garbage ${i}`)));
        const deleted = await fetch(`${base}/v2/garbage/app/manifests/g${i}`, { method: 'DELETE' });
        assert.equal(deleted.status, 202);
      }
    }
    for (let i = 0; i < 20; i++) {
      const data = Buffer.from(`kept ${i}\n`.repeat(300));
      assert.ok(await uploadBlob(base, 'kept/app', data, 0));
      const manifest = manifestBytes([{ digest: sha256(data), size: data.length }], `kept ${i}`);
      assert.ok(await putManifest(base, 'kept/app', `k${i}`, manifest));
      kept.tags.set(`kept/app:k${i}`, sha256(manifest));
    }
    await setOld(dataDir, 3_600_000);

    // New pushes run while collection starts, is killed, and starts again.
    const until = Date.now() + 2_500;
    const workers = Array.from({ length: 3 }, (_, id) =>
      runWorker({ base, id, until, maxBlobSize: 64 * 1024, shared: 'load/shared', record: kept }),
    );
    for (const delay of [30, 80, 150]) {
      const killed = await runGc(delay);
      assert.ok(
        killed.signal === 'SIGKILL' || killed.code === 0,
        `gc ended with ${killed.code}: ${killed.stderr}`,
      );
    }
    await Promise.all(workers);
    const finished = await runGc();
    assert.equal(finished.code, 0, finished.stderr);

    // Blobs that no tag reaches may be collected, so only tagged content is checked.
    await verifyAcknowledged(base, { blobs: [], tags: kept.tags, inFlight: kept.inFlight });
    await checkDataFolder(dataDir);
    const garbage = await fetch(
      `${base}/v2/garbage/app/blobs/${sha256(Buffer.from('garbage 1\n'.repeat(200)))}`,
      { method: 'HEAD' },
    );
    assert.equal(garbage.status, 404, 'the finished collection left garbage behind');
  });
});
