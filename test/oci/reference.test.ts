import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidReferenceError } from '../../src/oci/errors.js';
import { parseReference, parseRepository } from '../../src/oci/reference.js';

describe('parseReference', () => {
  const valid: [string, { registry: string; repository: string; tag?: string; digest?: string }][] = [
    ['localhost:5000/hello:1.0.0', { registry: 'localhost:5000', repository: 'hello', tag: '1.0.0' }],
    ['localhost/hello', { registry: 'localhost', repository: 'hello' }],
    ['127.0.0.1:8080/team/app:v2', { registry: '127.0.0.1:8080', repository: 'team/app', tag: 'v2' }],
    ['ghcr.io/org/tool/cli:latest', { registry: 'ghcr.io', repository: 'org/tool/cli', tag: 'latest' }],
    ['[::1]:5000/hello:1', { registry: '[::1]:5000', repository: 'hello', tag: '1' }],
    ['hello', { registry: 'docker.io', repository: 'library/hello' }],
    ['user/app:1.2', { registry: 'docker.io', repository: 'user/app', tag: '1.2' }],
    ['a.b/c__d/e--f.g_h:T_1.x-y', { registry: 'a.b', repository: 'c__d/e--f.g_h', tag: 'T_1.x-y' }],
    [
      `localhost:5000/hello:1.0@sha256:${'a'.repeat(64)}`,
      { registry: 'localhost:5000', repository: 'hello', tag: '1.0', digest: `sha256:${'a'.repeat(64)}` },
    ],
    [
      `localhost:5000/hello@sha512:${'0'.repeat(128)}`,
      { registry: 'localhost:5000', repository: 'hello', digest: `sha512:${'0'.repeat(128)}` },
    ],
  ];
  for (const [text, expected] of valid) {
    it(`parses ${text}`, () => {
      const reference = parseReference(text);
      assert.equal(reference.registry, expected.registry);
      assert.equal(reference.repository, expected.repository);
      assert.equal(reference.tag, expected.tag);
      assert.equal(reference.digest, expected.digest);
    });
  }

  const invalid: [string, RegExp][] = [
    ['', /empty/],
    ['localhost:5000/Hello:1', /invalid repository name "Hello"/],
    ['localhost:5000/hello:.hidden', /invalid tag "\.hidden"/],
    [`localhost:5000/hello:${'x'.repeat(129)}`, /invalid tag/],
    ['localhost:5000/hello@sha256:abc', /invalid digest "sha256:abc"/],
    ['localhost:5000/hello@md5:d41d8cd98f00b204e9800998ecf8427e', /invalid digest/],
    ['https://localhost:5000/hello:1', /leave out the URL scheme/],
    ['localhost:5000/../etc:1', /invalid repository name/],
    ['localhost:5000/hello world:1', /white space/],
    ['localhost:5000/a//b:1', /invalid repository name/],
    ['localhost:5000/-a:1', /invalid repository name/],
  ];
  for (const [text, message] of invalid) {
    it(`rejects ${JSON.stringify(text).slice(0, 60)}`, () => {
      assert.throws(
        () => parseReference(text),
        (error: unknown) => {
          assert.ok(error instanceof InvalidReferenceError);
          assert.equal(error.code, 'ERR_INVALID_REFERENCE');
          assert.match(error.message, message);
          return true;
        },
      );
    });
  }

  it('prints back what it parsed', () => {
    for (const text of [
      'localhost:5000/hello:1.0.0',
      `ghcr.io/a/b@sha256:${'f'.repeat(64)}`,
      'localhost/x',
    ]) {
      assert.equal(parseReference(text).toString(), text);
    }
  });

  it('applies defaultTag only without tag or digest', () => {
    assert.equal(parseReference('localhost/x', { defaultTag: 'latest' }).tag, 'latest');
    assert.equal(parseReference('localhost/x:1', { defaultTag: 'latest' }).tag, '1');
    assert.equal(
      parseReference(`localhost/x@sha256:${'a'.repeat(64)}`, { defaultTag: 'latest' }).tag,
      undefined,
    );
  });

  it('maps docker.io to its API host', () => {
    assert.equal(parseReference('alpine:3').apiHost, 'registry-1.docker.io');
    assert.equal(parseReference('localhost:5000/alpine:3').apiHost, 'localhost:5000');
  });
});

describe('parseRepository', () => {
  it('accepts a name without tag', () => {
    assert.equal(parseRepository('localhost:5000/team/app').repository, 'team/app');
  });

  it('rejects a tag', () => {
    assert.throws(() => parseRepository('localhost:5000/app:1'), /without tag or digest/);
  });
});

describe('registry port', () => {
  it('rejects a port above 65535', () => {
    assert.throws(() => parseReference('localhost:99999/x:1'), /invalid port 99999 .*at most 65535/);
    assert.equal(parseReference('localhost:65535/x:1').registry, 'localhost:65535');
  });
});
