/**
 * Ctrl-C (SIGINT) and SIGTERM during `ocidrop push` against `ocidrop serve`: the push deletes its
 * open upload session, leaves the tag alone, and exits with 128 + the signal number and a hint.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { CLI } from '../helpers/cli.js';
import { type RecordingProxy, requestsTo, startRecordingProxy } from '../helpers/recording-proxy.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';

/** Large enough to go through an upload session rather than a single POST. */
const SIZE = 24 * 1024 * 1024;

const cases: { name: string; signal: NodeJS.Signals; code: number; args: string[]; method: string }[] = [
  { name: 'SIGINT while uploading and hashing', signal: 'SIGINT', code: 130, args: [], method: 'PATCH' },
  { name: 'SIGTERM while uploading and hashing', signal: 'SIGTERM', code: 143, args: [], method: 'PATCH' },
  { name: 'SIGINT with --hash-first', signal: 'SIGINT', code: 130, args: ['--hash-first'], method: 'PUT' },
  { name: 'SIGHUP while uploading and hashing', signal: 'SIGHUP', code: 129, args: [], method: 'PATCH' },
];

describe('push interrupted', () => {
  let serve: ServeProcess;
  let proxy: RecordingProxy | undefined;
  let work: string;
  let file: string;

  before(async () => {
    serve = await startServe();
    work = await mkdtemp(join(tmpdir(), 'ocidrop-push-interrupt-'));
    file = join(work, 'large.bin');
    await writeFile(file, randomBytes(SIZE));
  });

  after(async () => {
    await serve?.close();
    await rm(serve.dataDir, { recursive: true, force: true });
    await rm(work, { recursive: true, force: true });
  });

  afterEach(async () => {
    await proxy?.close();
    proxy = undefined;
  });

  for (const { name, signal, code, args, method } of cases) {
    it(`deletes the session on ${name}`, async () => {
      // The proxy forwards upload bodies slowly, so the push is still sending when the signal comes.
      let bodyArrived = () => {};
      const arrived = new Promise<void>((resolve) => {
        bodyArrived = resolve;
      });
      const recorder = await startRecordingProxy(serve.host, (request) => {
        if (request.method !== method || !request.path.includes('/blobs/uploads/')) return 'forward';
        bodyArrived();
        return { delayPerChunkMs: 20 };
      });
      proxy = recorder;
      const repository = `interrupt/${signal.toLowerCase()}${args.length}`;
      const child = spawn(
        process.execPath,
        [CLI, 'push', `${recorder.host}/${repository}:1`, file, ...args],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (text: string) => {
        stderr += text;
      });
      child.stdout.resume();
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));

      await arrived;
      // The request is under way: its session exists on the registry's side.
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.ok((await openSessions(serve.dataDir)) > 0, 'a session is open before the signal');
      const signalled = Date.now();
      child.kill(signal);
      const exitCode = await exited;

      assert.equal(exitCode, code, stderr);
      assert.ok(Date.now() - signalled < 5000, 'the cleanup stops within its deadline');
      const word = signal === 'SIGINT' ? 'interrupted' : 'terminated';
      assert.match(
        stderr,
        new RegExp(
          `ocidrop: ${word}: run the same command again: push starts again, and blobs already in the registry are skipped`,
        ),
      );
      const uploads = requestsTo(recorder, method, '/blobs/uploads/');
      assert.equal(uploads.at(-1)?.outcome, 'aborted');
      const deletes = requestsTo(recorder, 'DELETE', '/blobs/uploads/');
      assert.deepEqual(
        deletes.map((request) => request.path),
        [uploads.at(-1)?.path],
        'the session of the aborted upload is deleted',
      );
      assert.equal(await openSessions(serve.dataDir), 0);
      assert.equal(requestsTo(recorder, 'PUT', '/manifests/').length, 0, 'the tag is not touched');
    });
  }
});

// `ocidrop serve --data DIR` keeps each upload session of the embedded registry in DIR/uploads.
async function openSessions(dataDir: string): Promise<number> {
  return (await readdir(join(dataDir, 'uploads'))).length;
}
