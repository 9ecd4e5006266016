import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { detectExecutable, EXECUTABLE_HEADER_SIZE } from '../../src/oci/executable.js';
import { formatPlatform, hostPlatform, parsePlatform, platformMatches } from '../../src/oci/platform.js';
import { FIXTURES, PLATFORMS, standInExecutable } from '../helpers/fixtures.js';

describe('parsePlatform', () => {
  it('parses os/architecture and a variant', () => {
    assert.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.equal(formatPlatform(parsePlatform('linux/arm/v7')), 'linux/arm/v7');
  });

  for (const text of ['linux', 'linux/', '/amd64', 'Linux/amd64', 'a/b/c/d', 'linux/amd 64']) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(() => parsePlatform(text), /invalid platform/);
    });
  }

  it('matches arm64 with and without v8', () => {
    assert.ok(
      platformMatches(
        { os: 'linux', architecture: 'arm64' },
        { os: 'linux', architecture: 'arm64', variant: 'v8' },
      ),
    );
    assert.ok(
      !platformMatches(
        { os: 'linux', architecture: 'arm', variant: 'v6' },
        { os: 'linux', architecture: 'arm', variant: 'v7' },
      ),
    );
    assert.ok(
      !platformMatches({ os: 'linux', architecture: 'amd64' }, { os: 'windows', architecture: 'amd64' }),
    );
  });

  it('names this machine in OCI terms', () => {
    const host = hostPlatform();
    assert.notEqual(host.os, 'win32');
    assert.notEqual(host.architecture, 'x64');
  });
});

describe('detectExecutable', () => {
  it('reads the real linux/amd64 build', async () => {
    const bytes = await readFile(join(FIXTURES, 'hello', '1.1.0', 'linux-amd64', 'hello'));
    assert.deepEqual(detectExecutable(bytes.subarray(0, EXECUTABLE_HEADER_SIZE)), {
      format: 'elf',
      platforms: [{ os: 'linux', architecture: 'amd64' }],
    });
  });

  for (const { platform } of PLATFORMS.filter((entry) => entry.platform !== 'linux/amd64')) {
    it(`reads a ${platform} header`, () => {
      const info = detectExecutable(standInExecutable(platform, '1.0.0'));
      assert.ok(info);
      assert.equal(formatPlatform(info.platforms[0]!), platform);
    });
  }

  it('lists each architecture of a universal Mach-O file', () => {
    const header = Buffer.alloc(64);
    header.writeUInt32BE(0xcafebabe, 0);
    header.writeUInt32BE(2, 4);
    header.writeUInt32BE(0x01000007, 8);
    header.writeUInt32BE(0x0100000c, 28);
    assert.deepEqual(detectExecutable(header)?.platforms, [
      { os: 'darwin', architecture: 'amd64' },
      { os: 'darwin', architecture: 'arm64' },
    ]);
  });

  it('ignores a Java class file', () => {
    const header = Buffer.alloc(64);
    header.writeUInt32BE(0xcafebabe, 0);
    header.writeUInt32BE(0x00000041, 4);
    assert.equal(detectExecutable(header), undefined);
  });

  it('ignores text and truncated headers', async () => {
    assert.equal(
      detectExecutable(await readFile(join(FIXTURES, 'extras', 'config', 'hello.toml'))),
      undefined,
    );
    assert.equal(detectExecutable(Buffer.from('MZ')), undefined);
    assert.equal(detectExecutable(Buffer.from('\x7fELF', 'latin1')), undefined);
    const pe = standInExecutable('windows/amd64', '1.0.0');
    pe.writeUInt32LE(0xfffffff0, 0x3c);
    assert.equal(detectExecutable(pe), undefined);
  });
});
