/**
 * Test inputs: the real linux/amd64 builds of the `hello` program kept in test/fixtures, and small
 * stand-ins with real ELF, Mach-O and PE headers for the platforms whose builds are not kept.
 */
import { chmod, copyFile, mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's test/fixtures folder (tests run from build/test, two levels below the root). */
export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fixtures');

/** The two versions of `hello` the fixtures hold. */
export const VERSIONS = ['1.0.0', '1.1.0'] as const;

/** The five platforms `hello` is built for, with the file name of each build. */
export const PLATFORMS = [
  { platform: 'linux/amd64', file: 'hello' },
  { platform: 'linux/arm64', file: 'hello' },
  { platform: 'darwin/amd64', file: 'hello' },
  { platform: 'darwin/arm64', file: 'hello' },
  { platform: 'windows/amd64', file: 'hello.exe' },
] as const;

/** The extra files that ship with every platform. */
export const EXTRAS = [
  join(FIXTURES, 'extras', 'config', 'hello.toml'),
  join(FIXTURES, 'extras', 'fonts', 'DejaVuSansMono.ttf'),
];

/** Returns an executable header for `platform` followed by text that makes each version's file unique. */
export function standInExecutable(platform: string, version: string): Buffer {
  const header = Buffer.alloc(512);
  switch (platform) {
    case 'linux/arm64':
      header.write('\x7fELF', 0, 'latin1');
      header[4] = 2; // ELFCLASS64
      header[5] = 1; // little-endian
      header[6] = 1; // EV_CURRENT
      header.writeUInt16LE(2, 16); // ET_EXEC
      header.writeUInt16LE(0xb7, 18); // EM_AARCH64
      break;
    case 'darwin/amd64':
      header.writeUInt32LE(0xfeedfacf, 0); // MH_MAGIC_64
      header.writeUInt32LE(0x01000007, 4); // CPU_TYPE_X86_64
      break;
    case 'darwin/arm64':
      header.writeUInt32LE(0xfeedfacf, 0);
      header.writeUInt32LE(0x0100000c, 4); // CPU_TYPE_ARM64
      break;
    case 'windows/amd64':
      header.write('MZ', 0, 'latin1');
      header.writeUInt32LE(0x80, 0x3c); // e_lfanew
      header.write('PE\0\0', 0x80, 'latin1');
      header.writeUInt16LE(0x8664, 0x84); // IMAGE_FILE_MACHINE_AMD64
      break;
    default:
      throw new Error(`no stand-in header for platform ${platform}`);
  }
  return Buffer.concat([header, Buffer.from(`hello ${version} ${platform}\n`.repeat(64))]);
}

/**
 * Lays out a release tree like a cross-compiling build writes it, `<dir>/<version>/<os>-<arch>/<file>`,
 * with the real linux/amd64 builds and stand-ins for the rest. Returns the path of each file by version and platform.
 */
export async function writeReleaseTree(dir: string): Promise<Record<string, Record<string, string>>> {
  const paths: Record<string, Record<string, string>> = {};
  for (const version of VERSIONS) {
    paths[version] = {};
    for (const { platform, file } of PLATFORMS) {
      const path = join(dir, version, platform.replace('/', '-'), file);
      await mkdir(dirname(path), { recursive: true });
      if (platform === 'linux/amd64') {
        await copyFile(join(FIXTURES, 'hello', version, 'linux-amd64', 'hello'), path);
      } else {
        await writeFile(path, standInExecutable(platform, version));
      }
      await chmod(path, 0o755);
      paths[version]![platform] = path;
    }
  }
  return paths;
}
