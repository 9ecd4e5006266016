/**
 * Manifest endpoints of the embedded registry, each test named after the rule of the OCI
 * Distribution Specification v1.1 (`spec.md`) that it checks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { errorCode, imageManifest, pushBlob, pushImage, request, sha256, sha512 } from './client.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

let registry: EmbeddedRegistry;
let base: string;

before(async () => {
  registry = await startEmbeddedRegistry();
  base = registry.url;
});

after(async () => {
  await registry.close();
});

async function putManifest(
  name: string,
  reference: string,
  body: string,
  contentType: string,
): Promise<Response> {
  return request(base, `/v2/${name}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'Content-Type': contentType },
    body,
  });
}

describe('pushing manifests', () => {
  it('PUT by tag answers 201 with Location and digest', async () => {
    const config = await pushBlob(base, 'manifests/tag', '{}');
    const body = imageManifest(config, 2, []);
    const response = await putManifest('manifests/tag', 'v1', body, OCI_MANIFEST);
    assert.equal(response.status, 201);
    assert.equal(response.headers.get('docker-content-digest'), sha256(body));
    assert.equal(response.headers.get('location'), `/v2/manifests/tag/manifests/${sha256(body)}`);
  });

  it('PUT by digest stores an untagged manifest', async () => {
    const config = await pushBlob(base, 'manifests/digest', '{}');
    const body = imageManifest(config, 2, [], { annotations: { purpose: 'untagged' } });
    const response = await putManifest('manifests/digest', sha256(body), body, OCI_MANIFEST);
    assert.equal(response.status, 201);
    const fetched = await request(base, `/v2/manifests/digest/manifests/${sha256(body)}`, {
      headers: { Accept: OCI_MANIFEST },
    });
    assert.equal(fetched.status, 200);
    assert.equal(await fetched.text(), body);
    const tags = await request(base, '/v2/manifests/digest/tags/list');
    assert.deepEqual(((await tags.json()) as { tags: string[] }).tags, []);
  });

  it('PUT by digest with another digest answers 400 DIGEST_INVALID', async () => {
    const config = await pushBlob(base, 'manifests/wrong', '{}');
    const body = imageManifest(config, 2, []);
    const response = await putManifest('manifests/wrong', sha256('something else'), body, OCI_MANIFEST);
    assert.equal(response.status, 400);
    assert.equal(await errorCode(response), 'DIGEST_INVALID');
  });

  it('PUT by sha512 digest is verified with sha512', async () => {
    const config = await pushBlob(base, 'manifests/sha512', '{}');
    const body = imageManifest(config, 2, []);
    const response = await putManifest('manifests/sha512', sha512(body), body, OCI_MANIFEST);
    assert.equal(response.status, 201);
    assert.equal(response.headers.get('docker-content-digest'), sha512(body));
    const fetched = await request(base, `/v2/manifests/sha512/manifests/${sha512(body)}`);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.headers.get('docker-content-digest'), sha512(body));
  });

  it('manifest with an unknown blob answers 404 MANIFEST_BLOB_UNKNOWN', async () => {
    const config = await pushBlob(base, 'manifests/missing', '{}');
    const body = imageManifest(config, 2, [{ digest: sha256('not pushed'), size: 10 }]);
    const response = await putManifest('manifests/missing', 'v1', body, OCI_MANIFEST);
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), 'MANIFEST_BLOB_UNKNOWN');
  });

  it('index with an unknown child manifest answers 404 MANIFEST_BLOB_UNKNOWN', async () => {
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: sha256('no such manifest'), size: 16 }],
    });
    const response = await putManifest('manifests/index-missing', 'v1', body, OCI_INDEX);
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), 'MANIFEST_BLOB_UNKNOWN');
  });

  it('index over pushed manifests is accepted', async () => {
    const child = await pushImage(
      base,
      'manifests/index',
      sha256(imageManifest(sha256('{}'), 2, [{ digest: sha256('layer of child'), size: 14 }])),
      'layer of child',
    );
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [
        {
          mediaType: OCI_MANIFEST,
          digest: child.digest,
          size: Buffer.byteLength(child.manifest),
          platform: { os: 'linux', architecture: 'amd64' },
        },
      ],
    });
    const response = await putManifest('manifests/index', 'latest', body, OCI_INDEX);
    assert.equal(response.status, 201);
    const fetched = await request(base, '/v2/manifests/index/manifests/latest', {
      headers: { Accept: OCI_INDEX },
    });
    assert.equal(fetched.headers.get('content-type'), OCI_INDEX);
  });

  it('invalid manifest answers 400 MANIFEST_INVALID', async () => {
    for (const body of [
      'not json',
      '{"schemaVersion":1}',
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] }),
    ]) {
      const response = await putManifest('manifests/invalid', 'v1', body, OCI_MANIFEST);
      assert.equal(response.status, 400, body);
      assert.equal(await errorCode(response), 'MANIFEST_INVALID', body);
    }
  });

  it('manifest over 4 MiB answers 413', async () => {
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      annotations: { big: 'x'.repeat(4 * 1024 * 1024) },
    });
    const response = await putManifest('manifests/big', 'v1', body, OCI_MANIFEST);
    assert.equal(response.status, 413);
    assert.equal(await errorCode(response), 'MANIFEST_INVALID');
  });

  it('invalid tag answers 400 TAG_INVALID', async () => {
    const response = await putManifest('manifests/bad-tag', '-dash', '{}', OCI_MANIFEST);
    assert.equal(response.status, 400);
    assert.equal(await errorCode(response), 'TAG_INVALID');
  });

  it('Docker schema 2 manifest and manifest list are stored as pushed', async () => {
    const config = await pushBlob(base, 'manifests/docker', '{"architecture":"amd64"}');
    const layer = await pushBlob(base, 'manifests/docker', 'docker layer');
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: config, size: 24 },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: layer, size: 12 }],
    });
    assert.equal(
      (await putManifest('manifests/docker', sha256(manifest), manifest, DOCKER_MANIFEST)).status,
      201,
    );
    const list = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [
        {
          mediaType: DOCKER_MANIFEST,
          digest: sha256(manifest),
          size: manifest.length,
          platform: { os: 'linux', architecture: 'amd64' },
        },
      ],
    });
    assert.equal((await putManifest('manifests/docker', 'latest', list, DOCKER_LIST)).status, 201);

    const fetched = await request(base, '/v2/manifests/docker/manifests/latest', {
      headers: { Accept: `${DOCKER_LIST}, ${DOCKER_MANIFEST}` },
    });
    assert.equal(fetched.status, 200);
    assert.equal(fetched.headers.get('content-type'), DOCKER_LIST);
    assert.equal(await fetched.text(), list);
  });

  it('subject answers with OCI-Subject', async () => {
    const subject = await pushImage(base, 'manifests/subject', 'v1', 'subject layer');
    const referrer = await pushImage(base, 'manifests/subject', 'signature', 'signature layer', {
      artifactType: 'application/example.signature',
      subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: Buffer.byteLength(subject.manifest) },
    });
    const head = await request(base, `/v2/manifests/subject/manifests/${referrer.digest}`, {
      method: 'HEAD',
    });
    assert.equal(head.status, 200);
    const again = await putManifest('manifests/subject', 'signature', referrer.manifest, OCI_MANIFEST);
    assert.equal(again.headers.get('oci-subject'), subject.digest);
  });
});

describe('pulling manifests', () => {
  let image: { manifest: string; digest: string };

  before(async () => {
    image = await pushImage(base, 'pull/manifest', 'v1', 'pull layer');
  });

  it('GET by tag and by digest returns the exact bytes', async () => {
    for (const reference of ['v1', image.digest]) {
      const response = await request(base, `/v2/pull/manifest/manifests/${reference}`, {
        headers: { Accept: OCI_MANIFEST },
      });
      assert.equal(response.status, 200, reference);
      assert.equal(response.headers.get('content-type'), OCI_MANIFEST, reference);
      assert.equal(response.headers.get('docker-content-digest'), image.digest, reference);
      assert.equal(await response.text(), image.manifest, reference);
    }
  });

  it('HEAD answers Content-Length and Docker-Content-Digest', async () => {
    const response = await request(base, '/v2/pull/manifest/manifests/v1', { method: 'HEAD' });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-length'), String(Buffer.byteLength(image.manifest)));
    assert.equal(response.headers.get('docker-content-digest'), image.digest);
  });

  it('Accept without the manifest type answers 404 MANIFEST_UNKNOWN', async () => {
    const response = await request(base, '/v2/pull/manifest/manifests/v1', {
      headers: { Accept: DOCKER_MANIFEST },
    });
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), 'MANIFEST_UNKNOWN');
  });

  it('Accept with a wildcard returns the manifest', async () => {
    const response = await request(base, '/v2/pull/manifest/manifests/v1', { headers: { Accept: '*/*' } });
    assert.equal(response.status, 200);
  });

  it('unknown tag answers 404 MANIFEST_UNKNOWN', async () => {
    const response = await request(base, '/v2/pull/manifest/manifests/v9');
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), 'MANIFEST_UNKNOWN');
  });

  it('unknown repository answers 404 NAME_UNKNOWN', async () => {
    const response = await request(base, '/v2/pull/nothing/manifests/v1');
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), 'NAME_UNKNOWN');
  });

  it('manifest is readable as a blob too', async () => {
    const response = await request(base, `/v2/pull/manifest/blobs/${image.digest}`);
    assert.equal(response.status, 200);
    assert.equal(await response.text(), image.manifest);
  });
});

describe('deleting manifests', () => {
  it('DELETE by digest answers 202, then the manifest and its tags are unknown', async () => {
    const image = await pushImage(base, 'delete/manifest', 'v1', 'delete layer');
    const deleted = await request(base, `/v2/delete/manifest/manifests/${image.digest}`, {
      method: 'DELETE',
    });
    assert.equal(deleted.status, 202);
    for (const reference of [image.digest, 'v1']) {
      const response = await request(base, `/v2/delete/manifest/manifests/${reference}`);
      assert.equal(response.status, 404, reference);
      assert.equal(await errorCode(response), 'MANIFEST_UNKNOWN', reference);
    }
    const again = await request(base, `/v2/delete/manifest/manifests/${image.digest}`, { method: 'DELETE' });
    assert.equal(again.status, 404);
  });

  it('DELETE by tag removes only the tag', async () => {
    const image = await pushImage(base, 'delete/tag', 'v1', 'tag layer');
    const deleted = await request(base, '/v2/delete/tag/manifests/v1', { method: 'DELETE' });
    assert.equal(deleted.status, 202);
    assert.equal((await request(base, '/v2/delete/tag/manifests/v1')).status, 404);
    assert.equal((await request(base, `/v2/delete/tag/manifests/${image.digest}`)).status, 200);
  });

  it('moving a tag keeps the old manifest by digest', async () => {
    const first = await pushImage(base, 'delete/move', 'latest', 'first layer');
    const second = await pushImage(base, 'delete/move', 'latest', 'second layer');
    const latest = await request(base, '/v2/delete/move/manifests/latest', { method: 'HEAD' });
    assert.equal(latest.headers.get('docker-content-digest'), second.digest);
    assert.equal(
      (await request(base, `/v2/delete/move/manifests/${first.digest}`, { method: 'HEAD' })).status,
      200,
    );
  });
});
