import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runCli } from '../helpers/cli.js';
import { FIXTURES } from '../helpers/fixtures.js';

describe('ocidrop command', () => {
  it('prints the package version', async () => {
    const { version } = JSON.parse(await readFile(join(FIXTURES, '..', '..', 'package.json'), 'utf8')) as {
      version: string;
    };
    const result = await runCli(['--version']);
    assert.equal(result.code, 0);
    assert.equal(result.stdout.trim(), version);
  });

  it('lists the commands in --help', async () => {
    const result = await runCli(['--help']);
    assert.equal(result.code, 0);
    for (const command of ['push', 'pull', 'url', 'tags'])
      assert.match(result.stdout, new RegExp(`^  ${command} `, 'm'));
  });

  it('reports an invalid reference on one line', async () => {
    const result = await runCli(['pull', 'localhost:5000/Hello:1.0']);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^ocidrop: invalid repository name "Hello"/);
    assert.equal(result.stderr.trim().split('\n').length, 1);
  });

  it('prints the stack with OCIDROP_DEBUG=1', async () => {
    const result = await runCli(['pull', 'localhost:5000/Hello:1.0'], { env: { OCIDROP_DEBUG: '1' } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\n\s+at /);
  });

  it('rejects an invalid --platform', async () => {
    const result = await runCli(['pull', 'localhost:5000/hello:1.0', '--platform', 'linux']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /invalid platform "linux"/);
  });

  it('rejects an invalid --concurrency', async () => {
    const result = await runCli(['pull', 'localhost:5000/hello:1.0', '--concurrency', '0']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /invalid concurrency "0"/);
  });

  it('rejects an invalid --chunk-size', async () => {
    const result = await runCli(['push', 'localhost:5000/hello:1.0', 'x', '--chunk-size', '5 parsecs']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /invalid chunk size "5 parsecs"/);
  });

  it('rejects push without a tag', async () => {
    const result = await runCli([
      'push',
      'localhost:5000/hello',
      join(FIXTURES, 'extras', 'config', 'hello.toml'),
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /push needs a reference with a tag/);
  });

  it('rejects a missing push file', async () => {
    const result = await runCli(['push', 'localhost:5000/hello:1.0', 'linux/amd64=/nonexistent/hello']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cannot read "\/nonexistent\/hello": no such file/);
  });
});
