import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { runCli } from '../helpers/cli.js';
import { type RunningDistribution, startDistribution } from '../helpers/distribution.js';
import { EXTRAS } from '../helpers/fixtures.js';

const run = promisify(execFile);
const USER = 'alice';
const PASSWORD = 'correct horse';

/**
 * Returns a bcrypt htpasswd line, from `htpasswd -B` (apache2-utils) or else from Python's crypt
 * module; undefined when neither is installed.
 */
async function htpasswdLine(user: string, password: string): Promise<string | undefined> {
  try {
    const { stdout } = await run('htpasswd', ['-nbB', user, password]);
    return `${stdout.trim()}\n`;
  } catch {
    // Not installed; try Python below.
  }
  try {
    const script = 'import crypt,sys; print(crypt.crypt(sys.argv[2], crypt.mksalt(crypt.METHOD_BLOWFISH)))';
    const { stdout } = await run('python3', ['-W', 'ignore', '-c', script, user, password]);
    const hash = stdout.trim();
    return hash.startsWith('$2') ? `${user}:${hash}\n` : undefined;
  } catch {
    return undefined;
  }
}

describe('cli against Distribution with Basic auth', async () => {
  const line = await htpasswdLine(USER, PASSWORD);
  let registry: RunningDistribution;
  let work: string;

  before(async () => {
    if (line === undefined) return;
    registry = await startDistribution({ htpasswd: line });
    work = await mkdtemp(join(tmpdir(), 'ocidrop-auth-'));
  });

  after(async () => {
    await registry?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function dockerConfig(name: string, entry: Record<string, string>): Promise<string> {
    const folder = join(work, name);
    await run('mkdir', ['-p', folder]);
    await writeFile(join(folder, 'config.json'), JSON.stringify({ auths: { [registry.host]: entry } }));
    return folder;
  }

  const skip =
    line === undefined ? 'neither htpasswd (apache2-utils) nor python3 crypt can make a bcrypt line' : false;

  it('push without credentials explains the fix', { skip }, async () => {
    const empty = await dockerConfig('empty', {});
    const result = await runCli(['push', `${registry.host}/hello:1.0.0`, ...EXTRAS], {
      env: { DOCKER_CONFIG: join(empty, 'none') },
    });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /returned 401/);
    assert.match(result.stderr, new RegExp(`add credentials for ${registry.host.replace('.', '\\.')}`));
  });

  it('push and pull with a base64 auth entry', { skip }, async () => {
    const auth = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
    const config = await dockerConfig('auth', { auth });
    const env = { DOCKER_CONFIG: config };
    const pushed = await runCli(['push', `${registry.host}/hello:1.0.0`, ...EXTRAS], { env });
    assert.equal(pushed.code, 0, pushed.stderr);

    const output = join(work, 'out');
    const pulled = await runCli(['pull', `${registry.host}/hello:1.0.0`, '-o', output], { env });
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.deepEqual((await readdir(output)).sort(), ['DejaVuSansMono.ttf', 'hello.toml']);
  });

  it('tags with username and password fields', { skip }, async () => {
    const config = await dockerConfig('fields', { username: USER, password: PASSWORD });
    const result = await runCli(['tags', `${registry.host}/hello`], { env: { DOCKER_CONFIG: config } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), '1.0.0');
  });

  it('wrong password is reported as rejected', { skip }, async () => {
    const config = await dockerConfig('wrong', { username: USER, password: 'wrong' });
    const result = await runCli(['tags', `${registry.host}/hello`], { env: { DOCKER_CONFIG: config } });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /rejected the credentials/);
    assert.doesNotMatch(result.stderr, /wrong/, 'the password never appears in messages');
  });

  it('login stores working credentials', { skip }, async () => {
    const folder = join(work, 'login');
    const env = { DOCKER_CONFIG: folder };
    await run('mkdir', ['-p', folder]);
    await writeFile(
      join(folder, 'config.json'),
      JSON.stringify({ auths: { 'other.example': { auth: 'eDp5' } }, psFormat: 'x' }),
    );

    const result = await runCli(['login', registry.host, '-u', USER, '--password-stdin'], {
      env,
      input: `${PASSWORD}\n`,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`logged in to ${registry.host.replaceAll('.', '\\.')}`));
    const config = JSON.parse(await readFile(join(folder, 'config.json'), 'utf8'));
    assert.equal(config.auths[registry.host].auth, Buffer.from(`${USER}:${PASSWORD}`).toString('base64'));
    assert.equal(config.auths['other.example'].auth, 'eDp5', 'other entries are kept');
    assert.equal(config.psFormat, 'x', 'other settings are kept');
    assert.equal((await stat(join(folder, 'config.json'))).mode & 0o777, 0o600);

    const tags = await runCli(['tags', `${registry.host}/hello`], { env });
    assert.equal(tags.code, 0, tags.stderr);

    const logout = await runCli(['logout', registry.host], { env });
    assert.equal(logout.code, 0, logout.stderr);
    const remaining = JSON.parse(await readFile(join(folder, 'config.json'), 'utf8'));
    assert.equal(remaining.auths[registry.host], undefined);
    assert.equal(remaining.auths['other.example'].auth, 'eDp5');
  });

  it('login stores through a credential helper', { skip }, async () => {
    const folder = join(work, 'helper');
    await run('mkdir', ['-p', folder]);
    // A helper that keeps one entry in a file: store saves stdin, get prints it, erase deletes it.
    const store = join(folder, 'stored.json');
    const script = [
      '#!/bin/sh',
      `case "$1" in`,
      `  store) cat > '${store}' ;;`,
      `  get) cat > /dev/null; if [ -f '${store}' ]; then cat '${store}'; else echo "credentials not found in native keychain"; exit 1; fi ;;`,
      `  erase) cat > /dev/null; rm -f '${store}' ;;`,
      'esac',
    ].join('\n');
    await writeFile(join(folder, 'docker-credential-ocidropfile'), `${script}\n`, { mode: 0o755 });
    await writeFile(
      join(folder, 'config.json'),
      JSON.stringify({ credHelpers: { [registry.host]: 'ocidropfile' } }),
    );
    const env = { DOCKER_CONFIG: folder, PATH: `${folder}:${process.env['PATH']}` };

    const result = await runCli(['login', registry.host, '-u', USER, '--password-stdin', '--json'], {
      env,
      input: `${PASSWORD}\n`,
    });
    assert.equal(result.code, 0, result.stderr);
    const stored = JSON.parse(await readFile(store, 'utf8')) as Record<string, string>;
    assert.deepEqual(stored, { ServerURL: registry.host, Username: USER, Secret: PASSWORD });
    const config = JSON.parse(await readFile(join(folder, 'config.json'), 'utf8'));
    assert.equal(config.auths, undefined, 'no password in config.json');

    const pushed = await runCli(['push', `${registry.host}/helper:1.0`, EXTRAS[0]!], { env });
    assert.equal(pushed.code, 0, pushed.stderr);

    const logout = await runCli(['logout', registry.host], { env });
    assert.equal(logout.code, 0, logout.stderr);
    await assert.rejects(stat(store), { code: 'ENOENT' });
    const denied = await runCli(['push', `${registry.host}/helper:1.1`, EXTRAS[0]!], { env });
    assert.notEqual(denied.code, 0);
  });

  it('login with a wrong password writes nothing', { skip }, async () => {
    const folder = join(work, 'login-wrong');
    const result = await runCli(['login', registry.host, '-u', USER, '--password-stdin'], {
      env: { DOCKER_CONFIG: folder },
      input: 'wrong\n',
    });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /login to .* failed: the registry rejected user "alice"/);
    await assert.rejects(stat(join(folder, 'config.json')), { code: 'ENOENT' });
  });

  it('login without a password explains the options', { skip }, async () => {
    const result = await runCli(['login', registry.host, '-u', USER], {
      env: { DOCKER_CONFIG: join(work, 'none') },
    });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /missing password: pipe it into --password-stdin/);
  });
});
