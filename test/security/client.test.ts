/**
 * Threats against the client: a registry that sends it elsewhere (token realm, upload `Location`,
 * redirects), that tries to collect credentials on another origin, or that serves titles and
 * archives which try to write outside the output folder or to fill the disk.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Agent } from 'undici';
import { isInternalHostname } from '../../src/client/destination.js';
import { UnsafeArchiveError, UnsafeTitleError } from '../../src/client/errors.js';
import { pull } from '../../src/client/pull.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { digestOf, toDigest } from '../../src/oci/digest.js';
import { OcidropError } from '../../src/oci/errors.js';
import { publishRelease } from '../gateway/publish.js';
import { runCli } from '../helpers/cli.js';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';

const run = promisify(execFile);

const USER = 'alice';
const PASSWORD = 'p4ssw0rd-never-shown';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;

/** A request a test server received. */
interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** A server on 127.0.0.1 that records every request and replies with `respond`. */
interface Recorder {
  url: string;
  host: string;
  seen: Seen[];
  close(): Promise<void>;
}

async function startRecorder(
  respond: (seen: Seen, res: import('node:http').ServerResponse) => void = (_, res) =>
    res.writeHead(404).end(),
): Promise<Recorder> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers };
    seen.push(entry);
    req.resume();
    req.on('end', () => respond(entry, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    host: `127.0.0.1:${port}`,
    seen,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * A dispatcher that resolves every host name to 127.0.0.1, so a registry can go by a public name
 * (`registry.example.com`) in a test while the bytes stay on loopback.
 */
function publicNameDispatcher(): Agent {
  return new Agent({
    connect: {
      lookup: (_host: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
        if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
        else callback(null, '127.0.0.1', 4);
      },
    } as never,
  });
}

const credentials = async () => ({ username: USER, password: PASSWORD });

describe('client requests stay on allowed hosts', () => {
  let catcher: Recorder;

  before(async () => {
    catcher = await startRecorder((_, res) =>
      res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"token":"t"}'),
    );
  });

  after(() => catcher.close());

  it('token realm on a loopback address is refused', async () => {
    const registry = await startRecorder((seen, res) => {
      if (seen.headers.authorization === 'Bearer t')
        return res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${catcher.url}/token",service="x"` }).end();
    });
    const dispatcher = publicNameDispatcher();
    const client = new RegistryClient(`registry.example.com:${new URL(registry.url).port}`, {
      plainHttp: true,
      dispatcher,
      credentials,
    });
    catcher.seen.length = 0;
    try {
      await assert.rejects(client.ping(), OcidropError);
      assert.equal(catcher.seen.length, 0, 'the client contacted the loopback realm');
    } finally {
      await client.close();
      await dispatcher.close();
      await registry.close();
    }
  });

  it('upload Location on a loopback address is refused', async () => {
    const registry = await startRecorder((seen, res) => {
      if (seen.method === 'HEAD') return res.writeHead(404).end();
      if (seen.method === 'POST')
        return res.writeHead(202, { Location: `${catcher.url}/upload`, 'Content-Length': '0' }).end();
      res.writeHead(201).end();
    });
    const dispatcher = publicNameDispatcher();
    const client = new RegistryClient(`registry.example.com:${new URL(registry.url).port}`, {
      plainHttp: true,
      dispatcher,
      credentials,
    });
    catcher.seen.length = 0;
    const data = Buffer.from('blob');
    try {
      await assert.rejects(
        client.uploadBlob('app', { digest: digestOf(data), size: data.length }, () => data),
        OcidropError,
      );
      assert.equal(catcher.seen.length, 0, 'the client sent the blob to a loopback address');
    } finally {
      await client.close();
      await dispatcher.close();
      await registry.close();
    }
  });

  it('redirect to a loopback address is refused', async () => {
    const registry = await startRecorder((_, res) =>
      res.writeHead(307, { Location: `${catcher.url}/blob` }).end(),
    );
    const dispatcher = publicNameDispatcher();
    const client = new RegistryClient(`registry.example.com:${new URL(registry.url).port}`, {
      plainHttp: true,
      dispatcher,
      credentials,
    });
    catcher.seen.length = 0;
    try {
      await assert.rejects(client.getBlob('app', digestOf('x')), OcidropError);
      assert.equal(catcher.seen.length, 0, 'the client followed a redirect to a loopback address');
    } finally {
      await client.close();
      await dispatcher.close();
      await registry.close();
    }
  });

  it('Authorization never follows a redirect to another origin', async () => {
    const registry = await startRecorder((seen, res) => {
      if (seen.headers.authorization !== BASIC)
        return res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="r"' }).end();
      res.writeHead(307, { Location: `${catcher.url}/storage/blob?X-Signature=abc` }).end();
    });
    const client = new RegistryClient(registry.host, { plainHttp: true, credentials });
    catcher.seen.length = 0;
    try {
      await client.getBlob('app', digestOf('x')).then(
        async (reader) => {
          for await (const _ of reader.stream);
        },
        () => undefined,
      );
      assert.ok(
        registry.seen.some((seen) => seen.headers.authorization === BASIC),
        'the registry got the credentials',
      );
      assert.ok(catcher.seen.length > 0, 'the client followed the redirect');
      for (const seen of catcher.seen)
        assert.equal(seen.headers.authorization, undefined, `${seen.url} got Authorization`);
    } finally {
      await client.close();
      await registry.close();
    }
  });

  it('Authorization never reaches an upload Location on another origin', async () => {
    const registry = await startRecorder((seen, res) => {
      if (seen.headers.authorization !== BASIC)
        return res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="r"' }).end();
      if (seen.method === 'HEAD') return res.writeHead(404).end();
      res.writeHead(202, { Location: `${catcher.url}/upload`, 'Content-Length': '0' }).end();
    });
    const client = new RegistryClient(registry.host, { plainHttp: true, credentials, retries: 0 });
    catcher.seen.length = 0;
    const data = Buffer.from('blob');
    try {
      await client
        .uploadBlob('app', { digest: digestOf(data), size: data.length }, () => data)
        .catch(() => undefined);
      for (const seen of catcher.seen)
        assert.equal(seen.headers.authorization, undefined, `${seen.method} ${seen.url} got Authorization`);
    } finally {
      await client.close();
      await registry.close();
    }
  });

  for (const [realmHost, expected] of [
    ['auth.example.com', BASIC],
    ['registry.example.com', BASIC],
    ['auth.registry.example.com', BASIC],
    ['auth.elsewhere.test', undefined],
    ['example.com.elsewhere.test', undefined],
  ] as const) {
    it(`Basic credentials ${expected ? 'reach' : 'never reach'} a realm on ${realmHost}`, async () => {
      const port = new URL(catcher.url).port;
      const registry = await startRecorder((seen, res) => {
        if (seen.headers.authorization === 'Bearer t')
          return res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"name":"app","tags":[]}');
        res
          .writeHead(401, {
            'WWW-Authenticate': `Bearer realm="http://${realmHost}:${port}/token",service="x"`,
          })
          .end();
      });
      const dispatcher = publicNameDispatcher();
      const client = new RegistryClient(`registry.example.com:${new URL(registry.url).port}`, {
        plainHttp: true,
        dispatcher,
        credentials,
      });
      catcher.seen.length = 0;
      try {
        await client.tags('app');
        assert.equal(catcher.seen.length, 1, 'the client requested no token');
        assert.equal(catcher.seen[0]!.headers.authorization, expected);
      } finally {
        await client.close();
        await dispatcher.close();
        await registry.close();
      }
    });
  }

  it('loopback registry may use a loopback realm', async () => {
    const registry = await startRecorder((seen, res) => {
      if (seen.headers.authorization === 'Bearer t')
        return res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"name":"app","tags":[]}');
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${catcher.url}/token",service="x"` }).end();
    });
    const client = new RegistryClient(registry.host, { plainHttp: true, credentials });
    catcher.seen.length = 0;
    try {
      await client.tags('app');
      assert.equal(catcher.seen.length, 1);
      assert.equal(catcher.seen[0]!.headers.authorization, BASIC);
    } finally {
      await client.close();
      await registry.close();
    }
  });

  for (const [hostname, internal] of [
    ['localhost', true],
    ['api.localhost', true],
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['0.0.0.0', true],
    ['10.1.2.3', true],
    ['172.16.0.1', true],
    ['172.31.255.255', true],
    ['192.168.1.1', true],
    ['169.254.169.254', true],
    ['[::1]', true],
    ['[fe80::1]', true],
    ['[fd00::1]', true],
    ['[::ffff:7f00:1]', true],
    ['[::ffff:a9fe:a9fe]', true],
    ['172.32.0.1', false],
    ['8.8.8.8', false],
    ['[2001:db8::1]', false],
    ['registry.example.com', false],
  ] as const) {
    it(`host ${hostname} is ${internal ? 'internal' : 'public'}`, () => {
      assert.equal(isInternalHostname(hostname), internal);
    });
  }

  it('errors name no credentials', async () => {
    const registry = await startRecorder((_, res) =>
      res
        .writeHead(500, { 'Content-Type': 'application/json' })
        .end('{"errors":[{"code":"UNKNOWN","message":"boom"}]}'),
    );
    const client = new RegistryClient(registry.host, { plainHttp: true, credentials, retries: 0 });
    try {
      const error = await client.getManifest('app', 'latest').then(
        () => assert.fail('expected an error'),
        (caught: unknown) => caught as Error,
      );
      const text = `${error.message} ${JSON.stringify(error)} ${String(error.stack)}`;
      assert.ok(!text.includes(PASSWORD));
      assert.ok(!text.includes(BASIC.slice('Basic '.length)));
    } finally {
      await client.close();
      await registry.close();
    }
  });

  it('CLI errors name no credentials', async () => {
    const home = await mkdtemp(join(tmpdir(), 'ocidrop-docker-config-'));
    const registry = await startRecorder((_, res) =>
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="r"' }).end(),
    );
    try {
      await writeFile(
        join(home, 'config.json'),
        JSON.stringify({ auths: { [registry.host]: { auth: BASIC.slice(6) } } }),
      );
      const result = await runCli(['pull', `${registry.host}/app:1.0.0`, '-o', join(home, 'out')], {
        env: { DOCKER_CONFIG: home, OCIDROP_DEBUG: '1' },
      });
      assert.notEqual(result.code, 0);
      assert.ok(
        registry.seen.some((seen) => seen.headers.authorization === BASIC),
        'the CLI sent the stored credentials',
      );
      for (const output of [result.stdout, result.stderr]) {
        assert.ok(!output.includes(PASSWORD));
        assert.ok(!output.includes(BASIC.slice(6)));
      }
    } finally {
      await registry.close();
      await rm(home, { recursive: true, force: true });
    }
  });
});

describe('client writes stay in the output folder', () => {
  let registry: EmbeddedRegistry;
  let root: string;

  before(async () => {
    registry = await startEmbeddedRegistry();
    root = await mkdtemp(join(tmpdir(), 'ocidrop-pull-'));
  });

  after(async () => {
    await registry.close();
    await rm(root, { recursive: true, force: true });
  });

  const hostileTitles = [
    '../escaped',
    '../../escaped',
    '/tmp/escaped',
    'a/../../escaped',
    '..',
    '.',
    '',
    'sub/file',
    'a\\..\\b',
    'nul\0byte',
  ];
  for (const [index, title] of hostileTitles.entries()) {
    it(`title ${JSON.stringify(title)} is rejected`, async () => {
      const repository = `titles/case${index}`;
      await publishRelease(registry.url, repository, '1.0.0', [
        {
          platform: 'linux/amd64',
          files: [
            { name: 'hello', data: Buffer.from('\x7fELF'), main: true },
            { name: title, data: Buffer.from('x') },
          ],
        },
      ]);
      const parent = join(root, `case${index}`);
      const output = join(parent, 'out', 'deeper');
      await mkdir(output, { recursive: true });
      await assert.rejects(
        pull(`${registry.host}/${repository}:1.0.0`, output, {
          platform: { os: 'linux', architecture: 'amd64' },
        }),
        UnsafeTitleError,
      );
      assert.deepEqual(await readdir(parent), ['out']);
      assert.deepEqual(await readdir(join(parent, 'out')), ['deeper']);
      assert.deepEqual(await readdir(output), []);
    });
  }

  /** Publishes `archive` as a directory blob, the way `ocidrop push` publishes a folder. */
  async function publishDirectory(repository: string, name: string, archive: Buffer): Promise<void> {
    await publishRelease(registry.url, repository, '1.0.0', [
      {
        platform: 'linux/amd64',
        files: [
          { name: 'hello', data: Buffer.from('\x7fELF'), main: true },
          {
            name,
            data: archive,
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
            annotations: {
              'org.opencontainers.image.title': name,
              'io.deis.oras.content.unpack': 'true',
            },
          },
        ],
      },
    ]);
  }

  async function tarGz(folder: string, args: string[]): Promise<Buffer> {
    const file = join(folder, 'archive.tar.gz');
    await run('tar', ['-czf', file, ...args], { cwd: folder });
    return readFile(file);
  }

  it('decompression bomb stops at the size limit', async () => {
    const work = await mkdtemp(join(root, 'bomb-'));
    await mkdir(join(work, 'assets'));
    // 64 MiB of zeros compress to about 64 KiB.
    await writeFile(join(work, 'assets', 'zeros'), Buffer.alloc(64 * 1024 * 1024));
    const archive = await tarGz(work, ['assets']);
    assert.ok(archive.length < 1024 * 1024);
    await publishDirectory('bombs/zeros', 'assets', archive);
    const output = join(work, 'out');
    await mkdir(output);
    await assert.rejects(
      pull(`${registry.host}/bombs/zeros:1.0.0`, output, {
        platform: { os: 'linux', architecture: 'amd64' },
        maxUnpackSize: 8 * 1024 * 1024,
      }),
      UnsafeArchiveError,
    );
    const left = (await readdir(output, { recursive: true }))
      .map(String)
      .filter((entry) => entry !== 'hello' && !entry.startsWith('.ocidrop'));
    assert.deepEqual(left, []);
  });

  it('archive entry outside its folder is rejected', async () => {
    const work = await mkdtemp(join(root, 'slip-'));
    await mkdir(join(work, 'inner', 'assets'), { recursive: true });
    await writeFile(join(work, 'escaped'), 'escaped');
    await writeFile(join(work, 'inner', 'assets', 'ok'), 'ok');
    const file = join(work, 'slip.tar.gz');
    // -P keeps the `..` in the entry name.
    await run('tar', ['-czPf', file, 'assets/ok', '../escaped'], { cwd: join(work, 'inner') });
    await publishDirectory('bombs/slip', 'assets', await readFile(file));
    const output = join(work, 'a', 'b', 'out');
    await mkdir(output, { recursive: true });
    await assert.rejects(
      pull(`${registry.host}/bombs/slip:1.0.0`, output, { platform: { os: 'linux', architecture: 'amd64' } }),
      UnsafeArchiveError,
    );
    assert.deepEqual(await readdir(join(work, 'a', 'b')), ['out']);
    assert.deepEqual(await readdir(join(work, 'a')), ['b']);
  });

  it('archive symlink out of its folder is rejected', async () => {
    const work = await mkdtemp(join(root, 'link-'));
    await mkdir(join(work, 'assets'));
    await symlink('/etc', join(work, 'assets', 'etc'));
    await publishDirectory('bombs/link', 'assets', await tarGz(work, ['assets']));
    const output = join(work, 'out');
    await mkdir(output);
    await assert.rejects(
      pull(`${registry.host}/bombs/link:1.0.0`, output, { platform: { os: 'linux', architecture: 'amd64' } }),
      UnsafeArchiveError,
    );
  });

  it('blob with a wrong digest is never renamed into place', async () => {
    const output = join(root, 'mismatch');
    await mkdir(output);
    const good = Buffer.from('\x7fELF good');
    await publishRelease(registry.url, 'mismatch/app', '1.0.0', [
      { platform: 'linux/amd64', files: [{ name: 'hello', data: good, main: true }] },
    ]);
    // Overwrite the stored blob behind the registry's back, as a corrupted disk would.
    const digest = toDigest(digestOf(good));
    await writeFile(
      join(registry.store.root, 'blobs', 'sha256', digest.slice('sha256:'.length)),
      Buffer.from('\x7fELF evil'),
    );
    await assert.rejects(
      pull(`${registry.host}/mismatch/app:1.0.0`, output, {
        platform: { os: 'linux', architecture: 'amd64' },
      }),
      OcidropError,
    );
    assert.deepEqual(
      (await readdir(output)).filter((entry) => entry === 'hello'),
      [],
    );
  });
});
