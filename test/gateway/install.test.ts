import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { arch, platform, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { formatPlatform, hostPlatform } from '../../src/oci/platform.js';
import { type PublishedFiles, publishFixtures } from './publish.js';
import { type GatewayFixture, startGateway } from './server.js';

const run = promisify(execFile);

let gateway: GatewayFixture;
let files: PublishedFiles;
let home: string;

before(async () => {
  gateway = await startGateway();
  files = await publishFixtures(gateway.registry.url, 'hello');
  home = await mkdtemp(join(tmpdir(), 'ocidrop-install-'));
});

after(async () => {
  await gateway?.close();
  if (home) await rm(home, { recursive: true, force: true });
});

async function script(path: string): Promise<string> {
  const response = await fetch(`${gateway.url}${path}`);
  assert.equal(response.status, 200);
  return response.text();
}

async function runScript(
  text: string,
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = join(home, `install-${Math.random().toString(36).slice(2)}.sh`);
  await writeFile(file, text);
  try {
    const { stdout, stderr } = await run('sh', [file], {
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failure = error as { code: number; stdout: string; stderr: string };
    return { code: failure.code, stdout: failure.stdout, stderr: failure.stderr };
  }
}

describe('install.sh', () => {
  it('installs the build for this machine into ~/.local/bin', async (t) => {
    const userHome = join(home, 'user');
    await mkdir(userHome);
    const result = await runScript(await script('/hello/install.sh'), { HOME: userHome });
    assert.equal(result.code, 0, result.stderr);

    const host = formatPlatform(hostPlatform());
    const installed = join(userHome, '.local', 'bin', 'hello');
    assert.deepEqual(await readFile(installed), files['1.1.0']![host]!['hello']);
    assert.match(
      result.stdout,
      new RegExp(`Installed hello 1\\.1\\.0 \\(${host}\\) as ${installed.replaceAll('.', '\\.')}`),
    );
    assert.deepEqual(await readdir(join(userHome, '.local', 'bin')), ['hello']);

    if (platform() !== 'linux' || arch() !== 'x64') {
      t.diagnostic('the real hello build runs on linux/amd64 only; the version check is left out here');
      return;
    }
    const { stdout } = await run(installed, ['--version']);
    assert.equal(stdout.trim(), 'hello 1.1.0 linux/amd64');
  });

  it('honours INSTALL_DIR', async () => {
    const dir = join(home, 'custom bin');
    const result = await runScript(await script('/hello/install.sh'), {
      HOME: join(home, 'unused'),
      INSTALL_DIR: dir,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await readdir(dir), ['hello']);
    assert.match(result.stdout, /is not in PATH/);
  });

  it('installs nothing when the SHA-256 differs', async () => {
    const text = await script('/hello/install.sh');
    const expected = createHash('sha256')
      .update(files['1.1.0']![formatPlatform(hostPlatform())]!['hello']!)
      .digest('hex');
    assert.ok(text.includes(expected));
    const dir = join(home, 'tampered');
    const result = await runScript(text.replaceAll(expected, '0'.repeat(64)), {
      HOME: home,
      INSTALL_DIR: dir,
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /SHA-256 mismatch for hello/);
    assert.deepEqual(await readdir(dir), []);
  });

  it('names the builds when the machine has none', async () => {
    const bin = join(home, 'fake-bin');
    await mkdir(bin, { recursive: true });
    await writeFile(
      join(bin, 'uname'),
      '#!/bin/sh\nif [ "$1" = -s ]; then echo Linux; else echo riscv64; fi\n',
    );
    await chmod(join(bin, 'uname'), 0o755);
    const result = await runScript(await script('/hello/install.sh'), {
      HOME: home,
      PATH: `${bin}:${process.env['PATH']}`,
    });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      /hello 1\.1\.0 has no build for linux\/riscv64; builds exist for: linux\/amd64, linux\/arm64, darwin\/amd64, darwin\/arm64/,
    );
  });

  it('installs the version asked for', async () => {
    const dir = join(home, 'old');
    const result = await runScript(await script('/hello/install.sh?version=1.0.0'), {
      HOME: home,
      INSTALL_DIR: dir,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(
      await readFile(join(dir, 'hello')),
      files['1.0.0']![formatPlatform(hostPlatform())]!['hello'],
    );
  });
});

describe('install.ps1', () => {
  it('lists the Windows builds with URL and SHA-256', async () => {
    const text = await script('/hello/install.ps1');
    const sha = createHash('sha256').update(files['1.1.0']!['windows/amd64']!['hello.exe']!).digest('hex');
    assert.match(
      text,
      new RegExp(
        `'windows/amd64' = @\\{ Name = 'hello\\.exe'; Url = '${gateway.url}/hello/1\\.1\\.0/download\\?os=windows&arch=amd64'; Sha256 = '${sha}'; Note = '' \\}`,
      ),
    );
    assert.match(
      text,
      /'windows\/arm64' = @\{ Name = 'hello\.exe'; .*Note = 'there is no Arm64 build, so the x64 build is installed; it runs through x64 emulation' \}/,
    );
    assert.doesNotMatch(text, /'linux\/amd64'/);
  });
});
