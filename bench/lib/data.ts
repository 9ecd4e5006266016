/**
 * Test data: files of random bytes (so neither compression nor sparse files can flatter a contender)
 * and an OCI image layout of them for `skopeo copy oci:...`.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { link, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Size of each random chunk written, in bytes. */
const CHUNK_SIZE = 4 * 1024 * 1024;

/** Bytes of an ELF64 little-endian x86-64 executable header, enough for ocidrop to call the file a linux/amd64 program. */
const ELF_HEADER_SIZE = 64;

/** A generated file and its content digest. */
export interface GeneratedFile {
  path: string;
  size: number;
  /** `sha256:` followed by 64 hex digits. */
  digest: string;
}

/**
 * Writes `size` random bytes to `path`, hashing them as they go. With `elf`, the file starts with an
 * ELF header for linux/amd64, so `ocidrop push` publishes it as that platform's program.
 */
export async function writeRandomFile(path: string, size: number, elf = false): Promise<GeneratedFile> {
  const hash = createHash('sha256');
  const out = createWriteStream(path);
  let written = 0;
  while (written < size) {
    const chunk = randomBytes(Math.min(CHUNK_SIZE, size - written));
    if (written === 0 && elf && chunk.byteLength >= ELF_HEADER_SIZE) elfHeader().copy(chunk);
    hash.update(chunk);
    written += chunk.byteLength;
    if (!out.write(chunk)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return { path, size, digest: `sha256:${hash.digest('hex')}` };
}

/** Writes `count` random files of `size` bytes named `file-00001.bin` and so on into `folder`. */
export async function writeRandomFiles(
  folder: string,
  count: number,
  size: number,
): Promise<GeneratedFile[]> {
  await mkdir(folder, { recursive: true });
  const files: GeneratedFile[] = [];
  for (let i = 1; i <= count; i++) {
    files.push(await writeRandomFile(join(folder, `file-${String(i).padStart(5, '0')}.bin`), size));
  }
  return files;
}

/**
 * Writes an OCI image layout in `folder` whose image `tag` has one uncompressed layer per file.
 * The layer blobs are hard links to the files, so the layout costs no copy; the config is a
 * minimal linux/amd64 image config, which `skopeo` needs to accept the image.
 * @see https://github.com/opencontainers/image-spec/blob/v1.1.0/image-layout.md
 */
export async function writeOciLayout(folder: string, files: GeneratedFile[], tag: string): Promise<void> {
  const blobs = join(folder, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  for (const file of files) await link(file.path, join(blobs, file.digest.slice('sha256:'.length)));

  const config = await writeJsonBlob(blobs, {
    architecture: 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: files.map((file) => file.digest) },
  });
  const manifest = await writeJsonBlob(blobs, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: files.map((file) => ({
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      digest: file.digest,
      size: file.size,
    })),
  });
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        ...manifest,
        annotations: { 'org.opencontainers.image.ref.name': tag },
      },
    ],
  };
  await writeFile(join(folder, 'index.json'), JSON.stringify(index));
  await writeFile(join(folder, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}

async function writeJsonBlob(blobs: string, value: unknown): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(JSON.stringify(value));
  const hex = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(blobs, hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.byteLength };
}

function elfHeader(): Buffer {
  const header = Buffer.alloc(ELF_HEADER_SIZE);
  header.writeUInt32BE(0x7f454c46, 0);
  header[4] = 2; // ELFCLASS64
  header[5] = 1; // ELFDATA2LSB
  header[6] = 1; // EV_CURRENT
  header.writeUInt16LE(2, 16); // ET_EXEC
  header.writeUInt16LE(0x3e, 18); // EM_X86_64
  header.writeUInt32LE(1, 20); // e_version
  header.writeUInt16LE(ELF_HEADER_SIZE, 52); // e_ehsize
  return header;
}
