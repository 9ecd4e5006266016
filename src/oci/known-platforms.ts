/**
 * The OS and architecture names of Go's `GOOS` and `GOARCH` (the `knownOS` and `knownArch` lists of
 * Go's `go/build/syslist.go`), which the image specification's `platform.os` and
 * `platform.architecture` take their values from (image-index.md). A name outside them is most
 * likely a typo.
 */

/** `GOOS` values. */
export const KNOWN_OS: ReadonlySet<string> = new Set([
  'aix',
  'android',
  'darwin',
  'dragonfly',
  'freebsd',
  'hurd',
  'illumos',
  'ios',
  'js',
  'linux',
  'nacl',
  'netbsd',
  'openbsd',
  'plan9',
  'solaris',
  'wasip1',
  'windows',
  'zos',
]);

/** `GOARCH` values. */
export const KNOWN_ARCHITECTURES: ReadonlySet<string> = new Set([
  '386',
  'amd64',
  'amd64p32',
  'arm',
  'armbe',
  'arm64',
  'arm64be',
  'loong64',
  'mips',
  'mipsle',
  'mips64',
  'mips64le',
  'mips64p32',
  'mips64p32le',
  'ppc',
  'ppc64',
  'ppc64le',
  'riscv',
  'riscv64',
  's390',
  's390x',
  'sparc',
  'sparc64',
  'wasm',
]);

/**
 * Returns a warning for a platform whose OS or architecture is not a Go name, such as `linx/amd64`,
 * or undefined when both are known.
 */
export function unknownPlatformWarning(platform: { os: string; architecture: string }): string | undefined {
  const unknown: string[] = [];
  if (!KNOWN_OS.has(platform.os)) unknown.push(`OS ${JSON.stringify(platform.os)}`);
  if (!KNOWN_ARCHITECTURES.has(platform.architecture))
    unknown.push(`architecture ${JSON.stringify(platform.architecture)}`);
  if (unknown.length === 0) return undefined;
  return `${unknown.join(' and ')} of ${platform.os}/${platform.architecture} not in Go's GOOS/GOARCH list; check the spelling, such as linux/amd64 or darwin/arm64`;
}
