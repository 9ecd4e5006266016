/**
 * Copies bytes of a local file to a writable, such as an HTTP response, through two buffers that
 * are reused for the whole copy: one is being filled from the file while the other is being written.
 *
 * A file stream allocates a new buffer for every read, and each one stays in memory until the next
 * garbage collection. For a download of hundreds of megabytes, the collector then cost about as
 * much CPU as the socket in a profile of the embedded registry. Reusing two buffers keeps memory flat and the collector idle. A buffer
 * is refilled only after the writable has called back for the write that used it, which is when
 * the socket no longer needs its bytes.
 */
import { open } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { DigestMismatchError } from '../oci/errors.js';
import { DestinationClosedError } from './client-abort.js';
import { type ReadBudget, servingReads } from './read-budget.js';

/**
 * Writes `length` bytes of the file at `path` from offset `start` to `destination`, without ending
 * it. The file is opened before anything is written, so a missing file fails before any byte.
 * @throws the error of the open or a read of the file. DestinationClosedError when `destination`
 *   fails or closes before the copy ends, whatever the reason the stream gives. DigestMismatchError
 *   naming the file when it is shorter than `start + length`.
 */
export async function copyFileTo(
  path: string,
  start: number,
  length: number,
  destination: Writable,
  budget: ReadBudget = servingReads,
): Promise<void> {
  const handle = await open(path, 'r');
  const lease = budget.lease(length);
  const closed = closeWatch(destination);
  try {
    const buffers = [Buffer.allocUnsafeSlow(lease.size), Buffer.allocUnsafeSlow(lease.size)];
    const writes: (Promise<void> | undefined)[] = [undefined, undefined];
    let position = start;
    const end = start + length;
    for (let turn = 0; position < end; turn ^= 1) {
      await Promise.race([writes[turn], closed.promise]);
      const buffer = buffers[turn]!;
      const count = Math.min(buffer.byteLength, end - position);
      let filled = 0;
      while (filled < count) {
        const { bytesRead } = await handle.read(buffer, filled, count - filled, position + filled);
        if (bytesRead === 0) {
          throw new DigestMismatchError(
            `file ${path} is shorter than expected: it ended at ${position + filled} bytes, not ${end}`,
          );
        }
        filled += bytesRead;
      }
      position += filled;
      writes[turn] = writeChunk(destination, buffer.subarray(0, filled));
    }
    await Promise.race([Promise.all(writes), closed.promise]);
  } finally {
    closed.dispose();
    lease.release();
    await handle.close();
  }
}

/**
 * Ends `destination` and resolves once it has finished.
 * @throws DestinationClosedError when it fails or closes before it has finished.
 */
export async function endWritable(destination: Writable): Promise<void> {
  destination.end();
  try {
    await finished(destination);
  } catch (error) {
    throw new DestinationClosedError(error);
  }
}

// Resolves when the writable has handed the chunk on (for a socket: to the kernel). A failed
// write (such as ERR_STREAM_DESTROYED after the client went away) becomes DestinationClosedError.
// It is awaited one turn later, so its rejection is marked as handled at once.
function writeChunk(destination: Writable, chunk: Buffer): Promise<void> {
  const written = new Promise<void>((resolve, reject) => {
    destination.write(chunk, (error) => (error ? reject(new DestinationClosedError(error)) : resolve()));
  });
  written.catch(() => {});
  return written;
}

// A promise that rejects when the destination closes or fails; it never resolves.
function closeWatch(destination: Writable): { promise: Promise<never>; dispose(): void } {
  let fail: (error: Error) => void = () => {};
  const promise = new Promise<never>((_resolve, reject) => {
    fail = reject;
  });
  // No caller awaits the promise once the copy is over, so its rejection must not count as unhandled.
  promise.catch(() => {});
  const onClose = (): void => fail(new DestinationClosedError());
  const onError = (error: Error): void => fail(new DestinationClosedError(error));
  if (destination.destroyed) onClose();
  destination.once('close', onClose);
  destination.once('error', onError);
  return {
    promise,
    dispose() {
      destination.off('close', onClose);
      destination.off('error', onError);
    },
  };
}
