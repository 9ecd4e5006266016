/**
 * The cases of every command that talks to a registry, shared by every registry the client is tested against:
 * each test file passes a function that starts its registry.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  access,
  chmod,
  constants,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  readlink,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
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
      assert.equal(result.code, 1, 'one path named twice is an error');
      assert.ok(result.stderr.includes(`${EXTRAS[0]!} is given twice`), result.stderr);

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

    it('push of a folder round-trips', async () => {
      const tree = join(work, 'site-src', 'site');
      await mkdir(join(tree, 'bin'), { recursive: true });
      await writeFile(join(tree, 'index.html'), '<h1>hello</h1>\n');
      await writeFile(join(tree, 'bin', 'run'), '#!/bin/sh\necho run\n');
      await chmod(join(tree, 'bin', 'run'), 0o755);
      await symlink('index.html', join(tree, 'home.html'));

      const env = { SOURCE_DATE_EPOCH: '1700000000' };
      const first = await runCli(['push', `${registry.host}/site:1`, tree, '--json'], { env });
      assert.equal(first.code, 0, first.stderr);
      const second = await runCli(['push', `${registry.host}/site:2`, tree, '--json'], { env });
      assert.equal(second.code, 0, second.stderr);
      const one = JSON.parse(first.stdout) as {
        digest: string;
        files: { digest: string; directory: boolean }[];
      };
      const two = JSON.parse(second.stdout) as { digest: string; files: { digest: string }[] };
      assert.equal(one.files[0]?.digest, two.files[0]?.digest, 'same folder, same blob');
      assert.equal(one.files[0]?.directory, true);

      const fetched = await client.getManifest('site', '1');
      const manifest = parseManifest(fetched.bytes, fetched.mediaType).manifest as ImageManifest;
      const layer = manifest.layers[0]!;
      assert.equal(layer.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
      assert.equal(layer.annotations?.['org.opencontainers.image.title'], 'site');
      assert.equal(layer.annotations?.['io.deis.oras.content.unpack'], 'true');
      assert.match(layer.annotations?.['io.deis.oras.content.digest'] ?? '', /^sha256:[0-9a-f]{64}$/);
      assert.equal(manifest.annotations?.['org.opencontainers.image.created'], '2023-11-14T22:13:20.000Z');

      const again = await runCli(['push', `${registry.host}/site:1`, tree, '--json'], { env });
      assert.equal(
        (JSON.parse(again.stdout) as { digest: string }).digest,
        one.digest,
        'same inputs, same manifest',
      );

      const output = join(work, 'site-out');
      const pulled = await runCli(['pull', `${registry.host}/site:1`, '-o', output]);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.deepEqual(await readdir(output), ['site']);
      assert.equal(await readFile(join(output, 'site', 'index.html'), 'utf8'), '<h1>hello</h1>\n');
      assert.equal((await stat(join(output, 'site', 'bin', 'run'))).mode & 0o777, 0o755);
      assert.equal(await readlink(join(output, 'site', 'home.html')), 'index.html');

      const refused = await runCli(['pull', `${registry.host}/site:1`, '-o', output]);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /already exists: move it away, or pull with --overwrite/);
      await writeFile(join(output, 'site', 'stale.txt'), 'left from before');
      const replaced = await runCli(['pull', `${registry.host}/site:1`, '-o', output, '--overwrite']);
      assert.equal(replaced.code, 0, replaced.stderr);
      await assert.rejects(stat(join(output, 'site', 'stale.txt')), { code: 'ENOENT' });
      assert.deepEqual(await readdir(output), ['site'], 'no staging folder left');
    });

    it('pull rejects an escaping folder blob', async () => {
      const header = (path: string, type: '0' | '2', linkpath = '') => {
        const block = Buffer.alloc(512);
        block.write(path, 0);
        block.write('0000644\0', 100);
        block.write('0000000\0', 108);
        block.write('0000000\0', 116);
        block.write('00000000000\0', 124);
        block.write('00000000000\0', 136);
        block.write(type, 156);
        block.write(linkpath, 157);
        block.write('ustar\u000000', 257);
        block.fill(' ', 148, 156);
        let sum = 0;
        for (const byte of block) sum += byte;
        block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
        return block;
      };
      const tar = Buffer.concat([header('site/out', '2', '../../..'), Buffer.alloc(1024)]);
      const blob = gzipSync(tar);
      await client.uploadBlob('escape', { digest: digestOf(blob), size: blob.byteLength }, () => blob);
      await client.uploadBlob('escape', EMPTY_CONFIG_DESCRIPTOR, () => EMPTY_CONFIG);
      const manifest: ImageManifest = {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.ocidrop.release.v1',
        config: EMPTY_CONFIG_DESCRIPTOR,
        layers: [
          {
            mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
            digest: digestOf(blob),
            size: blob.byteLength,
            annotations: { 'org.opencontainers.image.title': 'site', 'io.deis.oras.content.unpack': 'true' },
          },
        ],
      };
      await client.putManifest('escape', '1', encodeManifest(manifest), manifest.mediaType!);

      const parent = join(work, 'escape-parent');
      const output = join(parent, 'out');
      await mkdir(output, { recursive: true });
      const result = await runCli(['pull', `${registry.host}/escape:1`, '-o', output]);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /unsafe archive entry "site\/out"/);
      assert.deepEqual(await readdir(output), []);
      assert.deepEqual(await readdir(parent), ['out']);
    });

    it('push records annotations and artifact type', async () => {
      const annotationFile = join(work, 'annotations.json');
      await writeFile(
        annotationFile,
        JSON.stringify({
          $manifest: { 'org.opencontainers.image.description': 'from the file' },
          'hello.toml': { 'com.example.kind': 'config' },
        }),
      );
      const result = await runCli([
        'push',
        `${registry.host}/annotated:1`,
        EXTRAS[0]!,
        '--annotation',
        'com.example.channel=stable',
        '--annotation-file',
        annotationFile,
        '--artifact-type',
        'application/vnd.example.tool.v1',
      ]);
      assert.equal(result.code, 0, result.stderr);
      const fetched = await client.getManifest('annotated', '1');
      const manifest = parseManifest(fetched.bytes, fetched.mediaType).manifest as ImageManifest;
      assert.equal(manifest.artifactType, 'application/vnd.example.tool.v1');
      assert.equal(manifest.annotations?.['com.example.channel'], 'stable');
      assert.equal(manifest.annotations?.['org.opencontainers.image.description'], 'from the file');
      assert.equal(manifest.layers[0]?.annotations?.['com.example.kind'], 'config');

      const unknown = join(work, 'annotations-unknown.json');
      await writeFile(unknown, JSON.stringify({ 'missing.txt': { a: 'b' } }));
      const rejected = await runCli([
        'push',
        `${registry.host}/annotated:2`,
        EXTRAS[0]!,
        '--annotation-file',
        unknown,
      ]);
      assert.notEqual(rejected.code, 0);
      assert.match(rejected.stderr, /"missing\.txt", which is not among the pushed files/);
      const bad = await runCli(['push', `${registry.host}/annotated:2`, EXTRAS[0]!, '-a', 'novalue']);
      assert.match(bad.stderr, /invalid annotation "novalue": write KEY=VALUE/);
    });

    it('resolve, tag and manifest commands', async () => {
      const resolved = await runCli(['resolve', `${repository}:1.1.0`]);
      assert.equal(resolved.code, 0, resolved.stderr);
      const digest = resolved.stdout.trim();
      assert.equal(digest, (await client.getManifest('hello', '1.1.0')).digest);

      const tagged = await runCli(['tag', `${repository}:1.1.0`, 'stable', 'latest', '--json']);
      assert.equal(tagged.code, 0, tagged.stderr);
      assert.deepEqual(JSON.parse(tagged.stdout), { digest, tags: ['stable', 'latest'] });
      assert.equal((await client.getManifest('hello', 'stable')).digest, digest);
      const badTag = await runCli(['tag', `${repository}:1.1.0`, '.hidden']);
      assert.match(badTag.stderr, /invalid tag "\.hidden"/);

      const got = await runCli(['manifest', 'get', `${repository}@${digest}`]);
      assert.equal(got.code, 0, got.stderr);
      assert.equal(digestOf(Buffer.from(got.stdout.trimEnd())), digest, 'the exact stored bytes');

      const file = join(work, 'manifest.json');
      await writeFile(file, got.stdout.trimEnd());
      const put = await runCli(['manifest', 'put', `${registry.host}/manifests:copy`, file]);
      assert.notEqual(put.code, 0, 'the children are missing in that repository');
      const putSame = await runCli(['manifest', 'put', `${repository}:again`, file, '--json']);
      assert.equal(putSame.code, 0, putSame.stderr);
      assert.deepEqual(JSON.parse(putSame.stdout), { digest });

      for (const tag of ['stable', 'latest', 'again']) {
        const fetched = await client.getManifest('hello', tag);
        assert.equal(fetched.digest, digest);
      }
    });

    it('blob put, get and delete', async () => {
      const file = join(work, 'blob.bin');
      await writeFile(file, Buffer.alloc(200_000, 7));
      const put = await runCli([
        'blob',
        'put',
        `${registry.host}/blobs`,
        file,
        '--chunk-size',
        '64KiB',
        '--json',
      ]);
      assert.equal(put.code, 0, put.stderr);
      const pushed = JSON.parse(put.stdout) as { digest: string; size: number; uploaded: boolean };
      assert.equal(pushed.digest, digestOf(await readFile(file)));
      assert.equal(pushed.size, 200_000);
      assert.equal(pushed.uploaded, true);

      const output = join(work, 'blob-out.bin');
      const get = await runCli(['blob', 'get', `${registry.host}/blobs@${pushed.digest}`, '-o', output]);
      assert.equal(get.code, 0, get.stderr);
      assert.deepEqual(await readFile(output), await readFile(file));
      const small = join(work, 'small.txt');
      await writeFile(small, 'to stdout\n');
      const smallPut = await runCli(['blob', 'put', `${registry.host}/blobs`, small]);
      assert.equal(smallPut.code, 0, smallPut.stderr);
      const piped = await runCli(['blob', 'get', `${registry.host}/blobs@${smallPut.stdout.trim()}`]);
      assert.equal(piped.code, 0, piped.stderr);
      assert.equal(piped.stdout, 'to stdout\n');

      const removed = await runCli(['blob', 'delete', `${registry.host}/blobs@${pushed.digest}`]);
      assert.equal(removed.code, 0, removed.stderr);
      assert.equal(await client.headBlob('blobs', pushed.digest as ReturnType<typeof digestOf>), undefined);
      const noDigest = await runCli(['blob', 'get', `${registry.host}/blobs:1`]);
      assert.match(noDigest.stderr, /needs a reference with a digest/);
    });

    it('attach, discover and copy with referrers', async () => {
      const pushed = await runCli(['push', `${registry.host}/release:1.0`, ...EXTRAS]);
      assert.equal(pushed.code, 0, pushed.stderr);
      const notes = join(work, 'NOTES.md');
      await writeFile(notes, '# 1.0\n\nFirst release.\n');
      const attached = await runCli([
        'attach',
        `${registry.host}/release:1.0`,
        notes,
        '--artifact-type',
        'application/vnd.ocidrop.notes.v1',
        '--json',
      ]);
      assert.equal(attached.code, 0, attached.stderr);
      const note = JSON.parse(attached.stdout) as { digest: string };
      const signature = await runCli([
        'attach',
        `${registry.host}/release@${note.digest}`,
        '--artifact-type',
        'application/vnd.example.signature',
        '-a',
        'com.example.signer=test',
        '--json',
      ]);
      assert.equal(signature.code, 0, signature.stderr);

      const discovered = await runCli(['discover', `${registry.host}/release:1.0`, '--json']);
      assert.equal(discovered.code, 0, discovered.stderr);
      const tree = JSON.parse(discovered.stdout) as {
        referrers: { digest: string; artifactType: string; referrers: { artifactType: string }[] }[];
      };
      assert.equal(tree.referrers.length, 1);
      assert.equal(tree.referrers[0]?.digest, note.digest);
      assert.equal(tree.referrers[0]?.artifactType, 'application/vnd.ocidrop.notes.v1');
      assert.equal(tree.referrers[0]?.referrers[0]?.artifactType, 'application/vnd.example.signature');
      const text = await runCli(['discover', `${registry.host}/release:1.0`]);
      assert.match(text.stdout, /└── application\/vnd\.ocidrop\.notes\.v1 sha256:/);
      const filtered = await runCli([
        'discover',
        `${registry.host}/release:1.0`,
        '--artifact-type',
        'x/none',
        '--json',
      ]);
      assert.deepEqual((JSON.parse(filtered.stdout) as { referrers: unknown[] }).referrers, []);

      const copied = await runCli([
        'copy',
        `${registry.host}/release:1.0`,
        `${registry.host}/mirror`,
        '--referrers',
        '--json',
      ]);
      assert.equal(copied.code, 0, copied.stderr);
      const summary = JSON.parse(copied.stdout) as {
        target: string;
        manifests: number;
        blobs: { mounted: number };
      };
      assert.equal(summary.target, `${registry.host}/mirror:1.0`);
      assert.equal(summary.manifests, 3, 'the release, the notes and the signature');
      assert.ok(summary.blobs.mounted > 0, 'blobs mounted within one registry');
      const mirrored = await runCli(['discover', `${registry.host}/mirror:1.0`, '--json']);
      const mirrorTree = JSON.parse(mirrored.stdout) as { referrers: { digest: string }[] };
      assert.equal(mirrorTree.referrers[0]?.digest, note.digest);
      const output = join(work, 'mirror-out');
      const pulled = await runCli(['pull', `${registry.host}/mirror:1.0`, '-o', output]);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.deepEqual((await readdir(output)).sort(), ['DejaVuSansMono.ttf', 'hello.toml']);
    });

    it('push --from mounts blobs', async () => {
      const result = await runCli([
        'push',
        `${registry.host}/mounted:1.0`,
        ...EXTRAS,
        '--from',
        `${registry.host}/release`,
        '--json',
      ]);
      assert.equal(result.code, 0, result.stderr);
      const files = (JSON.parse(result.stdout) as { files: { uploaded: boolean }[] }).files;
      assert.deepEqual(
        files.map((file) => file.uploaded),
        [false, false],
        'both files came from the other repository',
      );
      const output = join(work, 'mounted');
      const pulled = await runCli(['pull', `${registry.host}/mounted:1.0`, '-o', output]);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.deepEqual(await readFile(join(output, 'hello.toml')), await readFile(EXTRAS[0]!));
    });

    it('copy copies an index', async () => {
      const copied = await runCli(['copy', `${repository}:1.0.0`, `${registry.host}/copies/hello`, '--json']);
      assert.equal(copied.code, 0, copied.stderr);
      const summary = JSON.parse(copied.stdout) as { digest: string; manifests: number };
      assert.equal(summary.manifests, PLATFORMS.length + 1, 'the index and one manifest per platform');
      assert.equal(summary.digest, (await client.getManifest('hello', '1.0.0')).digest);
      assert.equal((await client.getManifest('copies/hello', '1.0.0')).digest, summary.digest);

      const output = join(work, 'copied-windows');
      const pulled = await runCli([
        'pull',
        `${registry.host}/copies/hello:1.0.0`,
        '-o',
        output,
        '--platform',
        'windows/amd64',
      ]);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.deepEqual(
        await readFile(join(output, 'hello.exe')),
        standInExecutable('windows/amd64', '1.0.0'),
      );
    });

    it('repos lists the repositories', async () => {
      const result = await runCli(['repos', registry.host, '--json']);
      assert.equal(result.code, 0, result.stderr);
      const repositories = JSON.parse(result.stdout) as string[];
      for (const name of ['hello', 'site', 'release']) assert.ok(repositories.includes(name), name);
    });
  });
}
