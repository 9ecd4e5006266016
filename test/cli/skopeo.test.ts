/**
 * Artifacts written by another tool: an OCI image layout in the form oras pushes (a file blob and a
 * directory as tar+gzip with the `io.deis.oras.content.*` annotations) is copied into the embedded
 * registry by skopeo and pulled back with ocidrop. The other way, skopeo copies what ocidrop pushed
 * into a layout on disk, with the same digests.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { EMPTY_CONFIG, EMPTY_CONFIG_DESCRIPTOR } from '../../src/client/artifact.js';
import { digestOf } from '../../src/oci/digest.js';
import { encodeManifest, type ImageManifest } from '../../src/oci/manifest.js';
import { runCli } from '../helpers/cli.js';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { skipUnless } from '../helpers/tools.js';

const run = promisify(execFile);

// A ustar header block; the archive is built by hand so that it does not depend on ocidrop's packer.
function tarEntry(path: string, content: string | undefined, mode: number): Buffer {
  const block = Buffer.alloc(512);
  const body = Buffer.from(content ?? '');
  block.write(path, 0);
  block.write(`${mode.toString(8).padStart(7, '0')}\0`, 100);
  block.write('0000000\0', 108);
  block.write('0000000\0', 116);
  block.write(`${body.byteLength.toString(8).padStart(11, '0')}\0`, 124);
  block.write('00000000000\0', 136);
  block.write(content === undefined ? '5' : '0', 156);
  block.write('ustar\u000000', 257);
  block.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const padding = Buffer.alloc((512 - (body.byteLength % 512)) % 512);
  return Buffer.concat([block, body, padding]);
}

describe('artifacts copied by skopeo', { skip: skipUnless('skopeo') }, () => {
  let registry: EmbeddedRegistry;
  let work: string;

  before(async () => {
    registry = await startEmbeddedRegistry();
    work = await mkdtemp(join(tmpdir(), 'ocidrop-skopeo-'));
  });

  after(async () => {
    await registry?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('pull reads an oras-style artifact pushed by skopeo', async () => {
    const layout = join(work, 'layout');
    await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
    const writeBlob = async (bytes: Buffer) => {
      const digest = digestOf(bytes);
      await writeFile(join(layout, 'blobs', 'sha256', digest.slice(7)), bytes);
      return digest;
    };

    const readme = Buffer.from('read me\n');
    const tar = Buffer.concat([
      tarEntry('docs/', undefined, 0o755),
      tarEntry('docs/guide.txt', 'the guide\n', 0o644),
      tarEntry('docs/run.sh', '#!/bin/sh\n', 0o755),
      Buffer.alloc(1024),
    ]);
    const archive = gzipSync(tar);
    await writeBlob(EMPTY_CONFIG);
    const manifest: ImageManifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.example.bundle',
      config: EMPTY_CONFIG_DESCRIPTOR,
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar',
          digest: await writeBlob(readme),
          size: readme.byteLength,
          annotations: { 'org.opencontainers.image.title': 'README.txt' },
        },
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: await writeBlob(archive),
          size: archive.byteLength,
          annotations: {
            'org.opencontainers.image.title': 'docs',
            'io.deis.oras.content.digest': digestOf(tar),
            'io.deis.oras.content.unpack': 'true',
          },
        },
      ],
    };
    const manifestBytes = encodeManifest(manifest);
    const manifestDigest = await writeBlob(manifestBytes);
    await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: manifest.mediaType,
            digest: manifestDigest,
            size: manifestBytes.byteLength,
            annotations: { 'org.opencontainers.image.ref.name': '1.0' },
          },
        ],
      }),
    );

    await run('skopeo', [
      'copy',
      '--dest-tls-verify=false',
      `oci:${layout}:1.0`,
      `docker://${registry.host}/bundle:1.0`,
    ]);

    const output = join(work, 'out');
    const pulled = await runCli(['pull', `${registry.host}/bundle:1.0`, '-o', output]);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.deepEqual((await readdir(output)).sort(), ['README.txt', 'docs']);
    assert.deepEqual(await readFile(join(output, 'README.txt')), readme);
    assert.equal(await readFile(join(output, 'docs', 'guide.txt'), 'utf8'), 'the guide\n');
    assert.equal((await stat(join(output, 'docs', 'run.sh'))).mode & 0o777, 0o755);
  });

  it('skopeo copies an ocidrop folder push to disk', async () => {
    const tree = join(work, 'src', 'site');
    await mkdir(tree, { recursive: true });
    await writeFile(join(tree, 'index.html'), '<p>hi</p>\n');
    const pushed = await runCli(['push', `${registry.host}/site:1`, tree, '--json']);
    assert.equal(pushed.code, 0, pushed.stderr);
    const blob = (JSON.parse(pushed.stdout) as { files: { digest: string }[] }).files[0]!.digest;

    const layout = join(work, 'copied');
    await run('skopeo', [
      'copy',
      '--src-tls-verify=false',
      `docker://${registry.host}/site:1`,
      `oci:${layout}:1`,
    ]);
    const archive = await readFile(join(layout, 'blobs', 'sha256', blob.slice(7)));
    assert.equal(digestOf(archive), blob, 'the tar+gzip blob arrives unchanged');
    const { stdout } = await run('tar', ['-tzf', join(layout, 'blobs', 'sha256', blob.slice(7))]);
    assert.deepEqual(stdout.trim().split('\n'), ['site/', 'site/index.html']);
  });

  it('oci layouts as push, pull and copy targets', async () => {
    const layout = join(work, 'release');
    const tree = join(work, 'layout-src', 'docs');
    await mkdir(tree, { recursive: true });
    await writeFile(join(tree, 'guide.txt'), 'guide\n');
    const readme = join(work, 'layout-src', 'README.txt');
    await writeFile(readme, 'read me\n');

    const pushed = await runCli(['push', '--oci-layout', `${layout}:1.0`, tree, readme]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.match(pushed.stdout, new RegExp(`^pushed ${layout}:1\\.0@sha256:[0-9a-f]{64}`));
    const { stdout } = await run('skopeo', ['inspect', '--raw', `oci:${layout}:1.0`]);
    const manifest = JSON.parse(stdout) as ImageManifest;
    assert.deepEqual(
      manifest.layers.map((layer) => layer.annotations?.['org.opencontainers.image.title']),
      ['docs', 'README.txt'],
    );

    const output = join(work, 'layout-out');
    const pulled = await runCli(['pull', '--oci-layout', `${layout}:1.0`, '-o', output]);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(await readFile(join(output, 'docs', 'guide.txt'), 'utf8'), 'guide\n');
    assert.equal(await readFile(join(output, 'README.txt'), 'utf8'), 'read me\n');

    const uploaded = await runCli([
      'copy',
      '--from-oci-layout',
      `${layout}:1.0`,
      `${registry.host}/from-layout`,
    ]);
    assert.equal(uploaded.code, 0, uploaded.stderr);
    const notes = join(work, 'NOTES.md');
    await writeFile(notes, 'notes\n');
    const attached = await runCli([
      'attach',
      `${registry.host}/from-layout:1.0`,
      notes,
      '--artifact-type',
      'application/vnd.ocidrop.notes.v1',
    ]);
    assert.equal(attached.code, 0, attached.stderr);

    const exported = join(work, 'export');
    const downloaded = await runCli([
      'copy',
      `${registry.host}/from-layout:1.0`,
      '--to-oci-layout',
      exported,
      '--referrers',
      '--json',
    ]);
    assert.equal(downloaded.code, 0, downloaded.stderr);
    assert.equal((JSON.parse(downloaded.stdout) as { manifests: number }).manifests, 2);
    const index = JSON.parse(await readFile(join(exported, 'index.json'), 'utf8')) as {
      manifests: { annotations?: Record<string, string> }[];
    };
    const names = index.manifests.map((entry) => entry.annotations?.['org.opencontainers.image.ref.name']);
    assert.ok(names.includes('1.0'), 'the tag');
    assert.ok(
      names.some((name) => /^sha256-[0-9a-f]{64}$/.test(name ?? '')),
      'the referrers under the fallback tag',
    );
    const copiedBack = await run('skopeo', ['inspect', '--raw', `oci:${exported}:1.0`]);
    assert.equal(digestOf(copiedBack.stdout), digestOf(stdout), 'the same manifest bytes');
  });
});
