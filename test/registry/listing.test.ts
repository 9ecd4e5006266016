/**
 * Tag listing, the catalog and the referrers API of the embedded registry, each test named
 * after the rule of the OCI Distribution Specification v1.1 (`spec.md`) that it checks.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { errorCode, pushImage, request, sha256 } from './client.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

let registry: EmbeddedRegistry;
let base: string;

before(async () => {
  registry = await startEmbeddedRegistry();
  base = registry.url;
  for (const tag of ['c', 'a', 'e', 'b', 'd']) await pushImage(base, 'list/tags', tag, `layer ${tag}`);
});

after(async () => {
  await registry.close();
});

describe('listing tags', () => {
  it('tags/list returns every tag in lexical order', async () => {
    const response = await request(base, '/v2/list/tags/tags/list');
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { name: 'list/tags', tags: ['a', 'b', 'c', 'd', 'e'] });
  });

  it('n limits the page and Link points at the next one', async () => {
    const first = await request(base, '/v2/list/tags/tags/list?n=2');
    assert.deepEqual(((await first.json()) as { tags: string[] }).tags, ['a', 'b']);
    const link = first.headers.get('link');
    assert.equal(link, '</v2/list/tags/tags/list?n=2&last=b>; rel="next"');

    const next = link?.slice(1, link.indexOf('>')) ?? '';
    const second = await request(base, next);
    assert.deepEqual(((await second.json()) as { tags: string[] }).tags, ['c', 'd']);
    const third = await request(base, '/v2/list/tags/tags/list?n=2&last=d');
    assert.deepEqual(((await third.json()) as { tags: string[] }).tags, ['e']);
    assert.equal(third.headers.get('link'), null);
  });

  it('last alone returns the tags after it', async () => {
    const response = await request(base, '/v2/list/tags/tags/list?last=c');
    assert.deepEqual(((await response.json()) as { tags: string[] }).tags, ['d', 'e']);
  });

  it('n=0 returns an empty list', async () => {
    const response = await request(base, '/v2/list/tags/tags/list?n=0');
    assert.deepEqual(((await response.json()) as { tags: string[] }).tags, []);
  });

  it('invalid n answers 400 PAGINATION_NUMBER_INVALID', async () => {
    const response = await request(base, '/v2/list/tags/tags/list?n=-1');
    assert.equal(response.status, 400);
    assert.equal(await errorCode(response), 'PAGINATION_NUMBER_INVALID');
  });

  it('unknown repository answers 404 NAME_UNKNOWN', async () => {
    const response = await request(base, '/v2/list/none/tags/list');
    assert.equal(response.status, 404);
    assert.equal(await errorCode(response), 'NAME_UNKNOWN');
  });
});

describe('catalog', () => {
  it('_catalog lists repositories with n, last and Link', async () => {
    await pushImage(base, 'list/other', 'v1', 'other');
    await pushImage(base, 'list/nested/deep', 'v1', 'deep');
    const all = await request(base, '/v2/_catalog');
    const { repositories } = (await all.json()) as { repositories: string[] };
    assert.deepEqual(
      repositories.filter((name) => name.startsWith('list/')),
      ['list/nested/deep', 'list/other', 'list/tags'],
    );
    const page = await request(base, '/v2/_catalog?n=1');
    assert.equal(((await page.json()) as { repositories: string[] }).repositories.length, 1);
    assert.match(page.headers.get('link') ?? '', /^<\/v2\/_catalog\?n=1&last=[^>]+>; rel="next"$/);
  });
});

describe('referrers', () => {
  let subject: { manifest: string; digest: string };
  let signature: { manifest: string; digest: string };
  let sbom: { manifest: string; digest: string };

  before(async () => {
    subject = await pushImage(base, 'list/referrers', 'v1', 'subject');
    const descriptor = {
      mediaType: OCI_MANIFEST,
      digest: subject.digest,
      size: Buffer.byteLength(subject.manifest),
    };
    signature = await pushImage(base, 'list/referrers', 'sig', 'signature', {
      artifactType: 'application/example.signature',
      subject: descriptor,
      annotations: { 'org.example.signer': 'ci' },
    });
    sbom = await pushImage(base, 'list/referrers', 'sbom', 'sbom', {
      artifactType: 'application/example.sbom',
      subject: descriptor,
    });
  });

  it('referrers returns an index of manifests with that subject', async () => {
    const response = await request(base, `/v2/list/referrers/referrers/${subject.digest}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), OCI_INDEX);
    const index = (await response.json()) as {
      mediaType: string;
      manifests: { digest: string; artifactType: string; annotations?: Record<string, string> }[];
    };
    assert.equal(index.mediaType, OCI_INDEX);
    const digests = index.manifests.map((entry) => entry.digest).sort();
    assert.deepEqual(digests, [signature.digest, sbom.digest].sort());
    const signed = index.manifests.find((entry) => entry.digest === signature.digest);
    assert.equal(signed?.artifactType, 'application/example.signature');
    assert.equal(signed?.annotations?.['org.example.signer'], 'ci');
  });

  it('artifactType filter answers with OCI-Filters-Applied', async () => {
    const response = await request(
      base,
      `/v2/list/referrers/referrers/${subject.digest}?artifactType=application/example.sbom`,
    );
    assert.equal(response.headers.get('oci-filters-applied'), 'artifactType');
    const index = (await response.json()) as { manifests: { digest: string }[] };
    assert.deepEqual(
      index.manifests.map((entry) => entry.digest),
      [sbom.digest],
    );
  });

  it('digest without referrers returns an empty index', async () => {
    const response = await request(base, `/v2/list/referrers/referrers/${sha256('nothing refers')}`);
    assert.equal(response.status, 200);
    assert.deepEqual(((await response.json()) as { manifests: unknown[] }).manifests, []);
  });

  it('malformed digest answers 400 DIGEST_INVALID', async () => {
    const response = await request(base, '/v2/list/referrers/referrers/sha256:short');
    assert.equal(response.status, 400);
    assert.equal(await errorCode(response), 'DIGEST_INVALID');
  });
});
