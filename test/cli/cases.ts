/**
 * The push, pull, url and tags cases, shared by every registry the client is tested against:
 * each test file passes a function that starts its registry.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { access, constants, mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { EMPTY_CONFIG, EMPTY_CONFIG_DESCRIPTOR } from '../../src/client/artifact.js';
import { RegistryClient } from '../../src/client/registry-client.js';
import { digestOf } from '../../src/oci/digest.js';
import { encodeManifest, type ImageManifest, parseManifest } from '../../src/oci/manifest.js';
import { formatPlatform, hostPlatform } from '../../src/oci/platform.js';
import { runCli } from '../helpers/cli.js';
import {
  EXTRAS,
  FIXTURES,
  PLATFORMS,
  standInExecutable,
  VERSIONS,
  writeReleaseTree,
} from '../helpers/fixtures.js';

const run = promisify(execFile);

/** A registry under test: the host part of references, and how to stop it. */
export interface RegistryUnderTest {
  host: string;
  close(): Promise<void>;
}

const FILE_NAMES = ['hello', 'hello.toml', 'DejaVuSansMono.ttf'];

/** Defines the shared cases as one suite named `name`, against the registry that `start` returns. */
export function defineRegistryCases(name: string, start: () => Promise<RegistryUnderTest>): void {
  describe(name, () => {
    let registry: RegistryUnderTest;
    let work: string;
    let client: RegistryClient;
    let repository: string;

    before(async () => {
      registry = await start();
      work = await mkdtemp(join(tmpdir(), 'ocidrop-cases-'));
      client = new RegistryClient(registry.host);
      repository = `${registry.host}/hello`;
      const tree = await writeReleaseTree(join(work, 'dist'));
      for (const version of VERSIONS) {
        const builds = Object.values(tree[version]!);
        const result = await runCli(['push', `${repository}:${version}`, ...builds, ...EXTRAS]);
        assert.equal(result.code, 0, `push ${version} failed: ${result.stderr}`);
        assert.match(result.stdout, new RegExp(`pushed ${repository}:${version}@sha256:[0-9a-f]{64}`));
      }
    });

    after(async () => {
      await client?.close();
      await registry?.close();
      if (work) await rm(work, { recursive: true, force: true });
    });

    it('pull writes the host platform files', async (t) => {
      const output = join(work, 'pull-host');
      const result = await runCli(['pull', `${repository}:1.1.0`, '-o', output]);
      if (formatPlatform(hostPlatform()) !== 'linux/amd64') {
        t.skip('the fixtures hold a runnable build for linux/amd64 only');
        return;
      }
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '', 'nothing on stderr when it is not a terminal');
      assert.deepEqual((await readdir(output)).sort(), [...FILE_NAMES].sort());
      await access(join(output, 'hello'), constants.X_OK);
      assert.equal((await stat(join(output, 'hello.toml'))).mode & 0o777, 0o644);
      const { stdout } = await run(join(output, 'hello'), ['--version']);
      assert.equal(stdout.trim(), 'hello 1.1.0 linux/amd64');
      assert.deepEqual(await readFile(join(output, 'hello.toml')), await readFile(EXTRAS[0]!));
      assert.deepEqual(await readFile(join(output, 'DejaVuSansMono.ttf')), await readFile(EXTRAS[1]!));
    });

    it('pull --platform writes that build', async () => {
      const output = join(work, 'pull-windows');
      const result = await runCli([
        'pull',
        `${repository}:1.0.0`,
        '-o',
        output,
        '--platform',
        'windows/amd64',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual((await readdir(output)).sort(), ['DejaVuSansMono.ttf', 'hello.exe', 'hello.toml']);
      assert.deepEqual(
        await readFile(join(output, 'hello.exe')),
        standInExecutable('windows/amd64', '1.0.0'),
      );
      await access(join(output, 'hello.exe'), constants.X_OK);
    });

    it('pull of a missing platform lists the platforms', async () => {
      const output = join(work, 'pull-missing-platform');
      const result = await runCli(['pull', `${repository}:1.1.0`, '-o', output, '--platform', 'plan9/386']);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /no build for plan9\/386/);
      for (const { platform } of PLATFORMS) assert.ok(result.stderr.includes(platform), `lists ${platform}`);
      assert.equal(result.stderr.trim().split('\n').length, 1, 'one error line');
      await assert.rejects(stat(output), { code: 'ENOENT' });
    });

    it('url output downloads with wget', async () => {
      const result = await runCli(['url', `${repository}:1.1.0`, '--platform', 'linux/amd64']);
      assert.equal(result.code, 0, result.stderr);
      const urls = result.stdout.trim().split('\n');
      assert.equal(urls.length, 3);
      const expected = [
        await readFile(join(FIXTURES, 'hello', '1.1.0', 'linux-amd64', 'hello')),
        await readFile(EXTRAS[0]!),
        await readFile(EXTRAS[1]!),
      ];
      const folder = join(work, 'wget');
      await mkdir(folder, { recursive: true });
      for (const [i, url] of urls.entries()) {
        assert.match(url, new RegExp(`^http://${registry.host}/v2/hello/blobs/sha256:[0-9a-f]{64}$`));
        const target = join(folder, `file-${i}`);
        await run('wget', ['-q', '-O', target, url]);
        assert.deepEqual(await readFile(target), expected[i], `bytes of ${url}`);
      }
    });

    it('url --json lists every platform', async () => {
      const result = await runCli(['url', `${repository}:1.0.0`, '--json']);
      assert.equal(result.code, 0, result.stderr);
      const entries = JSON.parse(result.stdout) as Record<string, unknown>[];
      assert.equal(entries.length, PLATFORMS.length * 3);
      for (const entry of entries) {
        assert.deepEqual(Object.keys(entry).sort(), ['digest', 'name', 'platform', 'size', 'url']);
        assert.equal(entry['url'], `http://${registry.host}/v2/hello/blobs/${entry['digest']}`);
        assert.equal(typeof entry['size'], 'number');
      }
      const windows = entries
        .filter((entry) => entry['platform'] === 'windows/amd64')
        .map((entry) => entry['name']);
      assert.deepEqual(windows, ['hello.exe', 'hello.toml', 'DejaVuSansMono.ttf']);
    });

    it('tags lists both versions', async () => {
      const result = await runCli(['tags', repository]);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(result.stdout.trim().split('\n').sort(), [...VERSIONS]);
    });

    it('tags follows Link pagination', async () => {
      assert.deepEqual((await client.tags('hello', { pageSize: 1 })).sort(), [...VERSIONS]);
    });

    it('push writes the artifact layout', async () => {
      const fetched = await client.getManifest('hello', '1.1.0');
      assert.equal(fetched.mediaType, 'application/vnd.oci.image.index.v1+json');
      const parsed = parseManifest(fetched.bytes, fetched.mediaType);
      assert.equal(parsed.kind, 'index');
      const index = parsed.manifest;
      assert.equal(index.artifactType, 'application/vnd.ocidrop.release.v1');
      assert.equal(index.annotations?.['org.opencontainers.image.version'], '1.1.0');
      assert.ok(!Number.isNaN(Date.parse(index.annotations?.['org.opencontainers.image.created'] ?? '')));
      assert.deepEqual(
        index.manifests.map((entry) => formatPlatform(entry.platform!)).sort(),
        PLATFORMS.map((entry) => entry.platform).sort(),
      );
      for (const entry of index.manifests) {
        assert.equal(entry.mediaType, 'application/vnd.oci.image.manifest.v1+json');
        assert.equal(entry.artifactType, 'application/vnd.ocidrop.release.v1');
      }

      const linux = index.manifests.find((entry) => formatPlatform(entry.platform!) === 'linux/amd64')!;
      const child = await client.getManifest('hello', linux.digest);
      const manifest = parseManifest(child.bytes, child.mediaType).manifest as ImageManifest;
      assert.equal(manifest.artifactType, 'application/vnd.ocidrop.release.v1');
      assert.deepEqual(manifest.config, EMPTY_CONFIG_DESCRIPTOR);
      assert.equal(manifest.annotations?.['org.opencontainers.image.version'], '1.1.0');
      assert.ok(manifest.annotations?.['org.opencontainers.image.created']);
      assert.deepEqual(
        manifest.layers.map((layer) => [
          layer.mediaType,
          layer.annotations?.['org.opencontainers.image.title'],
        ]),
        FILE_NAMES.map((title) => ['application/octet-stream', title]),
      );
      assert.deepEqual(
        manifest.layers.map((layer) => layer.annotations?.['io.ocidrop.file.main']),
        ['true', undefined, undefined],
      );
      assert.equal(manifest.layers[0]?.annotations?.['io.ocidrop.file.mode'], '0755');
      const config = await client.getBlob('hello', EMPTY_CONFIG_DESCRIPTOR.digest);
      const chunks: Buffer[] = [];
      for await (const chunk of config.stream) chunks.push(chunk as Buffer);
      assert.equal(Buffer.concat(chunks).toString(), '{}');
    });

    it('pull rejects an unsafe title and writes nothing', async () => {
      const good = Buffer.from('harmless\n');
      const evil = Buffer.from('evil\n');
      for (const content of [good, evil]) {
        await client.uploadBlob(
          'hello',
          { digest: digestOf(content), size: content.byteLength },
          () => content,
        );
      }
      await client.uploadBlob('hello', EMPTY_CONFIG_DESCRIPTOR, () => EMPTY_CONFIG);
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.example.other',
        config: EMPTY_CONFIG_DESCRIPTOR,
        layers: [good, evil].map((content, i) => ({
          mediaType: 'application/octet-stream',
          digest: digestOf(content),
          size: content.byteLength,
          annotations: { 'org.opencontainers.image.title': i === 0 ? 'readme.txt' : '../evil' },
        })),
      };
      await client.putManifest(
        'hello',
        'evil',
        encodeManifest(manifest),
        'application/vnd.oci.image.manifest.v1+json',
      );

      const parent = join(work, 'evil-parent');
      const output = join(parent, 'out');
      await mkdir(output, { recursive: true });
      const result = await runCli(['pull', `${repository}:evil`, '-o', output]);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /unsafe file title "\.\.\/evil"/);
      assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
      assert.deepEqual(await readdir(output), []);
      assert.deepEqual(await readdir(parent), ['out']);
    });

    it('push in chunks round-trips', async () => {
      const program = join(work, 'dist', '1.1.0', 'linux-amd64', 'hello');
      const pushed = await runCli([
        'push',
        `${registry.host}/chunked:1.1.0`,
        program,
        ...EXTRAS,
        '--chunk-size',
        '64KiB',
        '--json',
      ]);
      assert.equal(pushed.code, 0, pushed.stderr);
      const files = (JSON.parse(pushed.stdout) as { files: { uploaded: boolean }[] }).files;
      assert.ok(
        files.every((file) => file.uploaded),
        'every blob was new to the repository',
      );

      const output = join(work, 'chunked');
      const pulled = await runCli([
        'pull',
        `${registry.host}/chunked:1.1.0`,
        '-o',
        output,
        '--platform',
        'linux/amd64',
      ]);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.deepEqual(await readFile(join(output, 'hello')), await readFile(program));
      assert.deepEqual(await readFile(join(output, 'DejaVuSansMono.ttf')), await readFile(EXTRAS[1]!));
      assert.deepEqual(await readFile(join(output, 'hello.toml')), await readFile(EXTRAS[0]!));
    });

    it('pull writes two titles of one blob', async () => {
      const content = Buffer.from('same bytes under two names\n');
      const descriptor = {
        mediaType: 'application/octet-stream',
        digest: digestOf(content),
        size: content.byteLength,
      };
      await client.uploadBlob('twins', descriptor, () => content);
      await client.uploadBlob('twins', EMPTY_CONFIG_DESCRIPTOR, () => EMPTY_CONFIG);
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.ocidrop.release.v1',
        config: EMPTY_CONFIG_DESCRIPTOR,
        layers: ['one.txt', 'two.txt'].map((title) => ({
          ...descriptor,
          annotations: { 'org.opencontainers.image.title': title },
        })),
      };
      await client.putManifest(
        'twins',
        '1',
        encodeManifest(manifest),
        'application/vnd.oci.image.manifest.v1+json',
      );

      const output = join(work, 'twins');
      const result = await runCli(['pull', `${registry.host}/twins:1`, '-o', output, '--concurrency', '4']);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual((await readdir(output)).sort(), ['one.txt', 'two.txt']);
      assert.deepEqual(await readFile(join(output, 'one.txt')), content);
      assert.deepEqual(await readFile(join(output, 'two.txt')), content);
    });

    it('pull explains a container image', async () => {
      const imageConfig = Buffer.from(
        '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
      );
      const layer = Buffer.from('not really a tar archive');
      await client.uploadBlob(
        'image',
        { digest: digestOf(imageConfig), size: imageConfig.byteLength },
        () => imageConfig,
      );
      await client.uploadBlob('image', { digest: digestOf(layer), size: layer.byteLength }, () => layer);
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: digestOf(imageConfig),
          size: imageConfig.byteLength,
        },
        layers: [
          {
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
            digest: digestOf(layer),
            size: layer.byteLength,
          },
        ],
      };
      await client.putManifest(
        'image',
        'latest',
        encodeManifest(manifest),
        'application/vnd.oci.image.manifest.v1+json',
      );

      const output = join(work, 'image');
      const result = await runCli(['pull', `${registry.host}/image`, '-o', output]);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /is a container image/);
      assert.match(result.stderr, /org\.opencontainers\.image\.title/);
    });

    it('push rejects clashing titles, naming both paths', async () => {
      const result = await runCli([
        'push',
        `${repository}:clash`,
        EXTRAS[0]!,
        join(FIXTURES, 'extras', 'config', '..', 'config', 'hello.toml'),
        join(work, 'dist', '1.0.0', 'linux-amd64', 'hello'),
      ]);
      assert.equal(result.code, 0, 'one path named twice is one file');

      const copy = join(work, 'copy');
      await mkdir(copy, { recursive: true });
      await run('cp', [EXTRAS[0]!, join(copy, 'hello.toml')]);
      const clash = await runCli(['push', `${repository}:clash`, EXTRAS[0]!, join(copy, 'hello.toml')]);
      assert.notEqual(clash.code, 0);
      assert.ok(clash.stderr.includes(EXTRAS[0]!), clash.stderr);
      assert.ok(clash.stderr.includes(join(copy, 'hello.toml')), clash.stderr);
    });

    it('pull of a missing tag names the reference', async () => {
      const result = await runCli(['pull', `${repository}:9.9.9`, '-o', join(work, 'missing-tag')]);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, new RegExp(`${repository}:9\\.9\\.9 not found \\(MANIFEST_UNKNOWN\\)`));
      assert.match(result.stderr, new RegExp(`ocidrop tags ${repository}`));
    });

    it('push of a single manifest without builds', async () => {
      const result = await runCli(['push', `${registry.host}/extras:1.0`, ...EXTRAS, '--json']);
      assert.equal(result.code, 0, result.stderr);
      const pushed = JSON.parse(result.stdout) as { mediaType: string; platforms: string[] };
      assert.equal(pushed.mediaType, 'application/vnd.oci.image.manifest.v1+json');
      assert.deepEqual(pushed.platforms, []);
      const output = join(work, 'extras');
      const pulled = await runCli(['pull', `${registry.host}/extras:1.0`, '-o', output]);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.deepEqual((await readdir(output)).sort(), ['DejaVuSansMono.ttf', 'hello.toml']);
    });
  });
}
