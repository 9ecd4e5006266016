/**
 * Descriptors, image manifests and image indexes of the OCI image specification
 * (`descriptor.md`, `manifest.md`, `image-index.md`), with the Docker schema 2 forms that share
 * their shape, and a validating parser for each.
 */
import { type Digest, isDigest } from './digest.js';
import { InvalidManifestError } from './errors.js';
import {
  DOCKER_MANIFEST,
  DOCKER_MANIFEST_LIST,
  isImageManifestMediaType,
  isIndexMediaType,
  OCI_INDEX,
  OCI_MANIFEST,
} from './media-types.js';
import type { Platform } from './platform.js';

/** Manifests larger than this are rejected, as the distribution spec allows registries to do ("4 MiB"). */
export const MAX_MANIFEST_SIZE = 4 * 1024 * 1024;

/** Points at content by media type, digest and size. */
export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  data?: string;
  artifactType?: string;
  platform?: Platform;
}

/** An image manifest: one config and a list of blobs (layers), for one platform. */
export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** An image index: a list of manifests, usually one per platform. */
export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  artifactType?: string;
  manifests: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

/** A parsed manifest together with the media type it was identified as. */
export type ParsedManifest =
  | { kind: 'manifest'; mediaType: string; manifest: ImageManifest }
  | { kind: 'index'; mediaType: string; manifest: ImageIndex };

/**
 * Parses and validates manifest bytes.
 *
 * The media type is the body's `mediaType` field, else `contentType`, else what the body's shape
 * says (`manifests` for an index, `config` and `layers` for a manifest).
 * @throws InvalidManifestError naming the first field that is wrong.
 */
export function parseManifest(bytes: Uint8Array | string, contentType?: string): ParsedManifest {
  const size = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.byteLength;
  if (size > MAX_MANIFEST_SIZE) {
    throw new InvalidManifestError(`manifest is ${size} bytes, more than the limit of ${MAX_MANIFEST_SIZE}`);
  }
  let body: unknown;
  try {
    body = JSON.parse(
      typeof bytes === 'string'
        ? bytes
        : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'),
    );
  } catch (error) {
    throw new InvalidManifestError(`manifest is not valid JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  if (!isObject(body)) throw new InvalidManifestError('manifest must be a JSON object');
  if (body['schemaVersion'] !== 2) {
    throw new InvalidManifestError(
      `manifest schemaVersion must be 2, got ${JSON.stringify(body['schemaVersion'])}`,
    );
  }
  const declared = body['mediaType'];
  if (declared !== undefined && typeof declared !== 'string') {
    throw new InvalidManifestError('manifest mediaType must be a string');
  }
  const headerType = contentType?.split(';')[0]?.trim() || undefined;
  if (declared !== undefined && headerType !== undefined && declared !== headerType) {
    throw new InvalidManifestError(
      `manifest mediaType ${JSON.stringify(declared)} differs from Content-Type ${JSON.stringify(headerType)}`,
    );
  }
  let mediaType = declared ?? headerType;
  if (mediaType === undefined || mediaType === 'application/json') {
    mediaType = Array.isArray(body['manifests']) ? OCI_INDEX : OCI_MANIFEST;
  }

  const artifactType = optionalString(body, 'artifactType', 'manifest');
  const annotations = optionalAnnotations(body['annotations'], 'manifest annotations');
  const subject = body['subject'] === undefined ? undefined : parseDescriptor(body['subject'], 'subject');

  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(body['manifests']))
      throw new InvalidManifestError('index must have a "manifests" array');
    const manifests = body['manifests'].map((entry, i) => parseDescriptor(entry, `manifests[${i}]`));
    const manifest: ImageIndex = { ...(body as object), schemaVersion: 2, manifests } as ImageIndex;
    assign(manifest, { artifactType, annotations, subject });
    return { kind: 'index', mediaType, manifest };
  }
  if (isImageManifestMediaType(mediaType)) {
    const config = parseDescriptor(body['config'], 'config');
    if (!Array.isArray(body['layers'])) throw new InvalidManifestError('manifest must have a "layers" array');
    const layers = body['layers'].map((entry, i) => parseDescriptor(entry, `layers[${i}]`));
    const manifest: ImageManifest = {
      ...(body as object),
      schemaVersion: 2,
      config,
      layers,
    } as ImageManifest;
    assign(manifest, { artifactType, annotations, subject });
    return { kind: 'manifest', mediaType, manifest };
  }
  throw new InvalidManifestError(
    `unsupported manifest media type ${JSON.stringify(mediaType)}: expected ${[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST].join(', ')}`,
  );
}

/**
 * Validates one descriptor.
 * @param where the field path for error messages, such as `layers[2]`.
 * @throws InvalidManifestError naming the field.
 */
export function parseDescriptor(value: unknown, where = 'descriptor'): Descriptor {
  if (!isObject(value)) throw new InvalidManifestError(`${where} must be an object`);
  const mediaType = value['mediaType'];
  if (
    typeof mediaType !== 'string' ||
    !/^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$/.test(mediaType)
  ) {
    throw new InvalidManifestError(
      `${where}.mediaType must be a media type such as "application/octet-stream", got ${JSON.stringify(mediaType)}`,
    );
  }
  const digest = value['digest'];
  if (typeof digest !== 'string' || !isDigest(digest)) {
    throw new InvalidManifestError(
      `${where}.digest must be a sha256 or sha512 digest, got ${JSON.stringify(digest)}`,
    );
  }
  const size = value['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw new InvalidManifestError(
      `${where}.size must be a non-negative integer, got ${JSON.stringify(size)}`,
    );
  }
  const descriptor: Descriptor = { ...(value as object), mediaType, digest, size } as Descriptor;
  const annotations = optionalAnnotations(value['annotations'], `${where}.annotations`);
  if (annotations) descriptor.annotations = annotations;
  optionalString(value, 'artifactType', where);
  optionalString(value, 'data', where);
  if (
    value['urls'] !== undefined &&
    !(Array.isArray(value['urls']) && value['urls'].every((url) => typeof url === 'string'))
  ) {
    throw new InvalidManifestError(`${where}.urls must be an array of strings`);
  }
  if (value['platform'] !== undefined) {
    const platform = value['platform'];
    if (
      !isObject(platform) ||
      typeof platform['os'] !== 'string' ||
      typeof platform['architecture'] !== 'string'
    ) {
      throw new InvalidManifestError(`${where}.platform must have string "os" and "architecture" fields`);
    }
  }
  return descriptor;
}

/** Serializes a manifest or index the way ocidrop pushes it: compact JSON, fields in insertion order. */
export function encodeManifest(manifest: ImageManifest | ImageIndex): Buffer {
  return Buffer.from(JSON.stringify(manifest), 'utf8');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(body: Record<string, unknown>, key: string, where: string): string | undefined {
  const value = body[key];
  if (value !== undefined && typeof value !== 'string')
    throw new InvalidManifestError(`${where}.${key} must be a string`);
  return value;
}

function optionalAnnotations(value: unknown, where: string): Record<string, string> | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value) || !Object.values(value).every((entry) => typeof entry === 'string')) {
    throw new InvalidManifestError(`${where} must map strings to strings`);
  }
  return value as Record<string, string>;
}

function assign(target: object, fields: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(fields)) {
    if (value !== undefined) (target as Record<string, unknown>)[key] = value;
  }
}
