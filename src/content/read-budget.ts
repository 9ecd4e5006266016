/**
 * Read sizes for blobs streamed to clients. Large reads make a single download about three times
 * faster (fewer trips through the event loop and the socket), but every open stream keeps about
 * two reads in memory, so many concurrent downloads with large reads take hundreds of megabytes.
 * A process-wide budget gives large reads to the first streams and the smallest size to the rest.
 */
import type { Readable } from 'node:stream';

/** The smallest read, node's own default for file streams; it is always granted. */
export const MIN_READ_SIZE = 64 * 1024;

/** The largest read; larger ones made a download no faster on loopback. */
export const MAX_READ_SIZE = 1024 * 1024;

/** Bytes of reads above {@link MIN_READ_SIZE} that all open streams may hold together. */
export const DEFAULT_READ_BUDGET = 8 * 1024 * 1024;

/** A read size granted to one stream, returned with `release` when the stream closes. */
export interface ReadLease {
  readonly size: number;
  /** Returns the lease to the budget; calls after the first do nothing. */
  release(): void;
}

/**
 * A shared budget of read buffer bytes. Each stream gets the largest read size that the budget
 * still covers, between {@link MIN_READ_SIZE} and {@link MAX_READ_SIZE}, in multiples of 64 KiB;
 * only the part above the minimum counts against the budget, so no stream ever waits.
 */
export class ReadBudget {
  private available: number;

  constructor(readonly total: number = DEFAULT_READ_BUDGET) {
    this.available = total;
  }

  /** Bytes of the budget not leased at the moment. */
  get free(): number {
    return this.available;
  }

  /** Leases a read size for a stream of `bytes` bytes; the read is never larger than the stream. */
  lease(bytes: number): ReadLease {
    const wanted = Math.min(MAX_READ_SIZE, Math.max(MIN_READ_SIZE, roundUp(bytes)));
    const extra = Math.min(wanted - MIN_READ_SIZE, roundDown(this.available));
    this.available -= extra;
    let released = false;
    return {
      size: MIN_READ_SIZE + extra,
      release: () => {
        if (released) return;
        released = true;
        this.available += extra;
      },
    };
  }
}

/** The budget that every blob served by this process shares. */
export const servingReads = new ReadBudget();

/**
 * Opens a stream of `bytes` bytes with a read size leased from `budget`, and returns the lease
 * when the stream closes (file streams close after their end, an error or `destroy`).
 */
export function openWithLease<T extends Readable>(
  bytes: number,
  open: (highWaterMark: number) => T,
  budget: ReadBudget = servingReads,
): T {
  const lease = budget.lease(bytes);
  let stream: T;
  try {
    stream = open(lease.size);
  } catch (error) {
    lease.release();
    throw error;
  }
  stream.once('close', lease.release);
  return stream;
}

function roundUp(bytes: number): number {
  return Math.ceil(bytes / MIN_READ_SIZE) * MIN_READ_SIZE;
}

function roundDown(bytes: number): number {
  return Math.floor(bytes / MIN_READ_SIZE) * MIN_READ_SIZE;
}
