/**
 * A short soak of the embedded registry under concurrent clients with HTTP Basic users from
 * `htpasswd -B`. Workers push blobs (monolithic and chunked) and manifests to a shared tag and
 * to tags of their own, and pull while they push, while garbage collection runs alongside. The
 * load is bounded in request count and time, and every byte is checked at the end.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { resolveRegistryAccess } from '../../src/registry/config.js';
import { gc } from '../../src/storage/gc.js';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { skipUnless } from '../helpers/tools.js';
import { imageManifest, request, sha256 } from './client.js';
import { basic, bcryptLine } from './users.js';

const WORKERS = 8;
const ROUNDS = 6;
const DEADLINE_MS = 60_000;
const AUTH = basic('alice', 'alice-secret');

describe('concurrent clients', { skip: skipUnless('htpasswd') }, () => {
  let work: string;
  let registry: EmbeddedRegistry;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidrop-soak-'));
    const htpasswd = join(work, 'htpasswd');
    await writeFile(htpasswd, `${await bcryptLine('alice', 'alice-secret')}\n`);
    const resolved = await resolveRegistryAccess(
      { htpasswd },
      { listenHost: '0.0.0.0', dataDir: join(work, 'data') },
    );
    registry = await startEmbeddedRegistry(join(work, 'data'), resolved);
  });

  after(async () => {
    await registry.close();
    await rm(work, { recursive: true, force: true });
  });

  it('parallel pushes and pulls lose nothing', async () => {
    const started = Date.now();
    const base = registry.url;
    const pushed: { tag: string; digest: string; layers: { digest: string; data: Buffer }[] }[] = [];
    const withinDeadline = (): void =>
      assert.ok(Date.now() - started < DEADLINE_MS, 'soak ran past its deadline');

    const pushBlob = async (name: string, data: Buffer, chunked: boolean): Promise<string> => {
      const digest = sha256(data);
      if (!chunked) {
        const response = await request(base, `/v2/${name}/blobs/uploads/?digest=${digest}`, {
          method: 'POST',
          headers: { Authorization: AUTH },
          body: data,
        });
        assert.equal(response.status, 201, await response.clone().text());
        return digest;
      }
      const start = await request(base, `/v2/${name}/blobs/uploads/`, {
        method: 'POST',
        headers: { Authorization: AUTH },
      });
      assert.equal(start.status, 202);
      let location = start.headers.get('location') ?? '';
      const half = Math.floor(data.length / 2);
      const patch = await request(base, location, {
        method: 'PATCH',
        headers: {
          Authorization: AUTH,
          'Content-Type': 'application/octet-stream',
          'Content-Range': `0-${half - 1}`,
        },
        body: data.subarray(0, half),
      });
      assert.equal(patch.status, 202);
      location = patch.headers.get('location') ?? location;
      const separator = location.includes('?') ? '&' : '?';
      const done = await request(base, `${location}${separator}digest=${digest}`, {
        method: 'PUT',
        headers: {
          Authorization: AUTH,
          'Content-Type': 'application/octet-stream',
          'Content-Range': `${half}-${data.length - 1}`,
        },
        body: data.subarray(half),
      });
      assert.equal(done.status, 201, await done.clone().text());
      return digest;
    };

    const worker = async (id: number): Promise<void> => {
      for (let round = 0; round < ROUNDS; round++) {
        withinDeadline();
        const config = Buffer.from(JSON.stringify({ worker: id, round }));
        const layer = randomBytes(4096 + id * 512 + round);
        const configDigest = await pushBlob('soak/app', config, false);
        const layerDigest = await pushBlob('soak/app', layer, (id + round) % 2 === 0);
        const manifest = imageManifest(configDigest, config.length, [
          { digest: layerDigest, size: layer.length },
        ]);
        const tag = `w${id}-r${round}`;
        for (const reference of [tag, 'latest']) {
          const response = await request(base, `/v2/soak/app/manifests/${reference}`, {
            method: 'PUT',
            headers: { Authorization: AUTH, 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
            body: manifest,
          });
          assert.equal(response.status, 201, await response.clone().text());
        }
        pushed.push({
          tag,
          digest: sha256(manifest),
          layers: [
            { digest: configDigest, data: config },
            { digest: layerDigest, data: layer },
          ],
        });

        const latest = await request(base, '/v2/soak/app/manifests/latest');
        assert.equal(latest.status, 200);
        assert.equal(
          sha256(Buffer.from(await latest.arrayBuffer())),
          latest.headers.get('docker-content-digest'),
        );
      }
    };

    const collector = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        await gc(registry.store);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };

    await Promise.all([...Array.from({ length: WORKERS }, (_, id) => worker(id)), collector()]);

    assert.equal(pushed.length, WORKERS * ROUNDS);
    const tags = (await (await request(base, '/v2/soak/app/tags/list')).json()) as { tags: string[] };
    assert.equal(tags.tags.length, WORKERS * ROUNDS + 1);
    const latest = await request(base, '/v2/soak/app/manifests/latest', { method: 'HEAD' });
    assert.ok(pushed.some((entry) => entry.digest === latest.headers.get('docker-content-digest')));

    for (const entry of pushed) {
      const manifest = await request(base, `/v2/soak/app/manifests/${entry.tag}`);
      assert.equal(manifest.headers.get('docker-content-digest'), entry.digest, entry.tag);
      await manifest.arrayBuffer();
      for (const layer of entry.layers) {
        const blob = await request(base, `/v2/soak/app/blobs/${layer.digest}`);
        assert.equal(blob.status, 200, `${entry.tag} ${layer.digest}`);
        assert.ok(Buffer.from(await blob.arrayBuffer()).equals(layer.data), `${entry.tag} ${layer.digest}`);
      }
    }
  });
});
