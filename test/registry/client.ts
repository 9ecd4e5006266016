/**
 * Small request helpers for the registry tests: plain `fetch` calls, so the tests check the
 * wire format the spec describes and not the project's client.
 */

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

/** Returns `sha256:<hex>` of `data`. */
export function sha256(data: Uint8Array | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Returns `sha512:<hex>` of `data`. */
export function sha512(data: Uint8Array | string): string {
  return `sha512:${createHash('sha512').update(data).digest('hex')}`;
}

/** Sends a request to `base + path`, resolving relative `Location` values the same way. */
export async function request(base: string, path: string, init: RequestInit = {}): Promise<Response> {
  const target = new URL(path, base);
  return fetch(target, { redirect: 'manual', ...init });
}

/** Reads an error body and returns its first code. */
export async function errorCode(response: Response): Promise<string | undefined> {
  const body = (await response.json()) as { errors?: { code: string }[] };
  assert.ok(Array.isArray(body.errors), 'error body has an errors array');
  return body.errors[0]?.code;
}

/** Pushes a blob with a monolithic `POST ?digest=` and returns its digest. */
export async function pushBlob(base: string, name: string, data: Uint8Array | string): Promise<string> {
  const digest = sha256(data);
  const response = await request(base, `/v2/${name}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: typeof data === 'string' ? data : Buffer.from(data),
  });
  assert.equal(response.status, 201, `push of blob ${digest} to ${name}`);
  return digest;
}

/** Starts an upload session and returns its `Location`. */
export async function startSession(base: string, name: string): Promise<string> {
  const response = await request(base, `/v2/${name}/blobs/uploads/`, { method: 'POST' });
  assert.equal(response.status, 202);
  const location = response.headers.get('location');
  assert.ok(location, 'POST answers with a Location');
  return location;
}

/** Adds `?key=value` or `&key=value` to a `Location`. */
export function withQuery(location: string, key: string, value: string): string {
  return `${location}${location.includes('?') ? '&' : '?'}${key}=${encodeURIComponent(value)}`;
}

/** Builds a minimal OCI image manifest over a config and layers that the caller pushed. */
export function imageManifest(
  config: string,
  configSize: number,
  layers: { digest: string; size: number }[],
  extra: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: configSize },
    layers: layers.map((layer) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer })),
    ...extra,
  });
}

/** Pushes a config and one layer, then a manifest under `reference`, and returns the manifest with its digest. */
export async function pushImage(
  base: string,
  name: string,
  reference: string,
  layerText: string,
  extra: Record<string, unknown> = {},
): Promise<{ manifest: string; digest: string }> {
  const config = '{}';
  const configDigest = await pushBlob(base, name, config);
  const layerDigest = await pushBlob(base, name, layerText);
  const manifest = imageManifest(
    configDigest,
    config.length,
    [{ digest: layerDigest, size: Buffer.byteLength(layerText) }],
    extra,
  );
  const response = await request(base, `/v2/${name}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    body: manifest,
  });
  assert.equal(
    response.status,
    201,
    `push of manifest ${reference} to ${name}: ${await response.clone().text()}`,
  );
  return { manifest, digest: sha256(manifest) };
}
