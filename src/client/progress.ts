/**
 * Progress reports of push and pull, one stream of events per file, and the pass-through stream
 * that produces them while bytes flow.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { Digest } from '../oci/digest.js';

/** The state of one file's transfer. */
export interface TransferProgress {
  /** The file's title (base name). */
  title: string;
  digest: Digest;
  /** Bytes sent or received so far. */
  transferred: number;
  /** Size of the file in bytes. */
  total: number;
  /** `skipped` when the registry already had the blob, so no bytes flowed. */
  state: 'started' | 'running' | 'done' | 'skipped';
}

/** Receives progress reports; called synchronously while data flows, so it should return quickly. */
export type ProgressListener = (progress: TransferProgress) => void;

/** A pass-through stream that reports how many bytes went through it. */
export class ProgressStream extends Transform {
  private transferred = 0;

  constructor(private readonly report: (transferred: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.transferred += chunk.byteLength;
    this.report(this.transferred);
    callback(null, chunk);
  }
}

/**
 * The progress reports of one blob's upload. Listeners tell blobs apart by digest, but a large
 * file's upload starts before its hash pass ends, so reports wait until {@link start} names the
 * digest, and then begin with the bytes sent so far. Nothing is reported after {@link finish}, so
 * an upload stream that is aborted late cannot move a finished bar.
 */
export class UploadProgress {
  private digest: Digest | undefined;
  private transferred = 0;
  private finished = false;

  /**
   * @param listener receives the reports; none are made without it.
   * @param title the file's title, reported with each event.
   * @param total the blob's size in bytes.
   */
  constructor(
    private readonly listener: ProgressListener | undefined,
    private readonly title: string,
    private readonly total: number,
  ) {}

  /** Names the blob: reports `started`, then the bytes sent so far if there are any. */
  start(digest: Digest): void {
    if (this.digest !== undefined || this.finished) return;
    this.digest = digest;
    this.emit(0, 'started');
    if (this.transferred > 0) this.emit(this.transferred, 'running');
  }

  /** Records the bytes sent so far, counted from the blob's first byte, and reports them once started. */
  update(transferred: number): void {
    if (this.finished) return;
    this.transferred = transferred;
    if (this.digest !== undefined) this.emit(transferred, 'running');
  }

  /** Reports `done` with the whole size, or `skipped` when the registry had the blob; later calls do nothing. */
  finish(uploaded: boolean): void {
    if (this.finished || this.digest === undefined) return;
    this.finished = true;
    this.emit(uploaded ? this.total : 0, uploaded ? 'done' : 'skipped');
  }

  private emit(transferred: number, state: TransferProgress['state']): void {
    this.listener?.({ title: this.title, digest: this.digest!, transferred, total: this.total, state });
  }
}
