/**
 * Uploads that start while the file is still being hashed. The cases cover one `PATCH` per large
 * blob, the cancellation when the registry turns out to have the blob, and the fallbacks after a
 * rejected or too large `PATCH`. Each runs against the embedded registry and CNCF Distribution,
 * seen through a recording proxy. Input checks must end a push before its first request.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { InvalidInputError } from '../../src/client/errors.js';
import { completeInspection, describeInput, parsePushInput } from '../../src/client/plan.js';
import { type TransferProgress, UploadProgress } from '../../src/client/progress.js';
import { push } from '../../src/client/push.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { type Digest, digestOf } from '../../src/oci/digest.js';
import { startDistribution } from '../helpers/distribution.js';
import { startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { standInExecutable } from '../helpers/fixtures.js';
import {
  type ProxyAction,
  type RecordedRequest,
  type RecordingProxy,
  requestsTo,
  startRecordingProxy,
} from '../helpers/recording-proxy.js';
import { skipUnless } from '../helpers/tools.js';

/** Above the 4 MiB up to which a blob goes in a single POST. */
const LARGE_SIZE = 6 * 1024 * 1024;

const noCredentials = async () => undefined;

/** A registry under test: its host, and the number of upload sessions it still stores, when it can tell. */
interface RegistryUnderTest {
  host: string;
  openSessions?: () => Promise<number>;
  close(): Promise<void>;
}

defineCases('embedded registry', async () => {
  const root = await mkdtemp(join(tmpdir(), 'ocidrop-hashing-registry-'));
  const registry = await startEmbeddedRegistry(root);
  return {
    host: registry.host,
    // The store keeps each session in DATA/uploads/<id>.
    openSessions: async () => (await readdir(join(root, 'uploads'))).length,
    async close() {
      await registry.close();
      await rm(root, { recursive: true, force: true });
    },
  };
});

defineCases('CNCF Distribution', async () => startDistribution(), skipUnless('docker-registry'));

function defineCases(
  name: string,
  start: () => Promise<RegistryUnderTest>,
  skip: false | string = false,
): void {
  describe(`upload while hashing against ${name}`, { skip }, () => {
    let registry: RegistryUnderTest;
    let proxy: RecordingProxy | undefined;
    let work: string;
    let large: string;
    let content: Buffer;
    let digest: Digest;

    before(async () => {
      registry = await start();
      work = await mkdtemp(join(tmpdir(), 'ocidrop-hashing-'));
      content = randomBytes(LARGE_SIZE);
      digest = digestOf(content);
      large = join(work, 'large.bin');
      await writeFile(large, content);
    });

    after(async () => {
      await registry?.close();
      await rm(work, { recursive: true, force: true });
    });

    afterEach(async () => {
      await proxy?.close();
      proxy = undefined;
    });

    async function through(decide?: (request: RecordedRequest) => ProxyAction): Promise<RecordingProxy> {
      proxy = await startRecordingProxy(registry.host, decide);
      return proxy;
    }

    async function storedBlob(repository: string, blob: Digest): Promise<Buffer> {
      const client = new RegistryClient(registry.host, { credentials: noCredentials });
      try {
        const { stream } = await client.getBlob(repository, blob);
        const chunks: Buffer[] = [];
        for await (const chunk of stream) chunks.push(chunk as Buffer);
        return Buffer.concat(chunks);
      } finally {
        await client.close();
      }
    }

    it('sends a large file in one PATCH', async () => {
      const recorder = await through();
      const result = await push(`${recorder.host}/hashing/one:1`, [{ path: large }], {
        credentials: noCredentials,
      });

      assert.equal(result.files[0]?.digest, digest);
      assert.equal(result.files[0]?.uploaded, true);
      const opened = requestsTo(recorder, 'POST', '/v2/hashing/one/blobs/uploads/').filter(
        (request) => !request.query.has('digest'),
      );
      assert.equal(opened.length, 1, 'one session is opened for the large blob');
      const patches = requestsTo(recorder, 'PATCH');
      assert.equal(patches.length, 1);
      assert.equal(patches[0]?.headers['content-range'], `0-${LARGE_SIZE - 1}`);
      assert.equal(patches[0]?.headers['content-length'], String(LARGE_SIZE));
      assert.equal(patches[0]?.outcome, 202);
      // Distribution 2.8 has no single POST, so the config blob goes through a session as well.
      const closing = requestsTo(recorder, 'PUT', '/blobs/uploads/').filter(
        (request) => request.query.get('digest') === digest,
      );
      assert.equal(closing.length, 1);
      assert.equal(closing[0]?.headers['content-length'], '0');
      assert.equal(closing[0]?.outcome, 201);
      assert.deepEqual(await storedBlob('hashing/one', digest), content);
      if (registry.openSessions) assert.equal(await registry.openSessions(), 0);
    });

    it('cancels the upload of a blob the registry has', async () => {
      const first = await through();
      await push(`${first.host}/hashing/again:1`, [{ path: large }], { credentials: noCredentials });
      await first.close();

      // The HEAD waits for the PATCH to reach the proxy, and the slow PATCH is still running when
      // the HEAD finds the blob.
      let patchArrived = () => {};
      const arrived = new Promise<void>((resolve) => {
        patchArrived = resolve;
      });
      const recorder = await through((request) => {
        if (request.method === 'PATCH') {
          patchArrived();
          return { delayPerChunkMs: 20 };
        }
        return request.method === 'HEAD' && request.path.endsWith(digest) ? { after: arrived } : 'forward';
      });
      const events: TransferProgress[] = [];
      const result = await push(`${recorder.host}/hashing/again:2`, [{ path: large }], {
        credentials: noCredentials,
        onProgress: (progress) => events.push(progress),
      });

      assert.equal(result.files[0]?.uploaded, false);
      const heads = requestsTo(recorder, 'HEAD', digest);
      assert.equal(heads[0]?.outcome, 200);
      const patches = requestsTo(recorder, 'PATCH');
      assert.equal(patches.length, 1);
      assert.equal(patches[0]?.outcome, 'aborted');
      const deletes = requestsTo(recorder, 'DELETE', '/blobs/uploads/');
      assert.deepEqual(
        deletes.map((request) => request.path),
        [patches[0]?.path],
        'the session of the aborted PATCH is deleted',
      );
      assert.equal(requestsTo(recorder, 'PUT', '/blobs/uploads/').length, 0, 'the session is never closed');
      assert.equal(events.at(-1)?.state, 'skipped');
      assert.ok(events.every((event) => event.digest === digest));
      assert.ok(events.every((event) => event.transferred <= LARGE_SIZE));
      // Distribution 2.8 rejects that DELETE (404 BLOB_UPLOAD_INVALID) once the offset signed into
      // the session's `_state` no longer matches its data. It keeps the session until its upload
      // purging removes it, so only the embedded registry is checked for leftover sessions.
      if (registry.openSessions) assert.equal(await registry.openSessions(), 0);
    });

    it('sends no bytes of a blob the registry has with hashFirst', async () => {
      const first = await through();
      await push(`${first.host}/hashing/first:1`, [{ path: large }], { credentials: noCredentials });
      await first.close();

      const recorder = await through();
      const events: TransferProgress[] = [];
      const result = await push(`${recorder.host}/hashing/first:2`, [{ path: large }], {
        credentials: noCredentials,
        hashFirst: true,
        onProgress: (progress) => events.push(progress),
      });

      assert.equal(result.files[0]?.uploaded, false);
      assert.equal(requestsTo(recorder, 'HEAD', digest)[0]?.outcome, 200);
      assert.deepEqual(requestsTo(recorder, 'PATCH'), [], 'no PATCH is sent');
      const bodies = requestsTo(recorder, 'PUT', '/blobs/uploads/').filter(
        (request) => request.query.get('digest') === digest,
      );
      assert.deepEqual(bodies, [], 'no PUT carries the blob');
      const posts = requestsTo(recorder, 'POST', '/blobs/uploads/').filter(
        (request) => Number(request.headers['content-length'] ?? 0) > 0,
      );
      assert.ok(
        posts.every((request) => request.query.get('digest') !== digest),
        'no POST carries the blob',
      );
      assert.deepEqual(
        events.map((event) => event.state),
        ['started', 'skipped'],
      );
    });

    it('falls back when the registry rejects the PATCH', async () => {
      const second = join(work, 'second.bin');
      const secondContent = randomBytes(LARGE_SIZE);
      await writeFile(second, secondContent);
      const recorder = await through((request) => (request.method === 'PATCH' ? { status: 405 } : 'forward'));

      const result = await push(`${recorder.host}/hashing/refused:1`, [{ path: large }, { path: second }], {
        credentials: noCredentials,
        concurrency: 1,
      });

      assert.deepEqual(
        result.files.map((file) => file.uploaded),
        [true, true],
      );
      const patches = requestsTo(recorder, 'PATCH');
      assert.equal(patches.length, 1, 'after the refusal the client stops sending the PATCH form');
      assert.equal(patches[0]?.outcome, 405);
      assert.deepEqual(
        requestsTo(recorder, 'DELETE', '/blobs/uploads/').map((request) => request.path),
        [patches[0]?.path],
      );
      const largeDigests = [digest, digestOf(secondContent)];
      const monolithic = requestsTo(recorder, 'PUT', '/blobs/uploads/')
        .filter((request) => largeDigests.includes(request.query.get('digest') as Digest))
        .map((request) => [request.query.get('digest'), request.headers['content-length']]);
      assert.deepEqual(monolithic, [
        [digest, String(LARGE_SIZE)],
        [digestOf(secondContent), String(LARGE_SIZE)],
      ]);
      assert.deepEqual(await storedBlob('hashing/refused', digest), content);
      assert.deepEqual(await storedBlob('hashing/refused', digestOf(secondContent)), secondContent);
    });

    it('uploads in chunks after a 413 to the PATCH', async () => {
      // A proxy that limits request bodies to 2 MiB.
      const limit = 2 * 1024 * 1024;
      const recorder = await through((request) =>
        request.method === 'PATCH' && Number(request.headers['content-length']) > limit
          ? { status: 413 }
          : 'forward',
      );

      const result = await push(`${recorder.host}/hashing/limited:1`, [{ path: large }], {
        credentials: noCredentials,
      });

      assert.equal(result.files[0]?.uploaded, true);
      const chunk = LARGE_SIZE / 4;
      assert.deepEqual(
        requestsTo(recorder, 'PATCH').map((request) => [request.headers['content-range'], request.outcome]),
        [
          [`0-${LARGE_SIZE - 1}`, 413],
          [`0-${chunk - 1}`, 202],
          [`${chunk}-${2 * chunk - 1}`, 202],
          [`${2 * chunk}-${3 * chunk - 1}`, 202],
          [`${3 * chunk}-${LARGE_SIZE - 1}`, 202],
        ],
      );
      assert.deepEqual(await storedBlob('hashing/limited', digest), content);
    });

    it('uploads content shared by two files once', async () => {
      const copy = join(work, 'copy.bin');
      await writeFile(copy, content);
      const recorder = await through();
      const events: TransferProgress[] = [];

      const result = await push(`${recorder.host}/hashing/shared:1`, [{ path: large }, { path: copy }], {
        credentials: noCredentials,
        onProgress: (progress) => events.push(progress),
      });

      assert.deepEqual(
        result.files.map((file) => [file.title, file.digest, file.uploaded]),
        [
          ['large.bin', digest, true],
          ['copy.bin', digest, true],
        ],
      );
      const closing = requestsTo(recorder, 'PUT', '/blobs/uploads/').filter(
        (request) => request.query.get('digest') === digest,
      );
      assert.equal(closing.length, 1, 'one session is completed for the shared blob');
      assert.equal(events.filter((event) => event.state === 'started').length, 1);
      assert.equal(events.at(-1)?.state, 'done');
      assert.deepEqual(await storedBlob('hashing/shared', digest), content);
      if (registry.openSessions) assert.equal(await registry.openSessions(), 0);
    });

    it('stops and deletes the session when hashing fails', async () => {
      const failure = new Error('the disk went away');
      let failHashing = () => {};
      const blob = {
        size: LARGE_SIZE,
        digest: new Promise<Digest>((_resolve, reject) => {
          failHashing = () => reject(failure);
        }),
      };
      // The hash pass fails once the PATCH is under way.
      const recorder = await through((request) => {
        if (request.method !== 'PATCH') return 'forward';
        setTimeout(failHashing, 50);
        return { delayPerChunkMs: 20 };
      });
      const client = new RegistryClient(recorder.host, { credentials: noCredentials });
      try {
        await assert.rejects(
          client.uploadBlobWhileHashing('hashing/failed', blob, () => content),
          (error: unknown) => error === failure,
        );
      } finally {
        await client.close();
      }
      const patches = requestsTo(recorder, 'PATCH');
      assert.equal(patches[0]?.outcome, 'aborted');
      assert.deepEqual(
        requestsTo(recorder, 'DELETE', '/blobs/uploads/').map((request) => request.path),
        [patches[0]?.path],
      );
      if (registry.openSessions) assert.equal(await registry.openSessions(), 0);
    });

    it('stops when the signal aborts', async () => {
      const controller = new AbortController();
      const reason = new Error('push cancelled');
      // The signal aborts once the PATCH is under way.
      const recorder = await through((request) => {
        if (request.method !== 'PATCH') return 'forward';
        setTimeout(() => controller.abort(reason), 50);
        return { delayPerChunkMs: 20 };
      });
      const client = new RegistryClient(recorder.host, { credentials: noCredentials });
      try {
        await assert.rejects(
          client.uploadBlobWhileHashing(
            'hashing/aborted',
            { size: LARGE_SIZE, digest: new Promise<Digest>(() => undefined) },
            () => content,
            { signal: controller.signal },
          ),
          (error: unknown) => error === reason,
        );
      } finally {
        await client.close();
      }
      assert.equal(requestsTo(recorder, 'PATCH')[0]?.outcome, 'aborted');
      assert.equal(requestsTo(recorder, 'DELETE', '/blobs/uploads/').length, 1);
      if (registry.openSessions) assert.equal(await registry.openSessions(), 0);
    });
  });
}

describe('push input checks', () => {
  let registry: Awaited<ReturnType<typeof startEmbeddedRegistry>>;
  let proxy: RecordingProxy;
  let work: string;
  let program: string;

  before(async () => {
    registry = await startEmbeddedRegistry();
    proxy = await startRecordingProxy(registry.host);
    work = await mkdtemp(join(tmpdir(), 'ocidrop-checks-'));
    program = join(work, 'hello');
    await writeFile(program, standInExecutable('linux/arm64', '1.0.0'), { mode: 0o755 });
    await mkdir(join(work, 'a'));
    await mkdir(join(work, 'b'));
    await writeFile(join(work, 'a', 'notes.txt'), 'a');
    await writeFile(join(work, 'b', 'notes.txt'), 'b');
  });

  after(async () => {
    await proxy.close();
    await registry.close();
    await rm(work, { recursive: true, force: true });
  });

  const cases: [
    string,
    () => { files: string[]; fileAnnotations?: Record<string, Record<string, string>> },
    RegExp,
  ][] = [
    ['a missing file', () => ({ files: [join(work, 'missing.bin')] }), /no such file/],
    [
      'two files with one title',
      () => ({ files: [join(work, 'a', 'notes.txt'), join(work, 'b', 'notes.txt')] }),
      /two files titled "notes.txt"/,
    ],
    [
      'a label the header contradicts',
      () => ({ files: [`windows/amd64=${program}`] }),
      /labelled windows\/amd64, but its ELF header says linux\/arm64/,
    ],
    [
      'a file given twice',
      () => ({ files: [join(work, 'a', 'notes.txt'), join(work, 'a', 'notes.txt')] }),
      /is given twice/,
    ],
    [
      'two programs for one platform',
      () => ({ files: [program, `linux/arm64=${join(work, 'a', 'notes.txt')}`] }),
      /two programs for linux\/arm64/,
    ],
    ['a folder with a platform', () => ({ files: [`linux/amd64=${join(work, 'a')}`] }), /is a folder/],
    [
      'annotations of an unknown title',
      () => ({ files: [program], fileAnnotations: { 'other.txt': { note: 'x' } } }),
      /the annotations name the file "other.txt"/,
    ],
  ];

  for (const [name, input, message] of cases) {
    it(`rejects ${name} before any request`, async () => {
      proxy.requests.length = 0;
      const { files, fileAnnotations } = input();
      await assert.rejects(
        push(`${proxy.host}/checks/app:1`, files.map(parsePushInput), {
          credentials: noCredentials,
          ...(fileAnnotations === undefined ? {} : { fileAnnotations }),
        }),
        (error: unknown) => error instanceof InvalidInputError && message.test(error.message),
      );
      assert.deepEqual(
        proxy.requests.map((request) => `${request.method} ${request.path}`),
        [],
      );
    });
  }
});

describe('completeInspection', () => {
  it('rejects a file that grew after it was described', async () => {
    const work = await mkdtemp(join(tmpdir(), 'ocidrop-changed-'));
    try {
      const path = join(work, 'growing.log');
      await writeFile(path, 'first line\n');
      const described = await describeInput({ path });
      await appendFile(path, 'second line\n');
      await assert.rejects(
        completeInspection(described),
        /growing\.log changed while it was being read \(its size went from 11 to 23 bytes\)/,
      );
      assert.equal((await readFile(path)).byteLength, 23);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe('UploadProgress', () => {
  const digest = digestOf('blob');

  it('reports nothing before the digest is known', () => {
    const events: TransferProgress[] = [];
    const progress = new UploadProgress((event) => events.push(event), 'app', 100);
    progress.update(40);
    assert.equal(events.length, 0);
    progress.start(digest);
    assert.deepEqual(
      events.map((event) => [event.state, event.transferred]),
      [
        ['started', 0],
        ['running', 40],
      ],
    );
  });

  it('reports nothing after the end', () => {
    const events: TransferProgress[] = [];
    const progress = new UploadProgress((event) => events.push(event), 'app', 100);
    progress.start(digest);
    progress.finish(false);
    progress.update(70);
    progress.finish(true);
    assert.deepEqual(
      events.map((event) => [event.state, event.transferred]),
      [
        ['started', 0],
        ['skipped', 0],
      ],
    );
  });

  it('reports nothing for a blob never started', () => {
    const events: TransferProgress[] = [];
    const progress = new UploadProgress((event) => events.push(event), 'copy', 100);
    progress.update(100);
    progress.finish(true);
    assert.deepEqual(events, []);
  });
});
