/**
 * Directory blobs: reproducible packing, and unpacking that rejects every archive entry that could
 * write outside its folder (the path, symbolic link and hard link escapes that tar extractors,
 * oras among them, have had advisories for).
 */
import assert from 'node:assert/strict';
import {
  chmod,
  lstat,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { packDirectory } from '../../src/client/directory.js';
import { UnsafeArchiveError } from '../../src/client/errors.js';
import { unpackDirectory } from '../../src/client/unpack.js';
import { digestOf } from '../../src/oci/digest.js';
import { DigestMismatchError } from '../../src/oci/errors.js';

/** One raw tar entry; the tests build archives by hand, because a packer would refuse these. */
interface RawEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link';
  linkpath?: string;
  content?: string;
  mode?: number;
}

function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.content ?? '');
    const type = entry.type ?? 'File';
    const header = new Header({
      path: entry.path,
      type,
      mode: entry.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      size: type === 'File' ? body.byteLength : 0,
      mtime: new Date(0),
      ...(entry.linkpath === undefined ? {} : { linkpath: entry.linkpath }),
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block);
    if (type === 'File' && body.byteLength > 0) {
      blocks.push(body, Buffer.alloc((512 - (body.byteLength % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

describe('directory blobs', () => {
  let work: string;
  let count = 0;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidrop-unpack-'));
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  // Writes the archive and an empty staging root inside a sandbox that also contains a file outside
  // the root, so each case can check that nothing outside the root changed.
  async function sandbox(entries: RawEntry[]): Promise<{ archive: string; root: string; sandbox: string }> {
    const folder = join(work, `case-${++count}`);
    await mkdir(join(folder, 'root'), { recursive: true });
    await writeFile(join(folder, 'outside.txt'), 'original');
    const archive = join(folder, 'blob.tar.gz');
    await writeFile(archive, gzipSync(rawTar(entries)));
    return { archive, root: join(folder, 'root'), sandbox: folder };
  }

  async function assertUntouched(folder: string): Promise<void> {
    assert.equal(await readFile(join(folder, 'outside.txt'), 'utf8'), 'original');
    assert.deepEqual((await readdir(folder)).sort(), ['blob.tar.gz', 'outside.txt', 'root']);
  }

  const unsafe: { name: string; entries: RawEntry[]; reason: RegExp }[] = [
    {
      name: 'absolute path',
      entries: [{ path: '/tmp/ocidrop-evil', content: 'x' }],
      reason: /absolute|outside/,
    },
    { name: 'dot-dot path', entries: [{ path: 'site/../../outside.txt', content: 'x' }], reason: /"\.\."/ },
    {
      name: 'entry beside the folder',
      entries: [{ path: 'other/file', content: 'x' }],
      reason: /outside the folder/,
    },
    {
      name: 'symlink out, then write through it',
      entries: [
        { path: 'site/', type: 'Directory' },
        { path: 'site/out', type: 'SymbolicLink', linkpath: '../..' },
        { path: 'site/out/outside.txt', content: 'x' },
      ],
      reason: /symbolic link target/,
    },
    {
      name: 'symlink to an absolute path',
      entries: [{ path: 'site/etc', type: 'SymbolicLink', linkpath: '/etc' }],
      reason: /absolute/,
    },
    {
      name: 'hard link out of the folder',
      entries: [{ path: 'site/copy', type: 'Link', linkpath: '../outside.txt' }],
      reason: /hard link target/,
    },
    {
      name: 'hard link to an absolute path',
      entries: [{ path: 'site/passwd', type: 'Link', linkpath: '/etc/passwd' }],
      reason: /absolute/,
    },
    {
      name: 'hard link through a symlink',
      entries: [
        { path: 'site/up', type: 'SymbolicLink', linkpath: '.' },
        { path: 'site/copy', type: 'Link', linkpath: 'site/up/file' },
      ],
      reason: /is a symbolic link/,
    },
    {
      name: 'chained symlinks out',
      entries: [
        { path: 'site/a/b/', type: 'Directory' },
        { path: 'site/a/b/next', type: 'SymbolicLink', linkpath: '../../c' },
        // Lexically site/a/b/next/../../.. is "site", but next resolves to site/c first.
        { path: 'site/escape', type: 'SymbolicLink', linkpath: 'a/b/next/../../..' },
      ],
      reason: /resolves outside/,
    },
    {
      name: 'chain completed by a later entry',
      entries: [
        { path: 'site/escape', type: 'SymbolicLink', linkpath: 'a/b/next/../../..' },
        { path: 'site/a/b/', type: 'Directory' },
        { path: 'site/a/b/next', type: 'SymbolicLink', linkpath: '../../c' },
      ],
      reason: /resolves outside/,
    },
    {
      name: 'symlinked path component',
      entries: [
        { path: 'site/sub/', type: 'Directory' },
        { path: 'site/alias', type: 'SymbolicLink', linkpath: 'sub' },
        { path: 'site/alias/file', content: 'x' },
      ],
      reason: /path component "alias" is a symbolic link/,
    },
    {
      name: 'file over an earlier symlink',
      entries: [
        { path: 'site/target', content: 'a' },
        { path: 'site/link', type: 'SymbolicLink', linkpath: 'target' },
        { path: 'site/link', content: 'written through the link' },
      ],
      reason: /same path/,
    },
  ];

  for (const testCase of unsafe) {
    it(`unpack rejects ${testCase.name}`, async () => {
      const { archive, root, sandbox: folder } = await sandbox(testCase.entries);
      await assert.rejects(unpackDirectory(archive, root, 'site'), (error: unknown) => {
        assert.ok(error instanceof UnsafeArchiveError, String(error));
        assert.match(error.message, testCase.reason);
        return true;
      });
      await assertUntouched(folder);
      await assert.rejects(lstat('/tmp/ocidrop-evil'), { code: 'ENOENT' });
    });
  }

  it('unpack stops at the size limit', async () => {
    const {
      archive,
      root,
      sandbox: folder,
    } = await sandbox([{ path: 'site/zeros', content: '0'.repeat(200_000) }]);
    await assert.rejects(
      unpackDirectory(archive, root, 'site', { maxSize: 100_000 }),
      /more than 100000 bytes/,
    );
    await assertUntouched(folder);
  });

  it('unpack stops at the entry limit', async () => {
    const entries = Array.from({ length: 20 }, (_, i) => ({ path: `site/f${i}`, content: 'x' }));
    const { archive, root } = await sandbox(entries);
    await assert.rejects(unpackDirectory(archive, root, 'site', { maxEntries: 10 }), /more than 10 entries/);
  });

  it('unpack checks the content digest', async () => {
    const { archive, root } = await sandbox([{ path: 'site/file', content: 'x' }]);
    const wrong = digestOf('something else');
    await assert.rejects(
      unpackDirectory(archive, root, 'site', { contentDigest: wrong }),
      DigestMismatchError,
    );
  });

  it('unpack keeps safe links and modes', async () => {
    const { archive, root } = await sandbox([
      { path: 'site/', type: 'Directory', mode: 0o750 },
      { path: 'site/bin/', type: 'Directory' },
      { path: 'site/bin/tool', content: '#!/bin/sh\n', mode: 0o755 },
      { path: 'site/bin/setuid', content: 'x', mode: 0o4755 },
      { path: 'site/current', type: 'SymbolicLink', linkpath: 'bin/tool' },
      { path: 'site/copy', type: 'Link', linkpath: 'site/bin/tool' },
    ]);
    const entries = await unpackDirectory(archive, root, 'site');
    assert.equal(entries, 6);
    assert.equal((await stat(join(root, 'site'))).mode & 0o777, 0o750);
    assert.equal((await stat(join(root, 'site/bin/tool'))).mode & 0o777, 0o755);
    assert.equal((await stat(join(root, 'site/bin/setuid'))).mode & 0o7777, 0o755, 'set-user-ID dropped');
    assert.equal(await readlink(join(root, 'site/current')), 'bin/tool');
    assert.equal((await stat(join(root, 'site/copy'))).nlink, 2);
  });

  it('pack is reproducible and round-trips', async () => {
    const tree = join(work, 'tree', 'docs');
    await mkdir(join(tree, 'b', 'c'), { recursive: true });
    await writeFile(join(tree, 'z.txt'), 'last');
    await writeFile(join(tree, 'a.txt'), 'first');
    await writeFile(join(tree, 'b', 'c', 'run'), '#!/bin/sh\n');
    await chmod(join(tree, 'b', 'c', 'run'), 0o755);
    await symlink('a.txt', join(tree, 'link'));

    const first = await packDirectory(tree, join(work, 'one.tar.gz'), { mtime: new Date(0) });
    const second = await packDirectory(tree, join(work, 'two.tar.gz'), { mtime: new Date(0) });
    assert.equal(first.digest, second.digest);
    assert.equal(first.contentDigest, second.contentDigest);
    assert.deepEqual(await readFile(first.path), await readFile(second.path));
    const later = await packDirectory(tree, join(work, 'three.tar.gz'), {
      mtime: new Date(1_700_000_000_000),
    });
    assert.notEqual(later.digest, first.digest, 'the mtime is part of the archive');

    const root = join(work, 'roundtrip');
    await mkdir(root);
    await unpackDirectory(first.path, root, 'docs', { contentDigest: first.contentDigest });
    assert.equal(await readFile(join(root, 'docs', 'a.txt'), 'utf8'), 'first');
    assert.equal((await stat(join(root, 'docs', 'b', 'c', 'run'))).mode & 0o777, 0o755);
    assert.equal(await readlink(join(root, 'docs', 'link')), 'a.txt');
  });
});
