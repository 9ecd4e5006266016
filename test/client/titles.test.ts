import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UnsafeTitleError } from '../../src/client/errors.js';
import { validateTitle, validateTitles } from '../../src/client/titles.js';

describe('validateTitle', () => {
  for (const title of ['hello', 'hello.exe', 'DejaVuSansMono.ttf', '.hidden', 'a b', 'über']) {
    it(`accepts ${JSON.stringify(title)}`, () => {
      assert.doesNotThrow(() => validateTitle(title));
    });
  }

  const unsafe: [string, RegExp][] = [
    ['', /empty/],
    ['.', /output folder/],
    ['..', /"\.\."/],
    ['../evil', /"\.\."|separator/],
    ['a..b', /"\.\."/],
    ['/etc/passwd', /separator/],
    ['dir/file', /separator/],
    ['..\\evil', /"\.\."|separator/],
    ['dir\\file', /separator/],
    ['C:evil', /drive/],
    ['new\nline', /control/],
    ['nul\u0000byte', /control/],
  ];
  for (const [title, reason] of unsafe) {
    it(`rejects ${JSON.stringify(title)}`, () => {
      assert.throws(
        () => validateTitle(title),
        (error: unknown) => {
          assert.ok(error instanceof UnsafeTitleError);
          assert.equal(error.code, 'ERR_UNSAFE_TITLE');
          assert.equal(error.title, title);
          assert.match(error.message, reason);
          return true;
        },
      );
    });
  }
});

describe('validateTitles', () => {
  it('rejects a bad title after good ones', () => {
    assert.throws(() => validateTitles(['hello', 'hello.toml', '../evil']), UnsafeTitleError);
  });

  it('rejects two blobs with one title', () => {
    assert.throws(() => validateTitles(['hello', 'hello']), /overwrite/);
  });

  it('rejects titles equal but for case', () => {
    assert.throws(() => validateTitles(['README', 'readme']), /overwrite/);
  });

  it('accepts distinct titles', () => {
    assert.doesNotThrow(() => validateTitles(['hello', 'hello.toml']));
  });
});
