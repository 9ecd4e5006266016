/**
 * File names that pull would reject as titles. push and attach must reject them before their first
 * request, so that no release is tagged with a file that cannot be downloaded.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { InvalidInputError, UnsafeTitleError } from '../../src/client/errors.js';
import { push } from '../../src/client/push.js';
import { attach } from '../../src/client/referrers.js';
import { runCli } from '../helpers/cli.js';
import { startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { type RecordingProxy, startRecordingProxy } from '../helpers/recording-proxy.js';

const noCredentials = async () => undefined;

/** File names that are valid on Linux but not as titles, with the reason pull gives for each. */
const UNSAFE_NAMES: [string, RegExp][] = [
  ['..\\evil.txt', /it contains "\.\."/],
  ['a\\..\\..\\x.txt', /it contains "\.\."/],
  ['dist\\app.exe', /it contains a path separator/],
  ['C:evil.txt', /it starts with a Windows drive letter/],
  ['bad\nname.txt', /it contains a control character/],
];

describe('push and attach titles', () => {
  let registry: Awaited<ReturnType<typeof startEmbeddedRegistry>>;
  let proxy: RecordingProxy;
  let work: string;
  let safe: string;

  before(async () => {
    registry = await startEmbeddedRegistry();
    proxy = await startRecordingProxy(registry.host);
    work = await mkdtemp(join(tmpdir(), 'ocidrop-titles-'));
    safe = join(work, 'notes.txt');
    await writeFile(safe, 'notes');
    for (const [name] of UNSAFE_NAMES) await writeFile(join(work, name), 'content');
    await mkdir(join(work, 'C:folder'));
    await writeFile(join(work, 'C:folder', 'inside.txt'), 'inside');
  });

  after(async () => {
    await proxy.close();
    await registry.close();
    await rm(work, { recursive: true, force: true });
  });

  beforeEach(() => {
    proxy.requests.length = 0;
  });

  for (const [name, reason] of UNSAFE_NAMES) {
    it(`push rejects ${JSON.stringify(name)} before any request`, async () => {
      await assert.rejects(
        push(`${proxy.host}/titles/app:1`, [{ path: safe }, { path: join(work, name) }], {
          credentials: noCredentials,
        }),
        (error: unknown) => {
          assert.ok(error instanceof UnsafeTitleError, `got ${String(error)}`);
          assert.equal(error.code, 'ERR_UNSAFE_TITLE');
          assert.equal(error.title, name);
          assert.match(error.message, reason);
          assert.match(error.message, /rename the file/);
          return true;
        },
      );
      assert.deepEqual(
        proxy.requests.map((request) => `${request.method} ${request.path}`),
        [],
      );
    });
  }

  it('push rejects a folder with an unsafe name', async () => {
    await assert.rejects(
      push(`${proxy.host}/titles/app:1`, [{ path: join(work, 'C:folder') }], { credentials: noCredentials }),
      (error: unknown) => error instanceof UnsafeTitleError && error.title === 'C:folder',
    );
    assert.equal(proxy.requests.length, 0);
  });

  it('attach rejects an unsafe name before any request', async () => {
    await assert.rejects(
      attach(`${proxy.host}/titles/app:1`, [safe, join(work, '..\\evil.txt')], {
        credentials: noCredentials,
        artifactType: 'application/vnd.ocidrop.notes.v1',
      }),
      (error: unknown) => error instanceof UnsafeTitleError && /rename the file/.test(error.message),
    );
    assert.equal(proxy.requests.length, 0);
  });

  it('cli push prints the reason and the fix', async () => {
    const result = await runCli(['push', `${proxy.host}/titles/app:1`, join(work, '..\\evil.txt')]);

    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /unsafe file title "\.\.\\\\evil\.txt"/);
    assert.match(result.stderr, /pull and the download gateway would reject it; rename the file/);
    assert.match(result.stderr, /\[ERR_UNSAFE_TITLE\]/);
    assert.equal(proxy.requests.length, 0);
  });

  it('push rejects an unsafe name inside a folder', async () => {
    const folder = join(work, 'site');
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, '..\\bad.txt'), 'inside');

    await assert.rejects(
      push(`${proxy.host}/titles/site:1`, [{ path: folder }], { credentials: noCredentials }),
      (error: unknown) => {
        assert.ok(error instanceof InvalidInputError, `got ${String(error)}`);
        assert.match(error.message, /has a backslash or a control character in its name/);
        assert.match(error.message, /rename it before pushing/);
        return true;
      },
    );
    const tagged = proxy.requests.filter(
      (request) => request.method === 'PUT' && request.path.includes('/manifests/'),
    );
    assert.deepEqual(tagged, [], 'no manifest is sent');
  });

  it('cli push rejects an unsafe title from an annotation file', async () => {
    const annotations = join(work, 'annotations.json');
    await writeFile(
      annotations,
      JSON.stringify({ 'notes.txt': { 'org.opencontainers.image.title': '../x' } }),
    );

    const result = await runCli([
      'push',
      `${proxy.host}/titles/app:1`,
      safe,
      '--annotation-file',
      annotations,
    ]);

    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /set the title "\.\.\/x", which pull and the download gateway would reject/);
    assert.equal(proxy.requests.length, 0);
  });

  it('push accepts a plain name', async () => {
    const result = await push(`${proxy.host}/titles/app:1`, [{ path: safe }], { credentials: noCredentials });

    assert.equal(result.files[0]?.title, 'notes.txt');
  });
});
