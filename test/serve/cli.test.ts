import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Command } from 'commander';
import { pino } from 'pino';
import { registerLink } from '../../src/cli/link.js';
import { LinkSigner, parseDuration } from '../../src/gateway/signing.js';
import { loadConfig } from '../../src/serve/config.js';
import { LINK_KEY_FILE, loadOrCreateLinkKey } from '../../src/serve/keys.js';
import { type RunningServer, startServer } from '../../src/serve/server.js';
import { publishFixtures } from '../gateway/publish.js';
import { runCli } from '../helpers/cli.js';

const LINK_SECRET = 'L'.repeat(40);

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-serve-cli-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `ocidrop link ARGS` in-process and returns what it printed. */
async function link(args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const program = new Command('ocidrop').exitOverride().configureOutput({ writeErr: () => {} });
  registerLink(program);
  const saved = { ...process.env };
  Object.assign(process.env, env);
  const chunks: string[] = [];
  const write = process.stdout.write;
  // The test runner reports through stdout with binary chunks, which pass through untouched.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof chunk !== 'string')
      return (write as (...args: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    chunks.push(chunk);
    return true;
  }) as typeof process.stdout.write;
  try {
    await program.parseAsync(['link', ...args], { from: 'user' });
  } finally {
    process.stdout.write = write;
    process.env = saved;
  }
  return chunks.join('');
}

describe('serve --config', () => {
  it('stops at an invalid file with the field', async () => {
    const path = join(dir, 'bad.yaml');
    await writeFile(path, 'cache:\n  tagTtl: 5\n');
    const result = await runCli(['serve', '--config', path, '--port', '0', '--data', join(dir, 'data')]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /cache\.tagTtl: unknown field/);
  });

  it('stops when gateway-only mode has nothing to serve', async () => {
    const result = await runCli(['serve', '--no-registry', '--port', '0', '--data', join(dir, 'data')]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /no remote registry is configured/);
  });
});

describe('ocidrop link', () => {
  it('prints a URL under publicUrl', async () => {
    const path = join(dir, 'keys.yaml');
    await writeFile(
      path,
      'publicUrl: https://get.example.com\nsigning:\n  keys:\n    - id: ci\n      secretEnv: LINK_SECRET\n',
    );
    const output = await link(
      ['hello:1.1.0', '--config', path, '--platform', 'linux/arm64', '--expires', '2h'],
      {
        LINK_SECRET,
      },
    );
    const url = new URL(output.trim());
    assert.equal(url.origin, 'https://get.example.com');
    assert.equal(url.pathname, '/hello/1.1.0/download');
    assert.equal(url.searchParams.get('os'), 'linux');
    assert.equal(url.searchParams.get('arch'), 'arm64');
    assert.equal(url.searchParams.get('kid'), 'ci');
    const expires = Number(url.searchParams.get('expires')) * 1000;
    assert.ok(Math.abs(expires - (Date.now() + 7_200_000)) < 5_000, 'expires in two hours');

    const signer = new LinkSigner([{ id: 'ci', secret: Buffer.from(LINK_SECRET) }]);
    assert.equal(signer.verify(url.pathname, url.searchParams, 'linux/arm64').kind, 'valid');
    assert.equal(signer.verify(url.pathname, url.searchParams, 'linux/amd64').kind, 'invalid');
  });

  it('prints JSON with the expiry', async () => {
    const data = join(dir, 'link-data');
    await loadOrCreateLinkKey(data);
    const output = await link([
      'team/hello@sha256:' + 'a'.repeat(64),
      '--data',
      data,
      '--json',
      '--file',
      'hello.toml',
    ]);
    const body = JSON.parse(output) as {
      url: string;
      expires: string;
      keyId: string;
      platform: string | null;
    };
    assert.match(body.url, /^http:\/\/127\.0\.0\.1:5000\/team\/hello\/sha256%3Aa{64}\/files\/hello\.toml\?/);
    assert.equal(body.platform, null);
    assert.match(body.keyId, /^local-[0-9a-f]{8}$/);
    assert.ok(Date.parse(body.expires) > Date.now());
  });

  it('rejects a reference outside the grammar', async () => {
    await assert.rejects(
      link(['Hello:1.0.0', '--data', join(dir, 'link-data')]),
      /invalid repository "Hello"/,
    );
  });

  it('rejects a duration without a unit', async () => {
    await assert.rejects(
      link(['hello', '--expires', '24', '--data', join(dir, 'link-data')]),
      /invalid duration "24"/,
    );
  });
});

describe('parseDuration', () => {
  it('reads each unit', () => {
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('30m'), 1_800_000);
    assert.equal(parseDuration('24h'), 86_400_000);
    assert.equal(parseDuration('7d'), 604_800_000);
  });

  it('rejects zero and bad forms', () => {
    assert.throws(() => parseDuration('0h'), /longer than 0/);
    assert.throws(() => parseDuration('1w'), /invalid duration "1w"/);
    assert.throws(() => parseDuration('-1h'), /invalid duration/);
  });
});

describe('data folder link key', () => {
  it('is created once by concurrent callers', async () => {
    const data = join(dir, 'race');
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadOrCreateLinkKey(data)));
    for (const key of keys) {
      assert.equal(key.id, keys[0]!.id);
      assert.deepEqual(key.secret, keys[0]!.secret);
    }
    const stored = JSON.parse(await readFile(join(data, LINK_KEY_FILE), 'utf8')) as { id: string };
    assert.equal(stored.id, keys[0]!.id);
  });

  it('rejects a damaged key file', async () => {
    const data = join(dir, 'damaged');
    await loadOrCreateLinkKey(data);
    await writeFile(join(data, LINK_KEY_FILE), '{"id":"x","secret":"short"}');
    await assert.rejects(loadOrCreateLinkKey(data), /is not a valid link key: delete it/);
  });
});

describe('embedded.expose listed', () => {
  let server: RunningServer;

  before(async () => {
    const data = join(dir, 'listed-data');
    const open = await startServer({ dataDir: data, port: 0, logger: pino({ level: 'silent' }) });
    await publishFixtures(open.url, 'hello');
    await publishFixtures(open.url, 'draft');
    await open.close();
    const path = join(dir, 'listed.yaml');
    await writeFile(
      path,
      'embedded:\n  expose: listed\nrepositories:\n  - name: get-hello\n    repository: hello\n',
    );
    server = await startServer({
      dataDir: data,
      port: 0,
      logger: pino({ level: 'silent' }),
      config: await loadConfig(path, {}),
    });
  });

  after(async () => {
    await server?.close();
  });

  it('shows the listed name only', async () => {
    const page = await (await fetch(`${server.url}/`)).text();
    assert.match(page, /href="\/get-hello"/);
    assert.doesNotMatch(page, /draft/);
  });

  it('serves under the public name', async () => {
    const response = await fetch(`${server.url}/get-hello/1.1.0/download?os=linux&arch=amd64`);
    assert.equal(response.status, 200);
    await response.arrayBuffer();
  });

  it('hides the unlisted repository', async () => {
    const response = await fetch(`${server.url}/draft/1.1.0/download?os=linux&arch=amd64`);
    assert.equal(response.status, 404);
    await response.arrayBuffer();
  });
});
