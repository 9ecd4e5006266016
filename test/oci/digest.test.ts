import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createDigester, digestOf, isDigest, parseDigest } from '../../src/oci/digest.js';
import { InvalidDigestError } from '../../src/oci/errors.js';

const EMPTY_SHA256 = 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

describe('digest', () => {
  it('hashes bytes in memory', () => {
    assert.equal(digestOf(''), EMPTY_SHA256);
    assert.equal(digestOf('{}'), 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a');
  });

  it('hashes in pieces like in one go', () => {
    const digester = createDigester('sha512');
    digester.update(Buffer.from('hello '));
    digester.update(Buffer.from('world'));
    assert.equal(digester.size, 11);
    assert.equal(digester.digest(), digestOf('hello world', 'sha512'));
  });

  it('parses registered algorithms', () => {
    assert.deepEqual(parseDigest(EMPTY_SHA256), { algorithm: 'sha256', encoded: EMPTY_SHA256.slice(7) });
    assert.ok(isDigest(`sha512:${'ab'.repeat(64)}`));
  });

  const invalid: [string, RegExp][] = [
    ['sha256', /expected "algorithm:hex"/],
    ['sha256:', /expected "algorithm:hex"/],
    [`SHA256:${'a'.repeat(64)}`, /expected "algorithm:hex"/],
    [`sha256:${'A'.repeat(64)}`, /64 lowercase hex digits/],
    [`sha256:${'a'.repeat(63)}`, /64 lowercase hex digits/],
    [`sha384:${'a'.repeat(96)}`, /unsupported digest algorithm "sha384"/],
    ['sha256:../../etc/passwd', /expected "algorithm:hex"/],
  ];
  for (const [text, message] of invalid) {
    it(`rejects ${text.slice(0, 24)}`, () => {
      assert.throws(
        () => parseDigest(text),
        (error: unknown) => error instanceof InvalidDigestError && message.test(error.message),
      );
    });
  }
});
