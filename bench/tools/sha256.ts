/**
 * Prints the sha256 digest of a file, read as a stream through node's crypto: the hashing limit
 * that ocidrop, which hashes every blob while it streams, cannot beat on this machine.
 *
 * Usage: node build/bench/tools/sha256.js FILE
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** Read size, as large as ocidrop's own stream buffers would sensibly be. */
const HIGH_WATER_MARK = 1024 * 1024;

const path = process.argv[2];
if (path === undefined) {
  process.stderr.write('usage: node build/bench/tools/sha256.js FILE\n');
  process.exit(2);
}
const hash = createHash('sha256');
for await (const chunk of createReadStream(path, { highWaterMark: HIGH_WATER_MARK }))
  hash.update(chunk as Buffer);
process.stdout.write(`sha256:${hash.digest('hex')}  ${path}\n`);
