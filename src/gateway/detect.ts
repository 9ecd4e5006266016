/**
 * Detects a visitor's operating system and CPU from request headers: the User-Agent Client Hints
 * (`Sec-CH-UA-Platform`, `Sec-CH-UA-Arch`, `Sec-CH-UA-Bitness`, WICG "User-Agent Client Hints")
 * when the browser sends them, else the `User-Agent` string. Names are Go's, as in OCI platforms.
 *
 * Browsers hide some facts: every macOS browser reports "Intel Mac OS X", even on Apple Silicon, and
 * Chromium on Windows reports "Win64; x64" on Arm too. Detection then leaves the architecture open and
 * lists the candidates, so that the page can state this instead of guessing.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** The client hints the gateway requests with `Accept-CH` and reads back. */
export const CLIENT_HINTS = ['Sec-CH-UA-Platform', 'Sec-CH-UA-Arch', 'Sec-CH-UA-Bitness'] as const;

/** Request headers that detection reads, for a `Vary` header. */
export const DETECTION_HEADERS = ['User-Agent', ...CLIENT_HINTS] as const;

/** The visitor's platform as far as the headers reveal it. */
export interface DetectedPlatform {
  /** OCI `os`: `windows`, `darwin`, `linux`, `android`, `ios`, `freebsd`...; undefined when unknown. */
  os: string | undefined;
  /** OCI `architecture` when the headers name it; undefined when they do not. */
  architecture: string | undefined;
  /** Architectures the visitor may have when `architecture` is undefined, most likely first. */
  candidates: string[];
  /** The input the result came from. */
  source: 'query' | 'client-hints' | 'user-agent' | 'none';
}

/** The architectures an OS is commonly shipped for, used as candidates when the CPU is hidden. */
const COMMON_ARCHITECTURES = new Map<string, string[]>([
  ['darwin', ['arm64', 'amd64']],
  ['windows', ['amd64', 'arm64']],
  ['linux', ['amd64', 'arm64']],
  ['freebsd', ['amd64', 'arm64']],
  ['android', ['arm64', 'amd64']],
  ['ios', ['arm64']],
]);

// Sec-CH-UA-Platform values (WICG UA-CH, "Sec-CH-UA-Platform") mapped to OCI `os` names. A Map,
// because a header value such as "__proto__" or "constructor" would find inherited members of an object.
const HINT_PLATFORMS = new Map<string, string>([
  ['windows', 'windows'],
  ['macos', 'darwin'],
  ['linux', 'linux'],
  ['chrome os', 'linux'],
  ['chromeos', 'linux'],
  ['android', 'android'],
  ['ios', 'ios'],
  ['freebsd', 'freebsd'],
]);

/**
 * Detects the platform from `User-Agent` and client hints.
 *
 * Client hints win where they name something, because browsers freeze the User-Agent string.
 */
export function detectPlatform(headers: IncomingHttpHeaders): DetectedPlatform {
  const fromAgent = detectFromUserAgent(headerValue(headers['user-agent']));
  const hintOs = HINT_PLATFORMS.get(unquote(headerValue(headers['sec-ch-ua-platform'])).toLowerCase());
  const hintArchitecture = architectureFromHints(
    unquote(headerValue(headers['sec-ch-ua-arch'])),
    unquote(headerValue(headers['sec-ch-ua-bitness'])),
  );

  if (hintOs === undefined && hintArchitecture === undefined) return fromAgent;

  const os = hintOs ?? fromAgent.os;
  // An architecture from the User-Agent counts only for the OS it was read with.
  const agentArchitecture = fromAgent.os === os ? fromAgent.architecture : undefined;
  const architecture = hintArchitecture ?? agentArchitecture ?? (os === 'ios' ? 'arm64' : undefined);
  return {
    os,
    architecture,
    candidates: architecture !== undefined ? [architecture] : candidatesFor(os),
    source: 'client-hints',
  };
}

/** Detects the platform from a `User-Agent` string alone. */
export function detectFromUserAgent(userAgent: string): DetectedPlatform {
  const agent = userAgent.trim();
  if (agent === '') return unknown();

  // Apple phones and tablets first: their strings also contain "like Mac OS X".
  if (/\b(?:iPhone|iPad|iPod)\b/.test(agent)) return known('ios', 'arm64');

  // Android before Linux: every Android string also contains "Linux".
  if (/\bAndroid\b/.test(agent)) return withArchitecture('android', architectureToken(agent));

  if (/\bWindows\b|\bWin(?:32|64)\b/.test(agent))
    return withArchitecture('windows', windowsArchitecture(agent));

  if (/\bMacintosh\b|\bMac OS X\b|\bDarwin\b/.test(agent)) {
    // PowerShell on macOS puts the kernel version, which names the CPU (RELEASE_ARM64_T6000).
    if (/RELEASE_ARM64/.test(agent)) return known('darwin', 'arm64');
    if (/RELEASE_X86_64/.test(agent)) return known('darwin', 'amd64');
    // Browsers report "Intel Mac OS X" on Apple Silicon too, so "Intel" proves nothing.
    return withArchitecture('darwin', undefined);
  }

  if (/\bFreeBSD\b/.test(agent)) return withArchitecture('freebsd', architectureToken(agent));

  if (/\bCrOS\b|\bLinux\b|\bX11\b/.test(agent)) return withArchitecture('linux', architectureToken(agent));

  return unknown();
}

/** Lists the architectures to offer when an OS is known but its CPU is not. */
export function candidatesFor(os: string | undefined): string[] {
  return os === undefined ? [] : (COMMON_ARCHITECTURES.get(os) ?? ['amd64', 'arm64']);
}

/**
 * Reads `Sec-CH-UA-Arch` ("x86", "arm") and `Sec-CH-UA-Bitness` ("64", "32").
 * A missing bitness counts as 64 bit.
 * NOTE: a 32-bit browser that sends `Sec-CH-UA-Arch` without `Sec-CH-UA-Bitness` is taken for a 64-bit one.
 */
export function architectureFromHints(arch: string, bitness: string): string | undefined {
  const is32 = bitness === '32';
  switch (arch.toLowerCase()) {
    case 'x86':
      return is32 ? '386' : 'amd64';
    case 'arm':
      return is32 ? 'arm' : 'arm64';
    default:
      return undefined;
  }
}

// Only an explicit Arm token settles the CPU, because Chromium's reduced User-Agent says "Win64; x64" on Windows on Arm too.
function windowsArchitecture(agent: string): string | undefined {
  return /\bARM64\b|\baarch64\b/i.test(agent) ? 'arm64' : undefined;
}

function architectureToken(agent: string): string | undefined {
  if (/\b(?:x86_64|amd64|x64)\b/i.test(agent)) return 'amd64';
  if (/\b(?:aarch64|arm64|armv8l?)\b/i.test(agent)) return 'arm64';
  if (/\barmv[67]l?\b/i.test(agent)) return 'arm';
  if (/\b(?:i[3-6]86|x86)\b/i.test(agent)) return '386';
  if (/\briscv64\b/i.test(agent)) return 'riscv64';
  return undefined;
}

function known(os: string, architecture: string): DetectedPlatform {
  return { os, architecture, candidates: [architecture], source: 'user-agent' };
}

function withArchitecture(os: string, architecture: string | undefined): DetectedPlatform {
  if (architecture !== undefined) return known(os, architecture);
  return { os, architecture: undefined, candidates: candidatesFor(os), source: 'user-agent' };
}

function unknown(): DetectedPlatform {
  return { os: undefined, architecture: undefined, candidates: [], source: 'none' };
}

function headerValue(value: string | string[] | undefined): string {
  return Array.isArray(value) ? (value[0] ?? '') : (value ?? '');
}

// Client hints are structured-field strings: `"Windows"`, with the quotes.
function unquote(value: string): string {
  const trimmed = value.trim();
  return trimmed.length >= 2 && trimmed.startsWith('"') && trimmed.endsWith('"')
    ? trimmed.slice(1, -1)
    : trimmed;
}
