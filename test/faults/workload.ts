/**
 * A push workload for fault and load tests: workers that upload blobs (in chunks or in one request),
 * push manifests under fixed tags and move a tag of their own, recording only what the registry
 * acknowledged, so a check afterwards knows exactly what must be served.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';

/** What the registry acknowledged, and what was in flight when a fault struck. */
export interface Acknowledged {
  /** `repository` and `digest` of every blob that got its `201`. */
  blobs: { repository: string; digest: string; size: number }[];
  /** Every tag that got its `201`, with the manifest digest it names. */
  tags: Map<string, string>;
  /** Manifest digests sent to a moving tag after the last acknowledged one, per tag. */
  inFlight: Map<string, Set<string>>;
}

/** Returns an empty record. */
export function acknowledged(): Acknowledged {
  return { blobs: [], tags: new Map(), inFlight: new Map() };
}

export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * Uploads `data` to `repository`: `chunks` PATCH requests then a closing PUT, or one `POST ?digest=`
 * when `chunks` is 0. Resolves to whether the registry acknowledged it.
 */
export async function uploadBlob(
  base: string,
  repository: string,
  data: Buffer,
  chunks: number,
  signal?: AbortSignal,
): Promise<boolean> {
  const digest = sha256(data);
  if (chunks === 0) {
    const response = await fetch(`${base}/v2/${repository}/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      body: data,
      ...(signal ? { signal } : {}),
    });
    await response.arrayBuffer();
    return response.status === 201;
  }
  const started = await fetch(`${base}/v2/${repository}/blobs/uploads/`, {
    method: 'POST',
    ...(signal ? { signal } : {}),
  });
  await started.arrayBuffer();
  if (started.status !== 202) return false;
  let location = new URL(started.headers.get('location')!, base);
  const size = Math.ceil(data.length / chunks);
  for (let offset = 0; offset < data.length; offset += size) {
    const piece = data.subarray(offset, Math.min(data.length, offset + size));
    const response = await fetch(location, {
      method: 'PATCH',
      headers: {
        'Content-Type': 'application/octet-stream',
        'Content-Range': `${offset}-${offset + piece.length - 1}`,
      },
      body: piece,
      ...(signal ? { signal } : {}),
    });
    await response.arrayBuffer();
    if (response.status !== 202) return false;
    location = new URL(response.headers.get('location')!, base);
  }
  location.searchParams.set('digest', digest);
  const closed = await fetch(location, { method: 'PUT', ...(signal ? { signal } : {}) });
  await closed.arrayBuffer();
  return closed.status === 201;
}

/** Returns the bytes of an OCI image manifest over an empty config and `layers`. */
export function manifestBytes(layers: { digest: string; size: number }[], note: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.ocidrop.release.v1',
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256('{}'), size: 2, data: 'e30=' },
      layers: layers.map((layer) => ({ mediaType: 'application/octet-stream', ...layer })),
      annotations: { 'org.opencontainers.image.description': note },
    }),
  );
}

/** Pushes manifest bytes under `tag`; resolves to whether the registry acknowledged it. */
export async function putManifest(
  base: string,
  repository: string,
  tag: string,
  body: Buffer,
  signal?: AbortSignal,
): Promise<boolean> {
  const response = await fetch(`${base}/v2/${repository}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    body,
    ...(signal ? { signal } : {}),
  });
  await response.arrayBuffer();
  return response.status === 201;
}

/** Options of {@link runWorker}. */
export interface WorkerOptions {
  base: string;
  /** Worker number; names its repository and tags. */
  id: number;
  /** Stops the worker when it passes this time (`Date.now()`), or when `signal` aborts. */
  until: number;
  signal?: AbortSignal;
  /** Largest blob in bytes. */
  maxBlobSize: number;
  /** Repository shared by all workers, where identical content is pushed at once. */
  shared: string;
  record: Acknowledged;
}

/**
 * Pushes rounds of one unique blob and one blob every worker shares, a manifest under a new tag,
 * and the same manifest under the worker's moving tag, until the deadline or a failure.
 */
export async function runWorker(options: WorkerOptions): Promise<number> {
  const { base, id, record } = options;
  const repository = `load/worker${id}`;
  const moving = `${repository}:latest`;
  await uploadBlob(base, repository, Buffer.from('{}'), 0, options.signal);
  let round = 0;
  try {
    while (Date.now() < options.until && !options.signal?.aborted) {
      round++;
      const unique = randomBytes(1 + Math.floor(Math.random() * options.maxBlobSize));
      const sharedData = Buffer.from(`shared content of round ${round % 5}\n`.repeat(1000));
      const layers: { digest: string; size: number }[] = [];
      for (const [data, target] of [
        [unique, repository],
        [sharedData, repository],
        [sharedData, options.shared],
      ] as const) {
        if (!(await uploadBlob(base, target, data, round % 3, options.signal))) return round;
        record.blobs.push({ repository: target, digest: sha256(data), size: data.length });
        if (target === repository) layers.push({ digest: sha256(data), size: data.length });
      }
      const manifest = manifestBytes(layers, `worker ${id} round ${round}`);
      const digest = sha256(manifest);
      if (!(await putManifest(base, repository, `r${round}`, manifest, options.signal))) return round;
      record.tags.set(`${repository}:r${round}`, digest);
      const pending = record.inFlight.get(moving) ?? new Set();
      pending.add(digest);
      record.inFlight.set(moving, pending);
      if (!(await putManifest(base, repository, 'latest', manifest, options.signal))) return round;
      record.tags.set(moving, digest);
      record.inFlight.set(moving, new Set());
    }
  } catch (error) {
    // A fault ends the worker; what it had acknowledged stays recorded.
    if (
      options.signal?.aborted ||
      (error as Error).name === 'TypeError' ||
      (error as Error).name === 'AbortError'
    )
      return round;
    throw error;
  }
  return round;
}

/**
 * Reads the tag lists and moving tags of `workers` workers until `until` or the first connection
 * failure, and returns the statuses that were neither 200 nor 404. A reader that sees a
 * half-written `index.json` or manifest gets a 5xx, which the caller reports.
 */
export async function runReader(base: string, workers: number, until: number): Promise<string[]> {
  const unexpected: string[] = [];
  try {
    while (Date.now() < until) {
      for (let id = 0; id < workers; id++) {
        for (const path of [`/v2/load/worker${id}/tags/list`, `/v2/load/worker${id}/manifests/latest`]) {
          const response = await fetch(`${base}${path}`, {
            headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
          });
          const body = await response.text();
          if (response.status !== 200 && response.status !== 404)
            unexpected.push(`${response.status} ${path}: ${body.slice(0, 200)}`);
          if (response.status === 200 && path.endsWith('/latest')) JSON.parse(body);
        }
      }
    }
  } catch (error) {
    // The server went away (a fault test killed it); what was read so far stands.
    if ((error as Error).name !== 'TypeError') unexpected.push(`read failed: ${(error as Error).message}`);
  }
  return unexpected;
}

/**
 * Checks that every acknowledged blob is served with its digest and every acknowledged tag names
 * the acknowledged manifest, or one sent after it when the fault cut its acknowledgement off.
 */
export async function verifyAcknowledged(base: string, record: Acknowledged): Promise<void> {
  for (const blob of record.blobs) {
    const response = await fetch(`${base}/v2/${blob.repository}/blobs/${blob.digest}`);
    assert.equal(response.status, 200, `blob ${blob.digest} of ${blob.repository}`);
    const data = Buffer.from(await response.arrayBuffer());
    assert.equal(data.length, blob.size, `size of ${blob.digest}`);
    assert.equal(sha256(data), blob.digest);
  }
  for (const [reference, digest] of record.tags) {
    const colon = reference.lastIndexOf(':');
    const [repository, tag] = [reference.slice(0, colon), reference.slice(colon + 1)];
    const response = await fetch(`${base}/v2/${repository}/manifests/${tag}`, {
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    assert.equal(response.status, 200, `tag ${reference}`);
    const body = Buffer.from(await response.arrayBuffer());
    const served = sha256(body);
    const allowed = new Set([digest, ...(record.inFlight.get(reference) ?? [])]);
    assert.ok(allowed.has(served), `tag ${reference} names ${served}, expected ${digest}`);
    assert.equal(response.headers.get('docker-content-digest'), served);
    const manifest = JSON.parse(body.toString('utf8')) as { layers: { digest: string; size: number }[] };
    for (const layer of manifest.layers) {
      const head = await fetch(`${base}/v2/${repository}/blobs/${layer.digest}`, { method: 'HEAD' });
      assert.equal(head.status, 200, `layer ${layer.digest} of ${reference}`);
      assert.equal(Number(head.headers.get('content-length')), layer.size);
    }
  }
}
