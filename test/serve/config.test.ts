import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/serve/config.js';

const SECRET = 'k'.repeat(40);
const ENV = { LINK_KEY: SECRET, CORP_PASSWORD: 'registry-password' };

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-config-'));
  await writeFile(join(dir, 'old-key'), `${'o'.repeat(48)}\n`);
  await writeFile(join(dir, 'htpasswd'), 'ci:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=\n');
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function load(name: string, text: string, env: NodeJS.ProcessEnv = ENV) {
  const path = join(dir, name);
  await writeFile(path, text);
  return loadConfig(path, env);
}

/** Loads `text` and returns the ConfigError message it is rejected with. */
async function rejection(text: string, env: NodeJS.ProcessEnv = ENV): Promise<string> {
  try {
    await load('bad.yaml', text, env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.equal(error.code, 'ERR_CONFIG');
    return error.message;
  }
  assert.fail('the configuration was accepted');
}

const FULL_YAML = `
publicUrl: https://get.example.com/
channel: prerelease
users:
  htpasswd: htpasswd
signing:
  keys:
    - id: new
      secretEnv: LINK_KEY
    - id: old
      secretFile: old-key
registries:
  - name: corp
    url: https://registry.example.com
    username: bot
    passwordEnv: CORP_PASSWORD
    allowHosts: [storage.example.com, "cdn.example.com:8443"]
repositories:
  - name: hello
    registry: corp
    repository: team/hello
    private: true
  - name: tools
cache:
  tagTtlSeconds: 10
  blobDir: cache
  blobBytes: 1073741824
redirectToStorage: true
verifyBlobs: true
`;

describe('loadConfig valid files', () => {
  it('reads every field of a YAML file', async () => {
    const config = await load('full.yaml', FULL_YAML);
    assert.equal(config.publicUrl, 'https://get.example.com');
    assert.equal(config.registry, true);
    assert.equal(config.channel, 'prerelease');
    assert.equal(config.htpasswd, join(dir, 'htpasswd'));
    assert.deepEqual(
      config.signingKeys.map((key) => [key.id, key.secret.toString()]),
      [
        ['new', SECRET],
        ['old', 'o'.repeat(48)],
      ],
    );
    assert.equal(config.registries.length, 1);
    const corp = config.registries[0]!;
    assert.equal(corp.url.host, 'registry.example.com');
    assert.equal(corp.username, 'bot');
    assert.equal(corp.password, 'registry-password');
    assert.deepEqual(corp.allowHosts, ['storage.example.com', 'cdn.example.com:8443']);
    assert.deepEqual(config.repositories, [
      { name: 'hello', registry: 'corp', repository: 'team/hello', private: true },
      { name: 'tools', registry: 'embedded', repository: 'tools', private: false },
    ]);
    assert.deepEqual(config.cache, { tagTtlSeconds: 10, blobDir: join(dir, 'cache'), blobBytes: 1073741824 });
    assert.equal(config.redirectToStorage, true);
    assert.equal(config.verifyBlobs, true);
  });

  it('reads the same settings from JSON', async () => {
    const json = JSON.stringify({
      registry: false,
      registries: [{ name: 'hub', url: 'http://127.0.0.1:5999' }],
      repositories: [{ name: 'hello', registry: 'hub' }],
    });
    const config = await load('gateway.json', json);
    assert.equal(config.registry, false);
    assert.equal(config.registries[0]!.url.protocol, 'http:');
    assert.equal(config.registries[0]!.password, undefined);
    assert.equal(config.cache.tagTtlSeconds, 30);
    assert.equal(config.verifyBlobs, false);
  });

  it('reads the registry section', async () => {
    const config = await load(
      'registry.yaml',
      [
        'users:',
        '  htpasswd: htpasswd',
        'registry:',
        '  anonymousPull: [public/]',
        '  rules:',
        '    - {user: ci, repository: team, actions: [pull, push]}',
        '  token: {ttlSeconds: 600}',
      ].join('\n'),
    );
    assert.equal(config.registry, true);
    assert.deepEqual(config.registryAccess, {
      anonymousPull: ['public'],
      rules: [{ user: 'ci', repository: 'team', actions: ['pull', 'push'] }],
      token: { ttlSeconds: 600 },
    });
  });

  it('reads registry true as the defaults', async () => {
    const config = await load('registry-true.yaml', 'registry: true');
    assert.equal(config.registry, true);
    assert.deepEqual(config.registryAccess, {});
  });

  it('accepts an empty file as the defaults', async () => {
    const config = await load('empty.yaml', '');
    assert.equal(config.registry, true);
    assert.equal(config.embeddedExpose, 'all');
    assert.deepEqual(config.repositories, []);
    assert.deepEqual(config.signingKeys, []);
  });
});

describe('loadConfig invalid files', () => {
  const cases: { name: string; text: string; env?: NodeJS.ProcessEnv; message: RegExp }[] = [
    { name: 'broken YAML', text: 'registries: [', message: /is not valid YAML or JSON/ },
    {
      name: 'unknown top-level field',
      text: 'publicURL: https://x.example',
      message: /publicURL: unknown field/,
    },
    {
      name: 'unknown nested field',
      text: 'cache:\n  blobSize: 3',
      message: /cache\.blobSize: unknown field/,
    },
    {
      name: 'wrong type',
      text: 'registry: "no"',
      message: /registry: expected true, false or a mapping of the registry's settings, got string "no"/,
    },
    { name: 'bad channel', text: 'channel: beta', message: /channel: expected one of stable, prerelease/ },
    { name: 'relative public URL', text: 'publicUrl: get.example.com', message: /publicUrl: invalid URL/ },
    {
      name: 'missing secret variable',
      text: 'signing:\n  keys:\n    - id: a\n      secretEnv: NOT_SET',
      message: /signing\.keys\[0\]\.secretEnv: environment variable NOT_SET is not set/,
    },
    {
      name: 'short secret',
      text: 'signing:\n  keys:\n    - id: a\n      secretEnv: SHORT',
      env: { SHORT: 'abc' },
      message: /signing\.keys\[0\]: the secret is 3 bytes long: use at least 32/,
    },
    {
      name: 'duplicate key id',
      text: 'signing:\n  keys:\n    - {id: a, secretEnv: LINK_KEY}\n    - {id: a, secretEnv: LINK_KEY}',
      message: /signing\.keys\[1\]\.id: key id "a" appears twice/,
    },
    {
      name: 'both secret sources',
      text: 'signing:\n  keys:\n    - {id: a, secretEnv: LINK_KEY, secretFile: old-key}',
      message: /signing\.keys\[0\]: set secretEnv or secretFile, not both/,
    },
    {
      name: 'missing secret file',
      text: 'signing:\n  keys:\n    - {id: a, secretFile: nowhere}',
      message: /signing\.keys\[0\]\.secretFile: cannot read .*nowhere/,
    },
    {
      name: 'credentials in the registry URL',
      text: 'registries:\n  - {name: corp, url: "https://bot:pw@registry.example.com"}',
      message: /registries\[0\]\.url: give the registry as scheme and host only/,
    },
    {
      name: 'username without password',
      text: 'registries:\n  - {name: corp, url: "https://registry.example.com", username: bot}',
      message: /registries\[0\]: username and a password .* go together/,
    },
    {
      name: 'unknown registry',
      text: 'repositories:\n  - {name: hello, registry: corp}',
      message: /repositories\[0\]\.registry: no registry named "corp": use one of embedded/,
    },
    {
      name: 'repository outside the grammar',
      text: 'repositories:\n  - {name: Hello}',
      message: /repositories\[0\]\.name: invalid repository name "Hello"/,
    },
    {
      name: 'repository listed twice',
      text: 'repositories:\n  - {name: hello}\n  - {name: hello}',
      message: /repositories\[1\]\.name: repository "hello" is listed twice/,
    },
    {
      name: 'htpasswd in the registry section',
      text: 'registry:\n  htpasswd: htpasswd',
      message:
        /registry\.htpasswd: the registry and the gateway share one user store: move the file to the top-level users\.htpasswd/,
    },
    {
      name: 'unknown registry field',
      text: 'registry:\n  readonly: true',
      message: /registry\.readonly: unknown field/,
    },
    {
      name: 'bad registry rule',
      text: 'registry:\n  rules:\n    - {user: alice, actions: [pull, write]}',
      message: /registry\.rules\[0\]\.actions: invalid value "write": use pull, push or delete/,
    },
    {
      name: 'gateway only with nothing to serve',
      text: 'registry: false',
      message: /registry: the embedded registry is off and no repository is listed/,
    },
    {
      name: 'blob cache without a size',
      text: 'cache:\n  blobDir: cache',
      message: /cache\.blobDir: cache\.blobDir and cache\.blobBytes go together/,
    },
    {
      name: 'bad allowed host',
      text: 'registries:\n  - {name: corp, url: "https://r.example.com", allowHosts: ["https://s.example.com"]}',
      message: /registries\[0\]\.allowHosts\[0\]: invalid host/,
    },
  ];
  for (const entry of cases) {
    it(entry.name, async () => {
      const message = await rejection(entry.text, entry.env);
      assert.match(message, entry.message);
      assert.ok(message.startsWith(join(dir, 'bad.yaml')), `message names the file: ${message}`);
    });
  }

  it('never puts a secret in a message', async () => {
    const message = await rejection('signing:\n  keys:\n    - {id: a, secretEnv: SHORT}', {
      SHORT: 'tiny-secret-value',
    });
    assert.doesNotMatch(message, /tiny-secret-value/);
  });

  it('names a file that cannot be read', async () => {
    await assert.rejects(
      loadConfig(join(dir, 'missing.yaml'), ENV),
      /cannot read config file .*missing\.yaml/,
    );
  });
});
