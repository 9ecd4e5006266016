/**
 * Interoperability with skopeo, a real registry client: an OCI image layout copied into the
 * embedded registry and back out unchanged, `inspect`, `list-tags` and `delete`, and the store's
 * own per-repository OCI layout read by skopeo straight from disk.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { FIXTURES } from '../helpers/fixtures.js';

const run = promisify(execFile);

let registry: EmbeddedRegistry;
let work: string;
let layout: string;
let manifestDigest: string;

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run('skopeo', args, { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Writes an OCI image layout holding one image: an empty config and the `hello` program as its layer. */
async function writeLayout(folder: string): Promise<string> {
  const blobs = join(folder, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (data: Buffer): Promise<string> => {
    const digest = sha256(data);
    await writeFile(join(blobs, digest.slice(7)), data);
    return digest;
  };
  const config = Buffer.from(
    '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
  );
  const layer = await readFile(join(FIXTURES, 'hello', '1.0.0', 'linux-amd64', 'hello'));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.example.program',
      config: {
        mediaType: 'application/vnd.oci.empty.v1+json',
        digest: await put(Buffer.from('{}')),
        size: 2,
      },
      layers: [{ mediaType: 'application/octet-stream', digest: await put(layer), size: layer.byteLength }],
      annotations: { 'org.example.config': sha256(config) },
    }),
  );
  const digest = await put(manifest);
  await writeFile(join(folder, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  await writeFile(
    join(folder, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest,
          size: manifest.byteLength,
          annotations: { 'org.opencontainers.image.ref.name': 'v1' },
        },
      ],
    }),
  );
  return digest;
}

before(async () => {
  registry = await startEmbeddedRegistry();
  work = await mkdtemp(join(tmpdir(), 'ocidrop-skopeo-'));
  layout = join(work, 'source');
  manifestDigest = await writeLayout(layout);
});

after(async () => {
  await registry.close();
  await rm(work, { recursive: true, force: true });
});

describe('skopeo against the embedded registry', () => {
  it('copy into the registry and back out is unchanged', async () => {
    await skopeo(
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${layout}:v1`,
      `docker://${registry.host}/interop/hello:v1`,
    );
    const back = join(work, 'back');
    await skopeo(
      'copy',
      '--quiet',
      '--src-tls-verify=false',
      `docker://${registry.host}/interop/hello:v1`,
      `oci:${back}:v1`,
    );

    const index = JSON.parse(await readFile(join(back, 'index.json'), 'utf8')) as {
      manifests: { digest: string }[];
    };
    assert.equal(index.manifests[0]?.digest, manifestDigest);
    const original = await readFile(join(FIXTURES, 'hello', '1.0.0', 'linux-amd64', 'hello'));
    const copied = await readFile(join(back, 'blobs', 'sha256', sha256(original).slice(7)));
    assert.ok(copied.equals(original), 'the layer comes back byte for byte');
  });

  it('inspect returns the pushed manifest and config', async () => {
    const raw = await skopeo(
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${registry.host}/interop/hello:v1`,
    );
    assert.equal(sha256(raw), manifestDigest);
    const config = await skopeo(
      'inspect',
      '--raw',
      '--config',
      '--tls-verify=false',
      `docker://${registry.host}/interop/hello:v1`,
    );
    assert.equal(config, '{}');
  });

  it('list-tags returns the tags', async () => {
    await skopeo(
      'copy',
      '--quiet',
      '--dest-tls-verify=false',
      `oci:${layout}:v1`,
      `docker://${registry.host}/interop/hello:v2`,
    );
    const output = JSON.parse(
      await skopeo('list-tags', '--tls-verify=false', `docker://${registry.host}/interop/hello`),
    ) as { Tags: string[] };
    assert.deepEqual(output.Tags, ['v1', 'v2']);
  });

  it('store layout is readable by skopeo from disk', async () => {
    const folder = registry.store.repositoryFolder('interop/hello');
    const raw = await skopeo('inspect', '--raw', `oci:${folder}:v1`);
    assert.equal(sha256(raw), manifestDigest);
  });

  it('delete removes the manifest', async () => {
    await skopeo('delete', '--tls-verify=false', `docker://${registry.host}/interop/hello@${manifestDigest}`);
    const response = await fetch(`${registry.url}/v2/interop/hello/manifests/v1`);
    assert.equal(response.status, 404);
  });
});
