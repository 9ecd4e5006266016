import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ifNoneMatchHolds, ifRangeHolds, parseRange } from '../../src/content/http-conditions.js';
import type { DetectedPlatform } from '../../src/gateway/detect.js';
import { escapeHtml, html } from '../../src/gateway/html.js';
import { contentDisposition } from '../../src/gateway/http.js';
import { psQuote, shQuote } from '../../src/gateway/install.js';
import { type Build, isContainerImage, toBuild } from '../../src/gateway/release.js';
import { parseRoute } from '../../src/gateway/routes.js';
import { selectBuild } from '../../src/gateway/select.js';
import { isNewerVersion, latestSemverTag, sortVersions } from '../../src/gateway/versions.js';
import { type Digest, digestOf } from '../../src/oci/digest.js';
import type { ImageManifest } from '../../src/oci/manifest.js';

const EMPTY = { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf('{}'), size: 2 };

function layer(
  title: string | undefined,
  extra: Record<string, string> = {},
  mediaType = 'application/octet-stream',
) {
  const annotations = title === undefined ? extra : { 'org.opencontainers.image.title': title, ...extra };
  return { mediaType, digest: digestOf(title ?? 'x'), size: 10, annotations };
}

function manifestOf(layers: ReturnType<typeof layer>[], config = EMPTY): ImageManifest {
  return { schemaVersion: 2, config, layers };
}

function build(platform: string | undefined): Build {
  const [os, architecture] = platform ? (platform.split('/') as [string, string]) : [];
  return toBuild(
    manifestOf([layer('app', { 'io.ocidrop.file.main': 'true' })]),
    digestOf(platform ?? 'any'),
    os ? { os, architecture: architecture! } : undefined,
  );
}

function detected(
  os: string | undefined,
  architecture: string | undefined,
  candidates: string[],
): DetectedPlatform {
  return { os, architecture, candidates, source: 'user-agent' };
}

describe('sortVersions', () => {
  it('orders semantic versions by precedence', () => {
    const tags = [
      '1.10.0',
      '1.2.0',
      'v1.9.0',
      '2.0.0-rc.1',
      '1.2.0-beta',
      'main',
      'latest',
      'sha256-' + 'a'.repeat(64) + '.sig',
    ];
    assert.deepEqual(
      sortVersions(tags).map((version) => version.tag),
      ['2.0.0-rc.1', '1.10.0', 'v1.9.0', '1.2.0', '1.2.0-beta', 'latest', 'main'],
    );
  });

  it('marks prereleases', () => {
    const versions = sortVersions(['2.0.0-rc.1', '1.0.0']);
    assert.equal(versions[0]!.prerelease, true);
    assert.equal(versions[1]!.prerelease, false);
  });
});

describe('latestSemverTag', () => {
  it('skips prereleases on the stable channel', () => {
    assert.equal(latestSemverTag(sortVersions(['1.0.0', '1.1.0', '2.0.0-rc.1']), 'stable'), '1.1.0');
  });

  it('takes prereleases on the prerelease channel', () => {
    assert.equal(latestSemverTag(sortVersions(['1.0.0', '1.1.0', '2.0.0-rc.1']), 'prerelease'), '2.0.0-rc.1');
  });

  it('returns undefined without semantic versions', () => {
    assert.equal(latestSemverTag(sortVersions(['main', 'nightly']), 'stable'), undefined);
  });
});

describe('isNewerVersion', () => {
  it('compares semantic versions', () => {
    assert.equal(isNewerVersion('1.1.0', '1.0.0'), true);
    assert.equal(isNewerVersion('1.1.0', '1.1.0'), false);
    assert.equal(isNewerVersion('1.1.0', 'v1.2.0'), false);
    assert.equal(isNewerVersion('1.0.0', '1.0.0-rc.1'), true);
  });

  it('treats other different strings as newer', () => {
    assert.equal(isNewerVersion('nightly-2', 'nightly-1'), true);
    assert.equal(isNewerVersion('main', 'main'), false);
  });
});

describe('toBuild main file', () => {
  it('prefers the ocidrop main annotation', () => {
    const result = toBuild(
      manifestOf([
        layer('README', { 'io.ocidrop.file.mode': '0755' }),
        layer('app', { 'io.ocidrop.file.main': 'true' }),
      ]),
      digestOf('m'),
      undefined,
    );
    assert.equal(result.main?.name, 'app');
  });

  it('falls back to the first executable mode', () => {
    const result = toBuild(
      manifestOf([
        layer('README.md', { 'io.ocidrop.file.mode': '0644' }),
        layer('tool', { 'io.ocidrop.file.mode': '0755' }),
      ]),
      digestOf('m'),
      undefined,
    );
    assert.equal(result.main?.name, 'tool');
  });

  it('falls back to the first file for oras artifacts', () => {
    const result = toBuild(manifestOf([layer('tool.bin'), layer('notes.txt')]), digestOf('m'), undefined);
    assert.equal(result.main?.name, 'tool.bin');
    assert.equal(result.files.filter((file) => file.main).length, 1);
  });

  it('skips blobs without a title', () => {
    const result = toBuild(manifestOf([layer(undefined), layer('tool')]), digestOf('m'), undefined);
    assert.deepEqual(
      result.files.map((file) => file.name),
      ['tool'],
    );
  });
});

describe('isContainerImage', () => {
  it('recognizes an image config', () => {
    const config = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf('c'), size: 1 };
    assert.equal(
      isContainerImage(
        manifestOf([layer(undefined, {}, 'application/vnd.oci.image.layer.v1.tar+gzip')], config),
      ),
      true,
    );
  });

  it('recognizes untitled tar layers', () => {
    assert.equal(
      isContainerImage(manifestOf([layer(undefined, {}, 'application/vnd.oci.image.layer.v1.tar+gzip')])),
      true,
    );
  });

  it('accepts an artifact', () => {
    assert.equal(isContainerImage(manifestOf([layer('app')])), false);
  });
});

describe('selectBuild', () => {
  const all = {
    builds: ['linux/amd64', 'linux/arm64', 'darwin/amd64', 'darwin/arm64', 'windows/amd64'].map(build),
  };

  it('picks the exact build', () => {
    const selection = selectBuild(all, detected('linux', 'arm64', ['arm64']));
    assert.equal(selection.kind, 'exact');
    assert.equal(selection.kind === 'exact' && selection.build.platform?.architecture, 'arm64');
  });

  it('offers both Mac builds when the CPU is hidden', () => {
    const selection = selectBuild(all, detected('darwin', undefined, ['arm64', 'amd64']));
    assert.equal(selection.kind, 'choice');
    assert.equal(selection.kind === 'choice' && selection.builds.length, 2);
    assert.equal(selection.kind === 'choice' && selection.portable?.platform?.architecture, 'amd64');
  });

  it('offers the Intel Mac build alone because Rosetta runs it', () => {
    const intelOnly = { builds: [build('darwin/amd64')] };
    const selection = selectBuild(intelOnly, detected('darwin', undefined, ['arm64', 'amd64']));
    assert.equal(selection.kind, 'exact');
  });

  it('does not offer an Apple Silicon build alone to a hidden CPU', () => {
    const armOnly = { builds: [build('darwin/arm64')] };
    assert.equal(selectBuild(armOnly, detected('darwin', undefined, ['arm64', 'amd64'])).kind, 'choice');
  });

  it('falls back to x64 on Windows on Arm and says so', () => {
    const selection = selectBuild(all, detected('windows', 'arm64', ['arm64']));
    assert.equal(selection.kind, 'emulated');
    assert.equal(selection.kind === 'emulated' && selection.build.platform?.architecture, 'amd64');
  });

  it('does not fall back on Linux', () => {
    const amd64Only = { builds: [build('linux/amd64')] };
    assert.equal(selectBuild(amd64Only, detected('linux', 'arm64', ['arm64'])).kind, 'missing');
  });

  it('reports a missing OS', () => {
    assert.equal(selectBuild(all, detected('android', undefined, ['arm64', 'amd64'])).kind, 'missing');
  });

  it('asks when nothing is detected', () => {
    assert.equal(selectBuild(all, detected(undefined, undefined, [])).kind, 'unknown');
  });

  it('serves a release without platforms to everyone', () => {
    assert.equal(
      selectBuild({ builds: [build(undefined)] }, detected(undefined, undefined, [])).kind,
      'exact',
    );
  });
});

describe('html template', () => {
  it('escapes interpolated text', () => {
    const title = '<script>alert("x")</script>&\'';
    assert.equal(
      html`<p>${title}</p>`.value,
      '<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</p>',
    );
  });

  it('keeps nested markup and joins lists', () => {
    const items = ['a<b', 'c'].map((item) => html`<li>${item}</li>`);
    assert.equal(html`<ul>${items}</ul>`.value, '<ul><li>a&lt;b</li><li>c</li></ul>');
  });

  it('escapes attribute quotes', () => {
    assert.equal(escapeHtml('" onmouseover="x'), '&quot; onmouseover=&quot;x');
  });
});

describe('contentDisposition', () => {
  it('quotes a plain name', () => {
    assert.equal(
      contentDisposition('hello.exe'),
      `attachment; filename="hello.exe"; filename*=UTF-8''hello.exe`,
    );
  });

  it('encodes a non-ASCII name with filename*', () => {
    assert.equal(
      contentDisposition('grüße.txt'),
      `attachment; filename="gr__e.txt"; filename*=UTF-8''gr%C3%BC%C3%9Fe.txt`,
    );
  });

  it('neutralizes CR, LF and quotes', () => {
    const value = contentDisposition('a"\r\nSet-Cookie: x=1\\.exe');
    assert.doesNotMatch(value, /[\r\n]/);
    assert.equal(
      value,
      `attachment; filename="a___Set-Cookie: x=1_.exe"; filename*=UTF-8''a%22%0D%0ASet-Cookie%3A%20x%3D1%5C.exe`,
    );
  });

  it('encodes the characters RFC 8187 leaves out of attr-char', () => {
    assert.match(contentDisposition("it's (1)*"), /filename\*=UTF-8''it%27s%20%281%29%2A$/);
  });
});

describe('parseRange', () => {
  it('reads a closed range', () => {
    assert.deepEqual(parseRange('bytes=0-9', 100), { kind: 'partial', range: { start: 0, end: 9 } });
  });

  it('reads an open range', () => {
    assert.deepEqual(parseRange('bytes=90-', 100), { kind: 'partial', range: { start: 90, end: 99 } });
  });

  it('reads a suffix range', () => {
    assert.deepEqual(parseRange('bytes=-10', 100), { kind: 'partial', range: { start: 90, end: 99 } });
  });

  it('clamps the end to the size', () => {
    assert.deepEqual(parseRange('bytes=50-500', 100), { kind: 'partial', range: { start: 50, end: 99 } });
  });

  it('rejects a start past the end', () => {
    assert.deepEqual(parseRange('bytes=100-', 100), { kind: 'unsatisfiable' });
  });

  it('ignores several ranges and other units', () => {
    assert.deepEqual(parseRange('bytes=0-1,5-6', 100), { kind: 'full' });
    assert.deepEqual(parseRange('items=0-1', 100), { kind: 'full' });
  });
});

describe('conditional headers', () => {
  const etag = '"sha256:abc"';

  it('If-Range holds for the same entity tag only', () => {
    assert.equal(ifRangeHolds(etag, etag, undefined), true);
    assert.equal(ifRangeHolds('"sha256:other"', etag, undefined), false);
    assert.equal(ifRangeHolds(undefined, etag, undefined), true);
  });

  it('If-Range holds for the exact Last-Modified date', () => {
    const date = 'Sun, 15 Feb 2026 12:00:00 GMT';
    assert.equal(ifRangeHolds(date, etag, date), true);
    assert.equal(ifRangeHolds('Mon, 16 Feb 2026 12:00:00 GMT', etag, date), false);
  });

  it('If-None-Match matches lists and wildcards', () => {
    assert.equal(ifNoneMatchHolds(`"x", ${etag}`, etag), true);
    assert.equal(ifNoneMatchHolds('*', etag), true);
    assert.equal(ifNoneMatchHolds('"x"', etag), false);
  });
});

describe('parseRoute', () => {
  it('routes a nested repository from the right', () => {
    assert.deepEqual(parseRoute('/team/app/1.0.0/download'), {
      kind: 'download',
      repository: 'team/app',
      version: '1.0.0',
    });
    assert.deepEqual(parseRoute('/team/app/latest.json'), {
      kind: 'json',
      repository: 'team/app',
      version: 'latest',
    });
    assert.deepEqual(parseRoute('/team/app/install.sh'), {
      kind: 'install',
      repository: 'team/app',
      shell: 'sh',
    });
  });

  it('decodes a file name without treating it as a path', () => {
    assert.deepEqual(parseRoute('/app/1.0.0/files/a%2F..%2Fb'), {
      kind: 'file',
      repository: 'app',
      version: '1.0.0',
      name: 'a/../b',
    });
  });

  it('keeps both readings of a two-part page path', () => {
    const route = parseRoute('/team/app');
    assert.equal(route.kind, 'page');
    assert.deepEqual(route.kind === 'page' && route.alternative, { repository: 'team', version: 'app' });
  });

  it('routes a version page', () => {
    const route = parseRoute('/app/1.0.0');
    assert.equal(route.kind === 'page' && route.repository, 'app/1.0.0');
    assert.deepEqual(route.kind === 'page' && route.alternative, { repository: 'app', version: '1.0.0' });
  });

  it('rejects names outside the grammar', () => {
    assert.throws(() => parseRoute('/App/download/x'), { name: 'GatewayError', code: 'NOT_FOUND' });
    assert.throws(() => parseRoute('/../etc/passwd'), { name: 'GatewayError', code: 'NOT_FOUND' });
    assert.throws(() => parseRoute('/app/%ZZ'), { name: 'GatewayError', code: 'BAD_REQUEST' });
  });

  it('routes a digest as a version', () => {
    const digest = digestOf('x') as Digest;
    assert.deepEqual(parseRoute(`/app/${digest}/download`), {
      kind: 'download',
      repository: 'app',
      version: digest,
    });
  });
});

describe('script quoting', () => {
  it('quotes for sh', () => {
    assert.equal(shQuote("it's"), `'it'\\''s'`);
  });

  it('quotes for PowerShell, typographic quotes included', () => {
    assert.equal(psQuote('it’s'), `'it’’s'`);
    assert.equal(psQuote("a'b"), `'a''b'`);
  });
});
