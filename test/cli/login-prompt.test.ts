/**
 * `ocidrop login` without -u or a password asks for them on a terminal, as `docker login` does.
 * `script` gives the command a pseudo-terminal, so the prompts run as they do for a person.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLI } from '../helpers/paths.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';
import { skipUnless } from '../helpers/tools.js';

const run = promisify(execFile);
const skip = skipUnless('script', 'htpasswd');

/** Runs `ocidrop login HOST` in a pseudo-terminal, typing each answer after a pause. */
function loginOnTerminal(
  host: string,
  dockerConfig: string,
  answers: string[],
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('script', ['-qec', `${process.execPath} ${CLI} login ${host}`, '/dev/null'], {
      env: { ...process.env, DOCKER_CONFIG: dockerConfig },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      output += text;
    });
    let typed = 0;
    const timer = setInterval(() => {
      const prompts = (output.match(/Username: |Password: /g) ?? []).length;
      if (prompts > typed && typed < answers.length) child.stdin.write(`${answers[typed++]}\r`);
    }, 50);
    child.on('exit', (code) => {
      clearInterval(timer);
      resolve({ code, output });
    });
  });
}

describe('login prompts on a terminal', { skip }, () => {
  let serve: ServeProcess;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ocidrop-login-prompt-'));
    const { stdout } = await run('htpasswd', ['-nbB', 'alice', 's3cret']);
    await writeFile(join(dir, 'users'), stdout);
    serve = await startServe(join(dir, 'data'), ['--htpasswd', join(dir, 'users')]);
  });

  after(async () => {
    await serve?.close();
  });

  it('asks for user and password', async () => {
    const config = join(dir, 'docker-right');
    const { code, output } = await loginOnTerminal(serve.host, config, ['alice', 's3cret']);
    assert.equal(code, 0, output);
    assert.match(output, /Username: /);
    assert.match(output, /Password: /);
    assert.doesNotMatch(output, /s3cret/, 'the password was echoed');
    const stored = JSON.parse(await readFile(join(config, 'config.json'), 'utf8'));
    assert.equal(stored.auths[serve.host].auth, Buffer.from('alice:s3cret').toString('base64'));
  });

  it('reports a wrong password', async () => {
    const { code, output } = await loginOnTerminal(serve.host, join(dir, 'docker-wrong'), ['alice', 'nope']);
    assert.equal(code, 1);
    assert.match(output, /rejected user "alice"/);
  });

  it('names -u without a terminal', async () => {
    await assert.rejects(
      run(process.execPath, [CLI, 'login', serve.host], {
        env: { ...process.env, DOCKER_CONFIG: join(dir, 'docker-none') },
      }),
      (error: { stderr: string }) => /missing user name for .*: pass -u USER/.test(error.stderr),
    );
  });
});
