import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unknownPlatformWarning } from '../../src/oci/known-platforms.js';
import { isPackedFolder, packedFolderFileName, titleProblem, visibleFileName } from '../../src/oci/title.js';

describe('titleProblem', () => {
  const unsafe: [string, RegExp][] = [
    ['', /empty/],
    ['.', /output folder/],
    ['..', /"\.\."/],
    ['../evil', /"\.\."/],
    ['a/b', /path separator/],
    ['/etc/passwd', /path separator/],
    ['a\\b', /path separator/],
    ['C:evil', /drive letter/],
    ['a\nb', /control character/],
  ];
  for (const [title, reason] of unsafe) {
    it(`rejects ${JSON.stringify(title)}`, () => {
      assert.match(titleProblem(title) ?? '', reason);
    });
  }

  for (const title of ['hello', 'hello.toml', '.env', 'a b.txt', 'ünï.txt']) {
    it(`accepts ${JSON.stringify(title)}`, () => {
      assert.equal(titleProblem(title), undefined);
    });
  }
});

describe('packed folders', () => {
  it('needs the media type and the unpack annotation', () => {
    const tarGzip = 'application/vnd.oci.image.layer.v1.tar+gzip';
    assert.equal(isPackedFolder(tarGzip, { 'io.deis.oras.content.unpack': 'true' }), true);
    assert.equal(isPackedFolder(tarGzip, {}), false);
    assert.equal(
      isPackedFolder('application/octet-stream', { 'io.deis.oras.content.unpack': 'true' }),
      false,
    );
  });

  it('adds .tar.gz once', () => {
    assert.equal(packedFolderFileName('fonts'), 'fonts.tar.gz');
    assert.equal(packedFolderFileName('fonts.tar.gz'), 'fonts.tar.gz');
    assert.equal(packedFolderFileName('fonts.tgz'), 'fonts.tgz');
  });
});

describe('visibleFileName', () => {
  it('drops leading dots', () => {
    assert.equal(visibleFileName('.env'), 'env');
    assert.equal(visibleFileName('...x'), 'x');
    assert.equal(visibleFileName('hello.toml'), 'hello.toml');
  });
});

describe('unknownPlatformWarning', () => {
  it('names an unknown OS or architecture', () => {
    assert.match(unknownPlatformWarning({ os: 'linx', architecture: 'amd64' }) ?? '', /OS "linx"/);
    assert.match(
      unknownPlatformWarning({ os: 'linux', architecture: 'x86_64' }) ?? '',
      /architecture "x86_64"/,
    );
    assert.equal(unknownPlatformWarning({ os: 'linux', architecture: 'riscv64' }), undefined);
  });
});
