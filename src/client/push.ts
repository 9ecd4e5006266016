/**
 * `push`: publishes files as one artifact under a tag. Plans the artifact from the inputs and
 * uploads each distinct blob once, skipping those the registry has. Then it uploads the
 * per-platform manifests by digest and last the index (or the single manifest) by tag, so that the
 * tag never points at content that is not there yet ("Pushing Manifests" in distribution-spec `spec.md`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Digest } from '../oci/digest.js';
import { OCI_INDEX, OCI_MANIFEST } from '../oci/media-types.js';
import { formatPlatform } from '../oci/platform.js';
import type { Reference } from '../oci/reference.js';
import { buildArtifact, EMPTY_CONFIG, EMPTY_CONFIG_DESCRIPTOR } from './artifact.js';
import { DEFAULT_CONCURRENCY, mapWithLimit } from './concurrency.js';
import { type ConnectOptions, toReference, withClient } from './connect.js';
import { archiveTime } from './directory.js';
import { InvalidInputError } from './errors.js';
import { type DescribedInput, describeInput, type PushInput, planArtifact } from './plan.js';
import type { ProgressListener } from './progress.js';
import { uploadFiles } from './upload-files.js';

/** Options of {@link push}. */
export interface PushOptions extends ConnectOptions {
  /** Recorded as the creation time. @default now */
  created?: Date;
  onProgress?: ProgressListener;
  /** Files hashed and uploaded at once. @default {@link DEFAULT_CONCURRENCY} */
  concurrency?: number;
  /**
   * Upload blobs larger than this many bytes in chunks of this size (`PATCH` requests).
   * Setting it also turns off uploading a file while it is hashed: each file is hashed first.
   * @default unset: each blob's content goes in one request, a single `POST` up to 4 MiB and one
   *   `PATCH` above (or one `PUT` when the registry rejects that `PATCH`)
   */
  chunkSize?: number;
  /** Annotations of every manifest and of the index (`--annotation KEY=VALUE`). */
  annotations?: Record<string, string>;
  /** Annotations per file, keyed by title (`--annotation-file`). */
  fileAnnotations?: Record<string, Record<string, string>>;
  /** `artifactType` of the manifests and the index. @default `application/vnd.ocidrop.release.v1` */
  artifactType?: string;
  /**
   * A repository of the same registry to mount blobs from before uploading them ("Mounting a blob
   * from another repository"), such as the previous release's repository. A mount names the
   * digest, so each file is hashed before anything is sent.
   */
  mountFrom?: string;
  /**
   * Hash each file before sending any of its bytes, so that a blob the registry already has costs
   * only a `HEAD`. By default a file over 4 MiB starts uploading while it is hashed, and a re-push
   * sends bytes until the hash pass ends and a `HEAD` finds the blob (`--hash-first`).
   * @default false
   */
  hashFirst?: boolean;
  /**
   * Stops the push: no new request starts, open upload sessions are deleted (`DELETE`), and the
   * promise rejects with the signal's reason. The tag is not touched once the signal has aborted.
   */
  signal?: AbortSignal;
}

/** One file as pushed. */
export interface PushedFile {
  path: string;
  title: string;
  digest: Digest;
  size: number;
  /** The platforms whose program this file is; empty for a file that ships with every platform. */
  platforms: string[];
  /**
   * False when the registry already had the blob, including when an upload that had started while
   * the file was hashed was stopped because the registry had it.
   */
  uploaded: boolean;
  /** True for a folder, pushed as one tar+gzip blob. */
  directory: boolean;
}

/** Summary of a {@link push}: the reference, digest and files published. */
export interface PushResult {
  /** The reference pushed, with the tag. */
  reference: string;
  /** Digest of the index, or of the single manifest. */
  digest: Digest;
  mediaType: string;
  /** The platforms of the index, such as `linux/amd64`; empty for a single manifest. */
  platforms: string[];
  files: PushedFile[];
}

/**
 * Publishes `inputs` under `reference`, which must carry a tag (the tag is the recorded version).
 * @throws InvalidInputError for a reference without a tag, a missing file or clashing titles.
 * @throws RegistryResponseError or RegistryConnectionError when the registry fails.
 * @throws the reason of `options.signal` once it aborts.
 */
export async function push(
  reference: string | Reference,
  inputs: PushInput[],
  options: PushOptions = {},
): Promise<PushResult> {
  const target = toReference(reference);
  if (target.tag === undefined || target.digest !== undefined) {
    throw new InvalidInputError(
      `push needs a reference with a tag and no digest, got ${JSON.stringify(target.toString())}: add a version tag, as in ${target.registry}/${target.repository}:1.0.0`,
    );
  }
  const tag = target.tag;

  // Folders are packed here before the upload, and the packed files removed afterwards.
  const workDir = await mkdtemp(join(tmpdir(), 'ocidrop-push-'));
  try {
    return await pushInspected(target, tag, inputs, workDir, options);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

async function pushInspected(
  target: Reference,
  tag: string,
  inputs: PushInput[],
  workDir: string,
  options: PushOptions,
): Promise<PushResult> {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;

  // Every check that can reject the inputs runs before the first request, and none of them reads
  // more of a file than its header.
  const described = await describeAll(inputs, concurrency);
  planArtifact(described);
  checkAnnotatedTitles(described, options.fileAnnotations);

  const { signal } = options;
  return withClient(target, options, async (client) => {
    const { files, uploaded } = await uploadFiles(client, target.repository, described, {
      concurrency,
      workDir,
      ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
      ...(options.mountFrom === undefined ? {} : { mountFrom: options.mountFrom }),
      ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
      ...(options.hashFirst ? { hashFirst: true } : {}),
      ...(signal === undefined ? {} : { signal }),
    });
    await client.uploadBlob(
      target.repository,
      EMPTY_CONFIG_DESCRIPTOR,
      () => EMPTY_CONFIG,
      signal === undefined ? {} : { signal },
    );
    // Once the signal has aborted no manifest goes out, so an interrupted push leaves the tag as it was.
    signal?.throwIfAborted();

    const plan = planArtifact(files);
    const artifact = buildArtifact(plan, {
      version: tag,
      created: options.created ?? defaultCreated(),
      ...(options.annotations === undefined ? {} : { annotations: options.annotations }),
      ...(options.fileAnnotations === undefined ? {} : { fileAnnotations: options.fileAnnotations }),
      ...(options.artifactType === undefined ? {} : { artifactType: options.artifactType }),
    });

    let digest: Digest;
    let mediaType: string;
    if (artifact.index === undefined) {
      const [single] = artifact.manifests;
      digest = await client.putManifest(target.repository, tag, single!.bytes, OCI_MANIFEST);
      mediaType = OCI_MANIFEST;
    } else {
      for (const built of artifact.manifests) {
        await client.putManifest(target.repository, built.digest, built.bytes, OCI_MANIFEST);
      }
      signal?.throwIfAborted();
      digest = await client.putManifest(target.repository, tag, artifact.index.bytes, OCI_INDEX);
      mediaType = OCI_INDEX;
    }

    return {
      reference: target.toString(),
      digest,
      mediaType,
      platforms: plan.builds.map((build) => formatPlatform(build.platform)),
      files: files.map((file) => ({
        path: file.path,
        title: file.title,
        digest: file.digest,
        size: file.size,
        platforms: file.platforms.map(formatPlatform),
        uploaded: uploaded.has(file.digest),
        directory: file.directory !== undefined,
      })),
    };
  });
}

// Describes the inputs `concurrency` at a time. When several are invalid, the error of the first
// one in input order is thrown, as a one-by-one pass would.
async function describeAll(inputs: PushInput[], concurrency: number): Promise<DescribedInput[]> {
  const outcomes = await mapWithLimit(inputs, concurrency, async (input) => {
    try {
      return { described: await describeInput(input) };
    } catch (error) {
      return { error };
    }
  });
  const described: DescribedInput[] = [];
  for (const outcome of outcomes) {
    if ('error' in outcome) throw outcome.error;
    described.push(outcome.described);
  }
  return described;
}

// With SOURCE_DATE_EPOCH set, the creation time is fixed too, so the same inputs give the same manifests.
function defaultCreated(): Date {
  return process.env['SOURCE_DATE_EPOCH'] ? archiveTime() : new Date();
}

function checkAnnotatedTitles(
  files: DescribedInput[],
  fileAnnotations: Record<string, Record<string, string>> | undefined,
): void {
  const titles = new Set(files.map((file) => file.title));
  for (const title of Object.keys(fileAnnotations ?? {})) {
    if (!titles.has(title)) {
      throw new InvalidInputError(
        `the annotations name the file ${JSON.stringify(title)}, which is not among the pushed files (${[...titles].join(', ')})`,
      );
    }
  }
}
