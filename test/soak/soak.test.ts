/**
 * A bounded soak of `ocidrop serve` on loopback. Workers push different and identical content at
 * once while readers pull what was acknowledged. Afterwards every acknowledged digest and tag is
 * checked, and the server's memory and open file descriptors are compared with earlier levels.
 *
 * `OCIDROP_SOAK_SECONDS` sets the length of the load (20 s by default, the short mode CI runs);
 * `OCIDROP_SOAK_SECONDS=600` is the long mode. Linux only, because it reads `/proc/<pid>`.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { get } from 'node:http';
import { after, before, describe, it } from 'node:test';
import {
  type Acknowledged,
  acknowledged,
  runReader,
  runWorker,
  sha256,
  verifyAcknowledged,
} from '../faults/workload.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';

const SECONDS = Number(process.env['OCIDROP_SOAK_SECONDS'] ?? 20);
const PUSHERS = 6;
const PULLERS = 4;
/** Memory may grow by this much over its level after warm-up: caches fill, then stay. */
const MEMORY_SLACK_BYTES = 64 * 1024 * 1024;
/** Open descriptors may exceed the level before load by this many once connections are idle. */
const DESCRIPTOR_SLACK = 8;
/** Blob reads of the descriptor probe: a descriptor left open per read shows as this many. */
const PROBE_READS = 400;

async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
}

async function openDescriptors(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}

/** Reads `path` on a connection of its own, closed after the response, and returns the body's size. */
function readOnce(base: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = get(
      new URL(path, base),
      { agent: false, headers: { Connection: 'close' } },
      (response) => {
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.byteLength;
        });
        response.on('end', () => resolve(size));
        response.on('error', reject);
      },
    );
    request.on('error', reject);
  });
}

/**
 * Reads blobs `PROBE_READS` times, 8 at once, each on a connection that closes after it, and
 * returns how many more descriptors the server has open afterwards. It runs after the load, while the
 * server allocates little, so a leaked file handle is still open rather than closed by the garbage
 * collector (which the load's allocations trigger every few milliseconds).
 */
async function descriptorsAfterReads(pid: number, base: string, paths: string[]): Promise<number> {
  const before = await openDescriptors(pid);
  let next = 0;
  const readers = Array.from({ length: 8 }, async () => {
    while (next < PROBE_READS) {
      const path = paths[next++ % paths.length]!;
      assert.ok((await readOnce(base, path)) > 0, `read of ${path}`);
    }
  });
  await Promise.all(readers);
  // A short pause lets the server see each connection's FIN and close its socket.
  await new Promise((resolve) => setTimeout(resolve, 500));
  return (await openDescriptors(pid)) - before;
}

/** Pulls random acknowledged blobs and checks each one's digest until `until`. */
async function runPuller(base: string, record: Acknowledged, until: number): Promise<number> {
  let pulled = 0;
  while (Date.now() < until) {
    const blob = record.blobs[Math.floor(Math.random() * record.blobs.length)];
    if (blob === undefined) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      continue;
    }
    const response = await fetch(`${base}/v2/${blob.repository}/blobs/${blob.digest}`);
    assert.equal(response.status, 200, `pull of acknowledged blob ${blob.digest}`);
    assert.equal(sha256(Buffer.from(await response.arrayBuffer())), blob.digest);
    pulled++;
  }
  return pulled;
}

describe('soak', { skip: existsSync('/proc/self/status') ? false : 'needs /proc (Linux)' }, () => {
  let serve: ServeProcess;

  before(async () => {
    serve = await startServe();
  });

  after(async () => {
    await serve.close();
    await rm(serve.dataDir, { recursive: true, force: true });
  });

  it(`pushes and pulls for ${SECONDS} s without losses or leaks`, {
    timeout: (SECONDS + 120) * 1000,
  }, async () => {
    const pid = serve.child.pid!;
    const base = serve.url;
    const descriptorsBefore = await openDescriptors(pid);
    const record = acknowledged();
    const started = Date.now();
    const until = started + SECONDS * 1000;

    const samples: { at: number; bytes: number }[] = [];
    const sampler = setInterval(() => {
      residentBytes(pid).then(
        (bytes) => samples.push({ at: Date.now() - started, bytes }),
        () => undefined,
      );
    }, 250);

    const pushers = Array.from({ length: PUSHERS }, (_, id) =>
      runWorker({ base, id, until, maxBlobSize: 256 * 1024, shared: 'load/shared', record }),
    );
    const pullers = Array.from({ length: PULLERS }, () => runPuller(base, record, until));
    const reader = runReader(base, PUSHERS, until);
    const rounds = await Promise.all(pushers);
    const pulls = await Promise.all(pullers);
    const unexpected = await reader;
    clearInterval(sampler);

    assert.deepEqual(unexpected, [], 'readers saw content that was not complete');
    assert.ok(
      rounds.every((count) => count > 1),
      `rounds per pusher: ${rounds.join(', ')}`,
    );
    assert.ok(pulls.reduce((sum, count) => sum + count, 0) > 0);
    await verifyAcknowledged(base, record);

    // Memory: the peak of the last third may exceed the peak of the second third only by the slack.
    const duration = Date.now() - started;
    const peak = (from: number, to: number) =>
      Math.max(
        ...samples.filter((sample) => sample.at >= from && sample.at < to).map((sample) => sample.bytes),
      );
    const warm = peak(duration / 3, (2 * duration) / 3);
    const late = peak((2 * duration) / 3, duration + 1);
    assert.ok(late <= warm + MEMORY_SLACK_BYTES, `resident memory grew from ${warm} to ${late} bytes`);

    // Descriptors: once the server's keep-alive timeout (5 s) closed the idle connections.
    await new Promise((resolve) => setTimeout(resolve, 6_000));
    const descriptorsAfter = await openDescriptors(pid);
    assert.ok(
      descriptorsAfter <= descriptorsBefore + DESCRIPTOR_SLACK,
      `open descriptors went from ${descriptorsBefore} to ${descriptorsAfter}`,
    );
    // A descriptor left open per read can hide in the load above, because Node.js closes a file
    // handle that is garbage collected (with a warning). So blobs are read again while it is quiet.
    const paths = record.blobs
      .filter((blob) => blob.size > 0)
      .slice(0, 32)
      .map((blob) => `/v2/${blob.repository}/blobs/${blob.digest}`);
    const grown = await descriptorsAfterReads(pid, base, paths);
    assert.doesNotMatch(
      serve.log(),
      /file descriptor \d+ on garbage collection/,
      'a file handle was never closed',
    );
    assert.ok(
      grown <= DESCRIPTOR_SLACK,
      `${PROBE_READS} blob reads left ${grown} more descriptors open in the server`,
    );
    const uploads = await readdir(`${serve.dataDir}/uploads`);
    assert.deepEqual(uploads, [], 'completed uploads left sessions behind');
  });
});
