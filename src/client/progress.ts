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
