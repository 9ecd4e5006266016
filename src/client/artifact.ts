/**
 * Builds the manifests of an ocidrop release from an {@link ArtifactPlan}, following the
 * artifact guidance of image-spec 1.1 (`manifest.md`, "Guidelines for Artifact Usage"): an
 * `artifactType`, the empty config descriptor, and one blob per file titled with its name.
 */
import { CREATED, FILE_MAIN, FILE_MODE, formatFileMode, TITLE, VERSION } from '../oci/annotations.js';
import { type Digest, digestOf } from '../oci/digest.js';
import { type Descriptor, encodeManifest, type ImageIndex, type ImageManifest } from '../oci/manifest.js';
import {
  FILE_BLOB,
  OCI_EMPTY,
  OCI_INDEX,
  OCI_LAYER_TAR_GZIP,
  OCI_MANIFEST,
  OCIDROP_ARTIFACT,
} from '../oci/media-types.js';
import type { Platform } from '../oci/platform.js';
import { ORAS_CONTENT_DIGEST, ORAS_CONTENT_UNPACK } from './directory.js';
import type { ArtifactPlan, InspectedFile } from './plan.js';

/** The content of the empty config blob, `{}` (image-spec "Guidance for an Empty Descriptor"). */
export const EMPTY_CONFIG = Buffer.from('{}', 'utf8');

/** The empty config descriptor that every ocidrop manifest uses. */
export const EMPTY_CONFIG_DESCRIPTOR: Descriptor = {
  mediaType: OCI_EMPTY,
  digest: digestOf(EMPTY_CONFIG),
  size: EMPTY_CONFIG.byteLength,
};

/** One encoded manifest and what it is for. */
export interface BuiltManifest {
  /** Unset for the single manifest of an artifact without platform builds. */
  platform?: Platform;
  manifest: ImageManifest;
  bytes: Buffer;
  digest: Digest;
}

/** The manifests of a release and, when it has platform builds, the index over them. */
export interface BuiltArtifact {
  manifests: BuiltManifest[];
  index?: { index: ImageIndex; bytes: Buffer; digest: Digest };
}

/** Annotations recorded on every manifest and on the index. */
export interface ReleaseInfo {
  /** The tag pushed, recorded as `org.opencontainers.image.version`. */
  version: string;
  /** Recorded as `org.opencontainers.image.created` in RFC 3339. */
  created: Date;
  /** More annotations for every manifest and the index; they override the version and time. */
  annotations?: Record<string, string>;
  /** More annotations per file, keyed by title; they override the ones ocidrop sets. */
  fileAnnotations?: Record<string, Record<string, string>>;
  /** The `artifactType` of every manifest and the index. @default {@link OCIDROP_ARTIFACT} */
  artifactType?: string;
}

/**
 * Builds the manifests for `plan`. With platform builds, each platform gets a manifest with its
 * program first (marked `io.ocidrop.file.main`) followed by the shared files, under an image
 * index. Without them, one manifest holds the shared files.
 */
export function buildArtifact(plan: ArtifactPlan, release: ReleaseInfo): BuiltArtifact {
  const annotations = {
    [VERSION]: release.version,
    [CREATED]: release.created.toISOString(),
    ...release.annotations,
  };
  const artifactType = release.artifactType ?? OCIDROP_ARTIFACT;
  const describe = (file: InspectedFile, main: boolean) =>
    fileDescriptor(file, main, release.fileAnnotations?.[file.title]);
  const extras = plan.extras.map((file) => describe(file, false));

  if (plan.builds.length === 0) {
    return { manifests: [encode(manifestOf(extras, annotations, artifactType))] };
  }

  const manifests = plan.builds.map((build) => {
    const built = encode(manifestOf([describe(build.program, true), ...extras], annotations, artifactType));
    return { ...built, platform: build.platform };
  });
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    artifactType,
    manifests: manifests.map((built) => ({
      mediaType: OCI_MANIFEST,
      digest: built.digest,
      size: built.bytes.byteLength,
      platform: built.platform,
      artifactType,
    })),
    annotations,
  };
  const bytes = encodeManifest(index);
  return { manifests, index: { index, bytes, digest: digestOf(bytes) } };
}

function manifestOf(
  layers: Descriptor[],
  annotations: Record<string, string>,
  artifactType: string,
): ImageManifest {
  return {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType,
    config: EMPTY_CONFIG_DESCRIPTOR,
    layers,
    annotations,
  };
}

// A directory is described as oras describes one, so that oras unpacks it as well. The tar entries
// carry the modes, and the digest of the uncompressed tar lets a pull check the unpacked bytes.
function fileDescriptor(
  file: InspectedFile,
  main: boolean,
  extra: Record<string, string> | undefined,
): Descriptor {
  const annotations: Record<string, string> = { [TITLE]: file.title };
  if (file.directory === undefined) {
    annotations[FILE_MODE] = formatFileMode(file.mode);
  } else {
    annotations[ORAS_CONTENT_DIGEST] = file.directory.contentDigest;
    annotations[ORAS_CONTENT_UNPACK] = 'true';
  }
  if (main) annotations[FILE_MAIN] = 'true';
  Object.assign(annotations, extra);
  const mediaType = file.directory === undefined ? FILE_BLOB : OCI_LAYER_TAR_GZIP;
  return { mediaType, digest: file.digest, size: file.size, annotations };
}

function encode(manifest: ImageManifest): BuiltManifest {
  const bytes = encodeManifest(manifest);
  return { manifest, bytes, digest: digestOf(bytes) };
}
