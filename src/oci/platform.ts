/**
 * Platforms as the OCI image index describes them (`image-index.md`, "platform"): an `os`, an
 * `architecture` and an optional `variant`, with Go's names (`linux`, `darwin`, `windows`;
 * `amd64`, `arm64`, `386`, `arm`).
 */
import { InvalidPlatformError } from './errors.js';

/** The `platform` object of an index entry. */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

const PART = /^[a-z0-9][a-z0-9._-]*$/;

/**
 * Parses `os/architecture[/variant]`, such as `linux/amd64` or `linux/arm/v7`.
 * @throws InvalidPlatformError naming the value.
 */
export function parsePlatform(value: string): Platform {
  const parts = value.split('/');
  if (parts.length < 2 || parts.length > 3 || !parts.every((part) => PART.test(part))) {
    throw new InvalidPlatformError(
      `invalid platform ${JSON.stringify(value)}: expected "os/architecture" in lowercase, such as "linux/amd64" or "windows/arm64"`,
    );
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

/** Formats a platform as `os/architecture[/variant]`. */
export function formatPlatform(platform: Platform): string {
  const base = `${platform.os}/${platform.architecture}`;
  return platform.variant ? `${base}/${platform.variant}` : base;
}

/**
 * Tells whether an artifact built for `candidate` is the build asked for by `wanted`.
 * OS and architecture must be equal; a variant counts only when both sides name one, and
 * `arm64` with variant `v8` equals `arm64` without one, as in containerd's platform matcher.
 */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  if (wanted.os !== candidate.os || wanted.architecture !== candidate.architecture) return false;
  const wantedVariant = normalizeVariant(wanted);
  const candidateVariant = normalizeVariant(candidate);
  return wantedVariant === undefined || candidateVariant === undefined || wantedVariant === candidateVariant;
}

/** Returns the platform of the running Node.js process in OCI names. */
export function hostPlatform(): Platform {
  return { os: osFromNode(process.platform), architecture: architectureFromNode(process.arch) };
}

/** Maps a Node.js `process.platform` value to an OCI `os`. */
export function osFromNode(platform: string): string {
  return platform === 'win32' ? 'windows' : platform;
}

/** Maps a Node.js `process.arch` value to an OCI `architecture`. */
export function architectureFromNode(arch: string): string {
  switch (arch) {
    case 'x64':
      return 'amd64';
    case 'ia32':
      return '386';
    case 'ppc64':
      // Node.js reports little-endian POWER as ppc64 on Linux, the only place it runs.
      return 'ppc64le';
    default:
      return arch;
  }
}

function normalizeVariant(platform: Platform): string | undefined {
  if (platform.architecture === 'arm64' && platform.variant === 'v8') return undefined;
  return platform.variant || undefined;
}
