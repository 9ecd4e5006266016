import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidManifestError } from '../../src/oci/errors.js';
import { MAX_MANIFEST_SIZE, parseManifest } from '../../src/oci/manifest.js';
import { DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST } from '../../src/oci/media-types.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;
const descriptor = { mediaType: 'application/octet-stream', digest: DIGEST, size: 3 };

describe('parseManifest', () => {
  it('parses an image manifest', () => {
    const parsed = parseManifest(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: descriptor, layers: [descriptor] }),
    );
    assert.equal(parsed.kind, 'manifest');
    assert.equal(parsed.mediaType, OCI_MANIFEST);
  });

  it('parses an index and keeps platforms', () => {
    const entry = {
      ...descriptor,
      mediaType: OCI_MANIFEST,
      platform: { os: 'linux', architecture: 'amd64' },
    };
    const parsed = parseManifest(
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [entry] }),
    );
    assert.equal(parsed.kind, 'index');
    assert.deepEqual(parsed.kind === 'index' && parsed.manifest.manifests[0]?.platform, {
      os: 'linux',
      architecture: 'amd64',
    });
  });

  it('takes the media type from Content-Type when the body has none', () => {
    const parsed = parseManifest(
      JSON.stringify({ schemaVersion: 2, config: descriptor, layers: [] }),
      `${DOCKER_MANIFEST}; charset=utf-8`,
    );
    assert.equal(parsed.mediaType, DOCKER_MANIFEST);
  });

  const invalid: [string, unknown, RegExp][] = [
    ['not JSON', '{', /not valid JSON/],
    ['an array', [], /JSON object/],
    ['schemaVersion 1', { schemaVersion: 1, config: descriptor, layers: [] }, /schemaVersion must be 2/],
    ['no layers', { schemaVersion: 2, mediaType: OCI_MANIFEST, config: descriptor }, /"layers" array/],
    [
      'a bad digest',
      {
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: descriptor,
        layers: [{ ...descriptor, digest: 'sha256:x' }],
      },
      /layers\[0\]\.digest/,
    ],
    [
      'a negative size',
      { schemaVersion: 2, mediaType: OCI_MANIFEST, config: { ...descriptor, size: -1 }, layers: [] },
      /config\.size/,
    ],
    [
      'annotations of numbers',
      { schemaVersion: 2, mediaType: OCI_MANIFEST, config: descriptor, layers: [], annotations: { a: 1 } },
      /annotations/,
    ],
    [
      'an unknown media type',
      { schemaVersion: 2, mediaType: 'text/plain', config: descriptor, layers: [] },
      /unsupported manifest media type/,
    ],
    [
      'a platform without os',
      {
        schemaVersion: 2,
        mediaType: OCI_INDEX,
        manifests: [{ ...descriptor, platform: { architecture: 'amd64' } }],
      },
      /platform/,
    ],
  ];
  for (const [name, body, message] of invalid) {
    it(`rejects ${name}`, () => {
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      assert.throws(
        () => parseManifest(text),
        (error: unknown) => error instanceof InvalidManifestError && message.test(error.message),
      );
    });
  }

  it('rejects a body that contradicts Content-Type', () => {
    const text = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptor,
      layers: [],
    });
    assert.throws(() => parseManifest(text, OCI_INDEX), /differs from Content-Type/);
  });

  it('rejects more than 4 MiB', () => {
    assert.throws(() => parseManifest(Buffer.alloc(MAX_MANIFEST_SIZE + 1, 0x20)), /more than the limit/);
  });
});
