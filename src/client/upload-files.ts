/**
 * The hash and upload pass of `push`. One pool of workers hashes and uploads the files, so that a
 * file's upload does not wait for the other files' hashes, and a large file's upload starts before
 * its own hash is known ({@link RegistryClient.uploadBlobWhileHashing}). Content shared by several
 * files is uploaded once.
 */
import { createReadStream } from 'node:fs';
import { resolve } from 'node:path';
import { pipeline, type Readable } from 'node:stream';
import type { ByteRange } from '../content/source.js';
import type { Digest } from '../oci/digest.js';
import { mapWithLimit } from './concurrency.js';
import {
  checkUnchanged,
  completeInspection,
  type DescribedInput,
  hashFile,
  type InspectedFile,
  readSizeFor,
} from './plan.js';
import { type ProgressListener, ProgressStream, UploadProgress } from './progress.js';
import type { RegistryClient } from './registry-client.js';
import type { ArtifactStore } from './store.js';

/** Options of {@link uploadFiles}. */
export interface UploadFilesOptions {
  /** Files hashed and uploaded at once. */
  concurrency: number;
  /** Upload blobs larger than this many bytes in chunks of this size. @default unset */
  chunkSize?: number;
  /** A repository of the same registry to mount blobs from before uploading them. */
  mountFrom?: string;
  /** Hash each file before any of its bytes are sent. @default false */
  hashFirst?: boolean;
  onProgress?: ProgressListener;
  /** Stops hashing and uploading; open upload sessions are deleted before the returned promise rejects. */
  signal?: AbortSignal;
  /** The folder that folders are packed in. */
  workDir: string;
}

/** The result of {@link uploadFiles}. */
export interface UploadedFiles {
  /** Each input inspected, in input order. */
  files: InspectedFile[];
  /** The digests whose bytes were sent; the registry had the others already. */
  uploaded: Set<Digest>;
}

/**
 * Hashes (or packs) each described input and uploads its blob to `repository`, `concurrency`
 * files at a time. A path given more than once is read once.
 * @throws InvalidInputError for a file that changed while it was read.
 * @throws the reason of `options.signal` once it aborts.
 * @throws RegistryResponseError or RegistryConnectionError when the registry fails.
 */
export async function uploadFiles(
  store: ArtifactStore,
  repository: string,
  inputs: DescribedInput[],
  options: UploadFilesOptions,
): Promise<UploadedFiles> {
  const byPath = new Map<string, DescribedInput>();
  for (const input of inputs) {
    const path = resolve(input.path);
    if (!byPath.has(path)) byPath.set(path, input);
  }

  const uploader = new FileUploader(store, repository, options);
  const unique = [...byPath.keys()];
  const inspected = await mapWithLimit(unique, options.concurrency, (path) =>
    uploader.hashAndUpload(byPath.get(path)!),
  );
  const byResolved = new Map(unique.map((path, index) => [path, inspected[index]!]));

  // Each input keeps its own path spelling and platforms, such as `darwin/amd64=app darwin/arm64=./app`.
  const files = inputs.map((input): InspectedFile => {
    const { digest, size, directory } = byResolved.get(resolve(input.path))!;
    const file: InspectedFile = {
      path: input.path,
      title: input.title,
      digest,
      size,
      mode: input.mode,
      platforms: input.platforms,
    };
    if (directory !== undefined) file.directory = directory;
    return file;
  });
  return { files, uploaded: uploader.uploaded };
}

// The state shared by the workers of one push: which digests have an upload, and which sent bytes.
class FileUploader {
  readonly uploaded = new Set<Digest>();
  /** The upload of each digest, settled when it ends whether it succeeded or not. */
  private readonly claims = new Map<Digest, Promise<void>>();

  constructor(
    private readonly store: ArtifactStore,
    private readonly repository: string,
    private readonly options: UploadFilesOptions,
  ) {}

  async hashAndUpload(input: DescribedInput): Promise<InspectedFile> {
    const { chunkSize, mountFrom, hashFirst, signal } = this.options;
    signal?.throwIfAborted();
    const uploadWhileHashing = this.store.uploadBlobWhileHashing?.bind(this.store);
    if (
      !input.isDirectory &&
      uploadWhileHashing !== undefined &&
      chunkSize === undefined &&
      mountFrom === undefined &&
      !hashFirst
    ) {
      return this.uploadWhileHashing(input, uploadWhileHashing);
    }

    const file = await completeInspection(input, this.options.workDir, signal);
    const earlier = this.claims.get(file.digest);
    if (earlier !== undefined) {
      await earlier;
      return file;
    }
    const progress = new UploadProgress(this.options.onProgress, file.title, file.size);
    const upload = this.uploadHashed(file, progress);
    this.claims.set(
      file.digest,
      upload.catch(() => undefined),
    );
    await upload;
    return file;
  }

  // Uploads a blob whose digest is known, after a mount attempt when `mountFrom` is set.
  private async uploadHashed(file: InspectedFile, progress: UploadProgress): Promise<void> {
    const { chunkSize, mountFrom, signal } = this.options;
    progress.start(file.digest);
    // A mounted blob costs the registry a link instead of a transfer; it counts as not uploaded.
    if (mountFrom !== undefined && (await this.store.mountBlob(this.repository, file.digest, mountFrom))) {
      progress.finish(false);
      return;
    }
    const source = file.directory?.archive ?? file.path;
    const result = await this.store.uploadBlob(
      this.repository,
      file,
      this.opener(source, file.size, progress),
      {
        ...(chunkSize === undefined ? {} : { chunkSize }),
        ...(signal === undefined ? {} : { signal }),
      },
    );
    if (result.uploaded) this.uploaded.add(file.digest);
    progress.finish(result.uploaded);
  }

  // Starts the hash pass and the upload together. When the digest turns out to belong to a blob
  // that another file already uploads, this upload is cancelled and waits for that one instead.
  private async uploadWhileHashing(
    input: DescribedInput,
    upload: RegistryClient['uploadBlobWhileHashing'],
  ): Promise<InspectedFile> {
    const progress = new UploadProgress(this.options.onProgress, input.title, input.size);
    const cancel = new AbortController();
    const stopHashing = new AbortController();
    // The caller's signal stops both the upload and the hash pass.
    const { signal } = this.options;
    const uploadSignal = signal === undefined ? cancel.signal : AbortSignal.any([cancel.signal, signal]);
    const hashSignal =
      signal === undefined ? stopHashing.signal : AbortSignal.any([stopHashing.signal, signal]);
    let uploading: Promise<{ uploaded: boolean }> | undefined;
    let earlier: Promise<void> | undefined;

    // The digest is claimed before the upload receives it, so the upload of a duplicate stops before
    // it sends its next request.
    const hashing = hashFile(input.path, hashSignal).then(({ digest, size }) => {
      checkUnchanged(input, size);
      earlier = this.claims.get(digest);
      if (earlier !== undefined) {
        cancel.abort();
        return digest;
      }
      progress.start(digest);
      this.claims.set(
        digest,
        uploading!.then(
          () => undefined,
          () => undefined,
        ),
      );
      return digest;
    });
    uploading = upload(
      this.repository,
      { size: input.size, digest: hashing },
      this.opener(input.path, input.size, progress),
      { signal: uploadSignal },
    );
    // Attached at once, so that an upload failing while the hash pass runs is not an unhandled rejection.
    uploading.catch(() => undefined);

    let digest: Digest;
    try {
      // An upload that fails ends the wait at once. The upload never ends before the hash pass,
      // because it needs the digest to finish.
      digest = await Promise.race([hashing, uploading.then(() => hashing)]);
    } catch (error) {
      // A failed hash pass stops the upload, and a failed upload stops the hash pass. The upload is
      // awaited so that its session is deleted before the error is thrown.
      stopHashing.abort();
      await uploading.catch(() => undefined);
      throw error;
    }
    const file: InspectedFile = {
      path: input.path,
      title: input.title,
      digest,
      size: input.size,
      mode: input.mode,
      platforms: input.platforms,
    };

    if (earlier !== undefined) {
      // The cancelled upload may have ended first; its bytes then count as sent.
      const sent = await uploading.then(
        (result) => result.uploaded,
        () => false,
      );
      if (sent) this.uploaded.add(digest);
      await earlier;
      return file;
    }

    const result = await uploading;
    if (result.uploaded) this.uploaded.add(digest);
    progress.finish(result.uploaded);
    return file;
  }

  // Returns the `open` callback of an upload: a fresh read stream of the file, or of a byte range
  // of it, that reports progress as bytes flow.
  private opener(path: string, size: number, progress: UploadProgress): (range?: ByteRange) => Readable {
    return (range) => {
      const source = createReadStream(
        path,
        range === undefined
          ? { highWaterMark: readSizeFor(size) }
          : { start: range.start, end: range.end, highWaterMark: readSizeFor(range.end - range.start + 1) },
      );
      const offset = range?.start ?? 0;
      const counter = new ProgressStream((transferred) => progress.update(offset + transferred));
      // pipeline() closes the file when the request destroys the counted stream (an aborted
      // upload), and ends the counted stream with the error when the read fails.
      return pipeline(source, counter, () => undefined);
    };
  }
}
