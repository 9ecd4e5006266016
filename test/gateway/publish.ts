/**
 * Publishes releases the way `ocidrop push` lays them out (an image index of per-platform artifact
 * manifests, one titled blob per file), through a registry's HTTP API, so gateway tests can read
 * them back through a real content source.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestOf } from '../../src/oci/digest.js';
import type { Descriptor } from '../../src/oci/manifest.js';
import {
  FILE_BLOB,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_MANIFEST,
  OCIDROP_ARTIFACT,
} from '../../src/oci/media-types.js';
import { EXTRAS, FIXTURES, PLATFORMS, standInExecutable, VERSIONS } from '../helpers/fixtures.js';

/** One file of a build to publish. */
export interface FileSpec {
  name: string;
  data: Buffer;
  /** Annotations to set instead of the ocidrop ones (title, mode, main). */
  annotations?: Record<string, string>;
  mediaType?: string;
  main?: boolean;
  mode?: string;
}

/** One platform's build to publish; no platform publishes a single manifest without an index. */
export interface BuildSpec {
  platform?: string;
  files: FileSpec[];
}

/** The bytes of each published fixture file, by version, platform and file name. */
export type PublishedFiles = Record<string, Record<string, Record<string, Buffer>>>;

const EMPTY_CONFIG: Descriptor = {
  mediaType: OCI_EMPTY,
  digest: digestOf('{}'),
  size: 2,
  data: 'e30=',
};

/** `Authorization` values by registry origin, for registries that want Basic authentication. */
const AUTHORIZATION = new Map<string, string>();

/** Makes every later request to `registryUrl` carry HTTP Basic credentials. */
export function useCredentials(registryUrl: string, user: string, password: string): void {
  AUTHORIZATION.set(
    new URL(registryUrl).origin,
    `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
  );
}

function send(url: string | URL, init: RequestInit): Promise<Response> {
  const authorization = AUTHORIZATION.get(new URL(url).origin);
  if (authorization === undefined) return fetch(url, init);
  return fetch(url, { ...init, headers: { ...(init.headers as Record<string, string>), authorization } });
}

/** Uploads a blob with a POST and a PUT and returns its descriptor. */
export async function pushBlob(
  registryUrl: string,
  repository: string,
  data: Buffer,
  mediaType = FILE_BLOB,
): Promise<Descriptor> {
  const digest = digestOf(data);
  const start = await send(`${registryUrl}/v2/${repository}/blobs/uploads/`, { method: 'POST' });
  if (start.status !== 202) throw new Error(`upload start failed: ${start.status} ${await start.text()}`);
  const location = new URL(start.headers.get('location')!, registryUrl);
  location.searchParams.set('digest', digest);
  const put = await send(location, {
    method: 'PUT',
    body: data,
    headers: { 'Content-Type': 'application/octet-stream' },
  });
  if (put.status !== 201) throw new Error(`upload failed: ${put.status} ${await put.text()}`);
  return { mediaType, digest, size: data.length };
}

/** Pushes a manifest or index under a tag or digest and returns its descriptor. */
export async function pushManifest(
  registryUrl: string,
  repository: string,
  reference: string,
  body: object,
  mediaType: string,
): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(body));
  const response = await send(`${registryUrl}/v2/${repository}/manifests/${reference}`, {
    method: 'PUT',
    body: bytes,
    headers: { 'Content-Type': mediaType },
  });
  if (response.status !== 201)
    throw new Error(`manifest push failed: ${response.status} ${await response.text()}`);
  return { mediaType, digest: digestOf(bytes), size: bytes.length };
}

/** Publishes one version: a manifest per build and, when builds name platforms, an index tagged with the version. */
export async function publishRelease(
  registryUrl: string,
  repository: string,
  version: string,
  builds: BuildSpec[],
  options: { created?: string; annotations?: Record<string, string> } = {},
): Promise<Descriptor> {
  const created = options.created ?? new Date().toISOString();
  const common = { 'org.opencontainers.image.version': version, 'org.opencontainers.image.created': created };
  await pushBlob(registryUrl, repository, Buffer.from('{}'), OCI_EMPTY);

  const manifests: Descriptor[] = [];
  for (const build of builds) {
    const layers: Descriptor[] = [];
    for (const file of build.files) {
      const blob = await pushBlob(registryUrl, repository, file.data, file.mediaType);
      const annotations = file.annotations ?? {
        'org.opencontainers.image.title': file.name,
        'io.ocidrop.file.mode': file.mode ?? (file.main ? '0755' : '0644'),
        ...(file.main ? { 'io.ocidrop.file.main': 'true' } : {}),
      };
      layers.push({ ...blob, annotations });
    }
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: OCIDROP_ARTIFACT,
      config: EMPTY_CONFIG,
      layers,
      annotations: { ...common, ...(build.platform === undefined ? options.annotations : {}) },
    };
    if (build.platform === undefined) {
      return pushManifest(registryUrl, repository, version, manifest, OCI_MANIFEST);
    }
    const pushed = await pushManifest(
      registryUrl,
      repository,
      digestOf(Buffer.from(JSON.stringify(manifest))),
      manifest,
      OCI_MANIFEST,
    );
    const [os, architecture] = build.platform.split('/') as [string, string];
    manifests.push({ ...pushed, platform: { os, architecture } });
  }
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    artifactType: OCIDROP_ARTIFACT,
    manifests,
    annotations: { ...common, ...options.annotations },
  };
  return pushManifest(registryUrl, repository, version, index, OCI_INDEX);
}

/**
 * Publishes both fixture versions of `hello` for all five platforms, each with the extras, and
 * returns the bytes of every file.
 */
export async function publishFixtures(registryUrl: string, repository: string): Promise<PublishedFiles> {
  const extras = await Promise.all(
    EXTRAS.map(async (path) => ({ name: path.split('/').at(-1)!, data: await readFile(path) })),
  );
  const published: PublishedFiles = {};
  for (const [i, version] of VERSIONS.entries()) {
    published[version] = {};
    const builds: BuildSpec[] = [];
    for (const { platform, file } of PLATFORMS) {
      const program =
        platform === 'linux/amd64'
          ? await readFile(join(FIXTURES, 'hello', version, 'linux-amd64', 'hello'))
          : standInExecutable(platform, version);
      builds.push({ platform, files: [{ name: file, data: program, main: true }, ...extras] });
      published[version]![platform] = Object.fromEntries([
        [file, program],
        ...extras.map((extra) => [extra.name, extra.data]),
      ]);
    }
    await publishRelease(registryUrl, repository, version, builds, {
      created: `2026-0${i + 1}-15T12:00:00Z`,
      annotations: { 'org.opencontainers.image.description': `hello ${version}: prints a greeting.` },
    });
  }
  return published;
}
