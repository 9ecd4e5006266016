/**
 * The access model of `ocidrop serve`: the start-up rule for listen addresses, the command-line
 * flags over the configuration file, and one rule for anonymous pulls shared by `/v2/` and the
 * gateway. Servers listen on 127.0.0.1 only; `0.0.0.0` is only passed to the start-up decision.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { createLink } from '../../src/cli/link.js';
import { RegistryConfigError } from '../../src/registry/config.js';
import { resolveServeAccess } from '../../src/serve/access.js';
import { loadConfig } from '../../src/serve/config.js';
import { type RunningServer, startServer } from '../../src/serve/server.js';
import { publishFixtures, useCredentials } from '../gateway/publish.js';
import { CLI, runCli } from '../helpers/cli.js';
import { EXTRAS } from '../helpers/fixtures.js';
import { waitForServeUrl } from '../helpers/serve.js';
import { skipUnless } from '../helpers/tools.js';

const run = promisify(execFile);
const skip = skipUnless('htpasswd');
const LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const PASSWORD = 'correct horse';
const silent = pino({ level: 'silent' });

let dir: string;
let aliceFile: string;
let bobFile: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-serve-access-'));
  if (skip) return;
  aliceFile = join(dir, 'alice.htpasswd');
  bobFile = join(dir, 'bob.htpasswd');
  await writeFile(aliceFile, (await run('htpasswd', ['-nbB', 'alice', PASSWORD])).stdout);
  await writeFile(bobFile, (await run('htpasswd', ['-nbB', 'bob', PASSWORD])).stdout);
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

async function configFile(name: string, lines: string[]) {
  const path = join(dir, name);
  await writeFile(path, `${lines.join('\n')}\n`);
  return loadConfig(path, {});
}

/** Writes a Docker config folder with credentials for `host`, as `docker login` would. */
async function dockerConfig(name: string, host: string, user: string, password: string): Promise<string> {
  const folder = join(dir, name);
  await mkdir(folder, { recursive: true });
  const auth = Buffer.from(`${user}:${password}`).toString('base64');
  await writeFile(join(folder, 'config.json'), JSON.stringify({ auths: { [host]: { auth } } }));
  return folder;
}

describe('start-up on a non-loopback address', () => {
  it('fails without users', async () => {
    await assert.rejects(
      startServer({ dataDir: join(dir, 'refused'), host: '0.0.0.0', port: 0, logger: silent }),
      (error: Error) => {
        assert.ok(error instanceof RegistryConfigError);
        assert.match(error.message, /on 0\.0\.0\.0, which is not a loopback address/);
        assert.match(error.message, /--htpasswd FILE/);
        assert.match(error.message, /--read-only/);
        assert.match(error.message, /--allow-anonymous-push/);
        return true;
      },
    );
  });

  it('fails through the CLI with the fix', async () => {
    const result = await runCli([
      'serve',
      '--data',
      join(dir, 'cli-refused'),
      '--host',
      '0.0.0.0',
      '--port',
      '0',
    ]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /not a loopback address/);
    assert.match(result.stderr, /--htpasswd FILE/);
  });

  it('starts with --htpasswd', { skip }, async () => {
    const access = await resolveServeAccess({
      host: '0.0.0.0',
      dataDir: join(dir, 'users'),
      registry: true,
      flags: { htpasswd: aliceFile },
    });
    assert.ok(access.registry?.access);
    assert.equal(await access.users?.verify('alice', PASSWORD), true);
  });

  it('starts with --allow-anonymous-push', async () => {
    const access = await resolveServeAccess({
      host: '0.0.0.0',
      dataDir: join(dir, 'open'),
      registry: true,
      flags: { allowAnonymousPush: true },
    });
    assert.equal(access.registry?.access, undefined);
    assert.equal(access.registry?.readOnly, false);
  });

  it('starts with --read-only', async () => {
    const access = await resolveServeAccess({
      host: '0.0.0.0',
      dataDir: join(dir, 'read-only'),
      registry: true,
      flags: { readOnly: true },
    });
    assert.equal(access.registry?.readOnly, true);
  });

  it('loopback stays open without users', async () => {
    const access = await resolveServeAccess({
      host: '127.0.0.1',
      dataDir: join(dir, 'loopback'),
      registry: true,
    });
    assert.equal(access.registry?.access, undefined);
  });

  it('gateway-only mode has no registry rule', async () => {
    const config = await configFile('gateway-only.yaml', [
      'registry: false',
      'registries:',
      '  - {name: corp, url: "https://registry.example.com"}',
      'repositories:',
      '  - {name: hello, registry: corp}',
    ]);
    const access = await resolveServeAccess({ host: '0.0.0.0', dataDir: dir, registry: false, config });
    assert.equal(access.registry, undefined);
  });
});

describe('flags and the configuration file', { skip }, () => {
  it('--htpasswd wins over users.htpasswd', async () => {
    const config = await configFile('alice.yaml', ['users:', `  htpasswd: ${aliceFile}`]);
    const access = await resolveServeAccess({
      host: '127.0.0.1',
      dataDir: join(dir, 'flag-wins'),
      registry: true,
      config,
      flags: { htpasswd: bobFile },
    });
    assert.equal(await access.users?.verify('bob', PASSWORD), true);
    assert.equal(await access.users?.verify('alice', PASSWORD), false);
  });

  it('--read-only wins over registry.readOnly', async () => {
    const config = await configFile('writable.yaml', ['registry:', '  readOnly: false']);
    const access = await resolveServeAccess({
      host: '127.0.0.1',
      dataDir: join(dir, 'read-only-wins'),
      registry: true,
      config,
      flags: { readOnly: true },
    });
    assert.equal(access.registry?.readOnly, true);
  });

  it('--token-auth keeps the token settings of the file', async () => {
    const config = await configFile('token.yaml', [
      'users:',
      `  htpasswd: ${aliceFile}`,
      'registry:',
      '  token: {service: example}',
    ]);
    const server = await startServer({
      dataDir: join(dir, 'token-wins'),
      port: 0,
      logger: silent,
      config,
      access: { tokenAuth: true },
    });
    try {
      const response = await fetch(`${server.url}/v2/hello/blobs/uploads/`, { method: 'POST' });
      assert.equal(response.status, 401);
      assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer .*service="example"/);
      await response.arrayBuffer();
    } finally {
      await server.close();
    }
  });

  it('--token-auth without users fails', async () => {
    await assert.rejects(
      resolveServeAccess({
        host: '127.0.0.1',
        dataDir: join(dir, 'token-no-users'),
        registry: true,
        flags: { tokenAuth: true },
      }),
      /registry\.token \(or --token-auth\) needs users: .*--htpasswd FILE/,
    );
  });

  it('private repository without users fails', async () => {
    const config = await configFile('private-no-users.yaml', [
      'repositories:',
      '  - {name: hello, private: true}',
    ]);
    await assert.rejects(
      resolveServeAccess({ host: '127.0.0.1', dataDir: join(dir, 'private'), registry: true, config }),
      /private repositories such as "hello" need users, because \/v2\/ would otherwise serve them to anyone: .*--htpasswd FILE/,
    );
  });

  it('embedded.private without users fails', async () => {
    const config = await configFile('embedded-private.yaml', ['embedded:', '  private: true']);
    await assert.rejects(
      resolveServeAccess({ host: '127.0.0.1', dataDir: join(dir, 'private-all'), registry: true, config }),
      /private repositories need users/,
    );
  });
});

describe('one rule for anonymous pulls', { skip }, () => {
  it('either side makes it private', async () => {
    const config = await configFile('either.yaml', [
      'users:',
      `  htpasswd: ${aliceFile}`,
      'registry:',
      '  anonymousPull: [hello, secret, team]',
      'repositories:',
      '  - {name: get-secret, repository: secret, private: true}',
      '  - {name: team-app, repository: team/app}',
    ]);
    const access = await resolveServeAccess({
      host: '127.0.0.1',
      dataDir: join(dir, 'either'),
      registry: true,
      config,
    });
    const registry = access.registry!;
    // The gateway keeps it private: closed on /v2/ too.
    assert.equal(access.isPrivate('get-secret'), true);
    assert.equal(registry.isAnonymousPull('secret'), false);
    // The registry section does not open it: private on the gateway too.
    assert.equal(registry.isAnonymousPull('other'), false);
    assert.equal(access.isPrivate('other'), true);
    // Both sides open it.
    assert.equal(registry.isAnonymousPull('hello'), true);
    assert.equal(access.isPrivate('hello'), false);
    assert.equal(access.isPrivate('team-app'), false);
  });

  it('a listed public name opens under embedded.private', async () => {
    const config = await configFile('listed-public.yaml', [
      'users:',
      `  htpasswd: ${aliceFile}`,
      'embedded:',
      '  private: true',
      'repositories:',
      '  - {name: hello}',
    ]);
    const access = await resolveServeAccess({
      host: '127.0.0.1',
      dataDir: join(dir, 'listed'),
      registry: true,
      config,
    });
    assert.equal(access.isPrivate('hello'), false);
    assert.equal(access.registry?.isAnonymousPull('hello'), true);
    assert.equal(access.isPrivate('draft'), true);
    assert.equal(access.registry?.isAnonymousPull('draft'), false);
  });
});

/** Starts the built `ocidrop serve` with `args` on a free loopback port and returns its URL. */
async function startServeProcess(args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [CLI, 'serve', '--host', '127.0.0.1', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const { url } = await waitForServeUrl(child);
  return { url, child };
}

describe('ocidrop serve --htpasswd over HTTP', { skip }, () => {
  let child: ChildProcess | undefined;
  let url: string;
  let host: string;
  let dataDir: string;

  before(async () => {
    if (skip) return;
    dataDir = join(dir, 'served');
    const configPath = join(dir, 'served.yaml');
    await writeFile(
      configPath,
      [
        'registry:',
        '  anonymousPull: [hello, secret]',
        'repositories:',
        '  - name: secret',
        '    private: true',
        '',
      ].join('\n'),
    );
    const started = await startServeProcess([
      '--data',
      dataDir,
      '--config',
      configPath,
      '--htpasswd',
      aliceFile,
    ]);
    child = started.child;
    url = started.url;
    host = new URL(url).host;
    useCredentials(url, 'alice', PASSWORD);
    await publishFixtures(url, 'secret');
    await publishFixtures(url, 'closed');
  });

  after(async () => {
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  });

  it('anonymous push gets 401', async () => {
    const empty = join(dir, 'no-credentials');
    const result = await runCli(['push', `${host}/hello:1.0.0`, ...EXTRAS], {
      env: { DOCKER_CONFIG: empty },
    });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /returned 401/);
  });

  it('push with Basic credentials works', async () => {
    const config = await dockerConfig('alice-docker', host, 'alice', PASSWORD);
    const result = await runCli(['push', `${host}/hello:1.0.0`, ...EXTRAS], {
      env: { DOCKER_CONFIG: config },
    });
    assert.equal(result.code, 0, result.stderr);
    const tags = await fetch(`${url}/v2/hello/tags/list`);
    assert.equal(tags.status, 200);
    assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, ['1.0.0']);
  });

  it('wrong password cannot push', async () => {
    const config = await dockerConfig('wrong-docker', host, 'alice', 'wrong');
    const result = await runCli(['push', `${host}/hello:1.0.1`, ...EXTRAS], {
      env: { DOCKER_CONFIG: config },
    });
    assert.notEqual(result.code, 0);
  });

  it('private repository refuses anonymous /v2/ pulls', async () => {
    const anonymous = await fetch(`${url}/v2/secret/manifests/1.1.0`);
    assert.equal(anonymous.status, 401);
    await anonymous.arrayBuffer();
    const alice = await fetch(`${url}/v2/secret/manifests/1.1.0`, {
      headers: { authorization: basic('alice', PASSWORD), accept: 'application/vnd.oci.image.index.v1+json' },
    });
    assert.equal(alice.status, 200);
    await alice.arrayBuffer();
  });

  it('private repository refuses anonymous downloads', async () => {
    const path = '/secret/1.1.0/download?os=linux&arch=amd64';
    const anonymous = await fetch(`${url}${path}`, { headers: { 'user-agent': LINUX } });
    assert.equal(anonymous.status, 401);
    await anonymous.arrayBuffer();
    const alice = await fetch(`${url}${path}`, {
      headers: { 'user-agent': LINUX, authorization: basic('alice', PASSWORD) },
    });
    assert.equal(alice.status, 200);
    await alice.arrayBuffer();
  });

  it('signed link opens the private download', async () => {
    const link = await createLink(
      'secret:1.1.0',
      { data: dataDir, expires: 60_000, baseUrl: url },
      undefined,
    );
    const response = await fetch(link.url, { headers: { 'user-agent': LINUX } });
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  });

  it('anonymousPull closes the gateway too', async () => {
    const path = '/closed/1.1.0/download?os=linux&arch=amd64';
    const anonymous = await fetch(`${url}${path}`, { headers: { 'user-agent': LINUX } });
    assert.equal(anonymous.status, 401);
    await anonymous.arrayBuffer();
    const registry = await fetch(`${url}/v2/closed/tags/list`);
    assert.equal(registry.status, 401);
    await registry.arrayBuffer();
    const alice = await fetch(`${url}${path}`, {
      headers: { 'user-agent': LINUX, authorization: basic('alice', PASSWORD) },
    });
    assert.equal(alice.status, 200);
    await alice.arrayBuffer();
  });

  it('public repository pulls anonymously', async () => {
    const response = await fetch(`${url}/v2/hello/tags/list`);
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  });
});

describe('--read-only', () => {
  let server: RunningServer;

  before(async () => {
    server = await startServer({
      dataDir: join(dir, 'read-only-server'),
      port: 0,
      logger: silent,
      access: { readOnly: true },
    });
  });

  after(async () => {
    await server?.close();
  });

  it('rejects a push with UNSUPPORTED', async () => {
    const response = await fetch(`${server.url}/v2/hello/blobs/uploads/`, { method: 'POST' });
    assert.equal(response.status, 405);
    const body = (await response.json()) as { errors: { code: string }[] };
    assert.equal(body.errors[0]?.code, 'UNSUPPORTED');
  });

  it('still serves pulls', async () => {
    const response = await fetch(`${server.url}/v2/`);
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  });
});

describe('--token-auth with the CLI', { skip }, () => {
  let server: RunningServer;

  before(async () => {
    if (skip) return;
    server = await startServer({
      dataDir: join(dir, 'token-server'),
      port: 0,
      logger: silent,
      access: { htpasswd: aliceFile, tokenAuth: true },
    });
  });

  after(async () => {
    await server?.close();
  });

  it('challenges with Bearer', async () => {
    const response = await fetch(`${server.url}/v2/hello/blobs/uploads/`, { method: 'POST' });
    assert.equal(response.status, 401);
    assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer realm="[^"]+\/v2\/token"/);
    await response.arrayBuffer();
  });

  it('push and pull through the token flow', async () => {
    const config = await dockerConfig('token-docker', server.registryHost, 'alice', PASSWORD);
    const env = { DOCKER_CONFIG: config };
    const pushed = await runCli(['push', `${server.registryHost}/hello:1.0.0`, ...EXTRAS], { env });
    assert.equal(pushed.code, 0, pushed.stderr);
    const tags = await runCli(['tags', `${server.registryHost}/hello`], { env });
    assert.equal(tags.code, 0, tags.stderr);
    assert.equal(tags.stdout.trim(), '1.0.0');
  });
});
