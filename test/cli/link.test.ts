/**
 * `ocidrop link` run as a user would: it signs only with a key that `ocidrop serve` already has.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadOrCreateLinkKey } from '../../src/serve/keys.js';
import { runCli } from '../helpers/cli.js';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-link-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ocidrop link', () => {
  it('fails without a key in the data folder', async () => {
    const data = join(dir, 'empty');
    const result = await runCli(['link', 'hello:1.1.0', '--data', data]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.ok(result.stderr.includes(`no link key in ${data}`), result.stderr);
    assert.match(
      result.stderr,
      /start ocidrop serve with --data .* first, or pass the --data of your server/,
    );
    await assert.rejects(readdir(data), { code: 'ENOENT' });
  });

  it('names the defaulted base URL on stderr', async () => {
    const data = join(dir, 'served');
    await loadOrCreateLinkKey(data);
    const result = await runCli(['link', 'hello:1.1.0', '--data', data]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^http:\/\/127\.0\.0\.1:5000\/hello\/1\.1\.0\/download\?/);
    assert.match(result.stderr, /uses http:\/\/127\.0\.0\.1:5000.*--base-url/);
  });

  it('stays quiet with --base-url', async () => {
    const data = join(dir, 'served');
    await loadOrCreateLinkKey(data);
    const result = await runCli([
      'link',
      'hello:1.1.0',
      '--data',
      data,
      '--base-url',
      'http://127.0.0.1:8080',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^http:\/\/127\.0\.0\.1:8080\//);
    assert.equal(result.stderr, '');
  });
});
