/**
 * `ocidrop gc` run as a child process against a data folder that the embedded registry filled:
 * what a dry run lists, what a collection removes, and what the registry still serves after it.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { CLI, type CliResult, runCli } from '../helpers/cli.js';
import { startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { pushBlob, pushImage, request, sha256, startSession } from '../registry/client.js';

/** Tells whether the built `ocidrop` lists the `gc` command. */
async function mainHasGc(): Promise<boolean> {
  const help = await runCli(['--help']);
  return /^\s+gc\b/m.test(help.stdout);
}

/**
 * Builds the program the way `src/cli/main.ts` does, with `gc` registered, and runs it with `args`.
 * Used while main.ts does not call `registerGc` yet.
 */
const DRIVER = `
import { Command } from 'commander';
import { registerGc } from ${JSON.stringify(pathToFileURL(join(dirname(CLI), 'gc.js')).href)};
import { printError } from ${JSON.stringify(pathToFileURL(join(dirname(CLI), 'output.js')).href)};
const program = new Command('ocidrop').configureOutput({ outputError: (text, write) => write(text) });
registerGc(program);
try {
  await program.parseAsync(process.argv.slice(1), { from: 'user' });
} catch (error) {
  printError(error);
  process.exitCode = 1;
}
`;

async function runGc(args: string[], useMain: boolean): Promise<CliResult> {
  if (useMain) return runCli(['gc', ...args]);
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', DRIVER, 'gc', ...args],
      // From the package root, so that the driver's bare import of commander resolves.
      { cwd: join(dirname(CLI), '..', '..', '..'), timeout: 60_000 },
      (error, stdout, stderr) => {
        let code = 0;
        if (error !== null) code = typeof error.code === 'number' ? error.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('ocidrop gc', () => {
  let dir: string;
  let useMain: boolean;
  let kept: { manifest: string; digest: string };
  let dropped: { manifest: string; digest: string };
  let orphan: string;
  let uploadId: string;
  let tempFile: string;

  before(async () => {
    useMain = await mainHasGc();
    dir = await mkdtemp(join(tmpdir(), 'ocidrop-gc-cli-'));
    const registry = await startEmbeddedRegistry(dir);
    try {
      kept = await pushImage(registry.url, 'team/app', 'v1', 'kept layer');
      dropped = await pushImage(registry.url, 'team/app', 'v2', 'dropped layer');
      const untag = await request(registry.url, '/v2/team/app/manifests/v2', { method: 'DELETE' });
      assert.equal(untag.status, 202);
      orphan = await pushBlob(registry.url, 'team/orphan', 'orphan blob!');
      const location = await startSession(registry.url, 'team/app');
      uploadId = location.split('/').pop() ?? '';
    } finally {
      await registry.close();
    }

    // An abandoned upload session and a temporary file, both two hours old.
    const old = new Date(Date.now() - 2 * 60 * 60 * 1000);
    await writeFile(join(dir, 'uploads', uploadId, 'data'), 'partial upload');
    await utimes(join(dir, 'uploads', uploadId, 'data'), old, old);
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    tempFile = join(dir, 'blobs', 'sha256', '.tmp-abandoned');
    await writeFile(tempFile, 'half');
    await utimes(tempFile, old, old);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('main command registers gc', async () => {
    assert.equal(await mainHasGc(), true);
  });

  it('dry run lists content with sizes', async () => {
    const result = await runGc(['--data', dir, '--dry-run', '--grace', '0'], useMain);
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    const manifestSize = Buffer.byteLength(dropped.manifest);
    assert.ok(
      lines.includes(`would remove manifest team/app@${dropped.digest} (${manifestSize} B)`),
      result.stdout,
    );
    assert.ok(lines.includes(`would remove blob team/app@${sha256('dropped layer')} (13 B)`), result.stdout);
    assert.ok(lines.includes(`would remove blob team/orphan@${orphan} (12 B)`), result.stdout);
    assert.ok(lines.includes(`would remove unused blob ${orphan} (12 B)`), result.stdout);
    assert.ok(lines.includes(`would remove upload session ${uploadId} (14 B)`), result.stdout);
    assert.ok(lines.includes(`would remove temporary file ${tempFile} (4 B)`), result.stdout);
    assert.match(
      lines.at(-1) ?? '',
      /^dry run: 1 manifest, \d+ repository blobs, \d+ unused blobs, 1 upload session, 1 temporary file; would free \d+ B$/,
    );
    assert.ok(!lines.some((line) => line.includes(kept.digest)), 'the tagged manifest is kept');
    await stat(tempFile);
    await stat(join(dir, 'uploads', uploadId));
  });

  it('json output is the report', async () => {
    const result = await runGc(['--data', dir, '--dry-run', '--grace', '0', '--json'], useMain);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as {
      dataDir: string;
      dryRun: boolean;
      manifests: { repository: string; digest: string; size: number }[];
      uploads: { id: string; size: number }[];
      bytesFreed: number;
    };
    assert.equal(report.dataDir, dir);
    assert.equal(report.dryRun, true);
    assert.deepEqual(report.manifests, [
      { repository: 'team/app', digest: dropped.digest, size: Buffer.byteLength(dropped.manifest) },
    ]);
    assert.deepEqual(report.uploads, [{ id: uploadId, size: 14 }]);
    assert.ok(report.bytesFreed >= 12 + 13 + 14 + 4, String(report.bytesFreed));
  });

  it('grace period keeps fresh content', async () => {
    const result = await runGc(['--data', dir, '--dry-run', '--grace', '1h', '--json'], useMain);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as {
      manifests: unknown[];
      blobs: unknown[];
      uploads: unknown[];
    };
    assert.deepEqual(report.manifests, []);
    assert.deepEqual(report.blobs, []);
    assert.equal(report.uploads.length, 1, 'the upload session is past its own lifetime');
  });

  it('collection removes garbage, registry serves the rest', async () => {
    const result = await runGc(['--data', dir, '--grace', '0'], useMain);
    assert.equal(result.code, 0, result.stderr);
    assert.ok(result.stdout.includes(`removed manifest team/app@${dropped.digest}`), result.stdout);
    assert.match(result.stdout, /^1 manifest, .*; freed \d+ B$/m);
    await assert.rejects(stat(tempFile), { code: 'ENOENT' });
    assert.deepEqual(await readdir(join(dir, 'uploads')), []);

    const registry = await startEmbeddedRegistry(dir);
    try {
      assert.equal((await request(registry.url, '/v2/team/app/manifests/v1')).status, 200);
      assert.equal((await request(registry.url, `/v2/team/app/blobs/${sha256('kept layer')}`)).status, 200);
      assert.equal((await request(registry.url, `/v2/team/app/manifests/${dropped.digest}`)).status, 404);
      assert.equal((await request(registry.url, `/v2/team/orphan/blobs/${orphan}`)).status, 404);
    } finally {
      await registry.close();
    }

    const again = await runGc(['--data', dir, '--grace', '0'], useMain);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(
      again.stdout.trim(),
      '0 manifests, 0 repository blobs, 0 unused blobs, 0 upload sessions, 0 temporary files; freed 0 B',
    );
  });

  it('missing data folder fails with the fix', async () => {
    const missing = join(dir, 'no-such-folder');
    const result = await runGc(['--data', missing], useMain);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no-such-folder is not a data folder of ocidrop serve/);
    assert.match(result.stderr, /--data/);
    assert.match(result.stderr, /\[ERR_DATA_FOLDER\]/);
    await assert.rejects(stat(missing), { code: 'ENOENT' });
  });

  it('invalid grace duration fails', async () => {
    const result = await runGc(['--data', dir, '--grace', '10x'], useMain);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /invalid duration "10x": use a whole number with a unit/);
  });
});
