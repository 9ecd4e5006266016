/**
 * Detects the platform of a program from the header of its executable file: ELF (Linux and the
 * BSDs), Mach-O (macOS) and PE (Windows). Works on the first bytes of the file, so callers read
 * only {@link EXECUTABLE_HEADER_SIZE} bytes.
 */
import type { Platform } from './platform.js';

/** How many leading bytes of a file {@link detectExecutable} needs. */
export const EXECUTABLE_HEADER_SIZE = 4096;

/** What the header of an executable says. */
export interface ExecutableInfo {
  format: 'elf' | 'mach-o' | 'pe';
  /** Platforms the file runs on; a universal Mach-O file lists each of its architectures. */
  platforms: Platform[];
}

// ELF e_machine values (System V ABI, "Machine Information").
const ELF_MACHINES: Record<number, string> = {
  0x03: '386',
  0x08: 'mips',
  0x14: 'ppc',
  0x15: 'ppc64',
  0x16: 's390x',
  0x28: 'arm',
  0x3e: 'amd64',
  0xb7: 'arm64',
  0xf3: 'riscv64',
  0x102: 'loong64',
};

// ELF EI_OSABI values for systems that mark their binaries; 0 (System V) is what Linux uses.
const ELF_OS_ABIS: Record<number, string> = { 0x06: 'solaris', 0x09: 'freebsd', 0x0c: 'openbsd' };

// Mach-O cputype values (<mach/machine.h>); 64-bit types carry CPU_ARCH_ABI64 (0x01000000).
const MACH_CPU_TYPES: Record<number, string> = {
  0x00000007: '386',
  0x01000007: 'amd64',
  0x0000000c: 'arm',
  0x0100000c: 'arm64',
};

// PE COFF Machine values (Microsoft PE format, "Machine Types").
const PE_MACHINES: Record<number, string> = {
  0x014c: '386',
  0x8664: 'amd64',
  0x01c4: 'arm',
  0xaa64: 'arm64',
};

/** Reads the executable format and platform from a file's first bytes; undefined when it is not a known executable. */
export function detectExecutable(header: Uint8Array): ExecutableInfo | undefined {
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  if (header.byteLength >= 20 && view.getUint32(0, false) === 0x7f454c46) return detectElf(view);
  if (header.byteLength >= 8) {
    const magic = view.getUint32(0, false);
    // Thin Mach-O files are little-endian on every CPU macOS runs on: bytes ce/cf fa ed fe.
    if (magic === 0xcefaedfe || magic === 0xcffaedfe)
      return machOf([MACH_CPU_TYPES[view.getUint32(4, true)]]);
    // A universal (fat) file lists its architectures in big-endian fat_arch records of 20 bytes.
    if (magic === 0xcafebabe) return detectUniversal(view);
  }
  if (header.byteLength >= 64 && header[0] === 0x4d && header[1] === 0x5a) return detectPe(view);
  return undefined;
}

function detectElf(view: DataView): ExecutableInfo | undefined {
  const littleEndian = view.getUint8(5) === 1;
  const osAbi = view.getUint8(7);
  const machine = ELF_MACHINES[view.getUint16(18, littleEndian)];
  if (machine === undefined) return undefined;
  let architecture = machine;
  // The same machine value covers both byte orders on POWER; Go calls the little-endian one ppc64le.
  if (machine === 'ppc64' && littleEndian) architecture = 'ppc64le';
  if (machine === 'mips' && littleEndian) architecture = 'mipsle';
  return { format: 'elf', platforms: [{ os: ELF_OS_ABIS[osAbi] ?? 'linux', architecture }] };
}

function detectUniversal(view: DataView): ExecutableInfo | undefined {
  const count = view.getUint32(4, false);
  // Java class files share the 0xcafebabe magic; their next field is a version number far above 30.
  if (count === 0 || count > 30 || view.byteLength < 8 + count * 20) return undefined;
  const architectures: (string | undefined)[] = [];
  for (let i = 0; i < count; i++) architectures.push(MACH_CPU_TYPES[view.getUint32(8 + i * 20, false)]);
  return machOf(architectures);
}

function machOf(architectures: (string | undefined)[]): ExecutableInfo | undefined {
  const known = architectures.filter((architecture): architecture is string => architecture !== undefined);
  if (known.length === 0) return undefined;
  return {
    format: 'mach-o',
    platforms: [...new Set(known)].map((architecture) => ({ os: 'darwin', architecture })),
  };
}

function detectPe(view: DataView): ExecutableInfo | undefined {
  const offset = view.getUint32(0x3c, true);
  if (offset + 6 > view.byteLength) return undefined;
  if (view.getUint32(offset, false) !== 0x50450000) return undefined;
  const architecture = PE_MACHINES[view.getUint16(offset + 4, true)];
  if (architecture === undefined) return undefined;
  return { format: 'pe', platforms: [{ os: 'windows', architecture }] };
}
