/**
 * URLs of the gateway's own pages and downloads, and the labels it shows for platforms, sizes and dates.
 * Repository names and tags only hold URL-safe characters once validated; file names are percent-encoded.
 */
import type { IncomingMessage } from 'node:http';
import type { Platform } from '../oci/platform.js';

/** Path of a repository's page, or of one version's page. */
export function pagePath(repository: string, version?: string): string {
  return version === undefined ? `/${repository}` : `/${repository}/${encodeURIComponent(version)}`;
}

/** Path of the program download of a version, for a platform when one is given. */
export function downloadPath(repository: string, version: string, platform?: Platform): string {
  return `/${repository}/${encodeURIComponent(version)}/download${platformQuery(platform)}`;
}

/** Path of one file of a version, for a platform when one is given. */
export function filePath(repository: string, version: string, name: string, platform?: Platform): string {
  return `/${repository}/${encodeURIComponent(version)}/files/${encodeURIComponent(name)}${platformQuery(platform)}`;
}

/** Path of a whole build as an archive. */
export function archivePath(
  repository: string,
  version: string,
  format: 'zip' | 'tar.gz',
  platform?: Platform,
): string {
  return `/${repository}/${encodeURIComponent(version)}/archive.${format}${platformQuery(platform)}`;
}

/** Path of the update API of a repository. */
export function latestJsonPath(repository: string, platform?: Platform): string {
  return `/${repository}/latest.json${platformQuery(platform)}`;
}

/** Path of an install script. */
export function installPath(repository: string, shell: 'sh' | 'ps1'): string {
  return `/${repository}/install.${shell}`;
}

/** Returns `?os=...&arch=...` (and `&variant=`) for a platform, or an empty string. */
export function platformQuery(platform: Platform | undefined): string {
  if (platform === undefined) return '';
  const query = new URLSearchParams({ os: platform.os, arch: platform.architecture });
  if (platform.variant) query.set('variant', platform.variant);
  return `?${query.toString()}`;
}

/**
 * Returns, for a request from curl or Wget (whose `User-Agent` names no platform), a sentence with the
 * exact URL to use instead: the request's URL with `os` and `arch` of the first available build.
 * Returns an empty string for any other client or when no build has a platform.
 */
export function commandLineHint(
  req: IncomingMessage,
  baseUrl: string,
  available: readonly Platform[],
): string {
  const agent = req.headers['user-agent'] ?? '';
  const example = available[0];
  if (!/^(?:curl|wget)\//i.test(agent) || example === undefined) return '';
  const url = new URL(req.url ?? '/', 'http://gateway.invalid');
  url.searchParams.set('os', example.os);
  url.searchParams.set('arch', example.architecture);
  if (example.variant) url.searchParams.set('variant', example.variant);
  else url.searchParams.delete('variant');
  return `; curl and wget do not tell their platform, so name it, such as ${baseUrl}${url.pathname}${url.search}`;
}

const OS_LABELS: Record<string, string> = {
  windows: 'Windows',
  darwin: 'macOS',
  linux: 'Linux',
  freebsd: 'FreeBSD',
  openbsd: 'OpenBSD',
  android: 'Android',
  ios: 'iOS',
};

const ARCHITECTURE_LABELS: Record<string, string> = {
  amd64: 'x64',
  arm64: 'Arm64',
  '386': 'x86, 32-bit',
  arm: 'Arm, 32-bit',
};

/** Names an OS for people: `macOS` for `darwin`. */
export function osLabel(os: string): string {
  // An own-property check, because an OS from a query or an artifact may be `constructor` or `__proto__`.
  return Object.hasOwn(OS_LABELS, os) ? OS_LABELS[os]! : os;
}

/** Names a platform for people, such as `macOS (Apple Silicon)` or `Linux (x64)`. */
export function platformLabel(platform: {
  os: string;
  architecture: string | undefined;
  variant?: string;
}): string {
  if (platform.architecture === undefined) return osLabel(platform.os);
  if (platform.os === 'darwin' && platform.architecture === 'arm64') return 'macOS (Apple Silicon)';
  if (platform.os === 'darwin' && platform.architecture === 'amd64') return 'macOS (Intel)';
  const architecture = Object.hasOwn(ARCHITECTURE_LABELS, platform.architecture)
    ? ARCHITECTURE_LABELS[platform.architecture]!
    : platform.architecture;
  const variant = platform.variant ? ` ${platform.variant}` : '';
  return `${osLabel(platform.os)} (${architecture}${variant})`;
}

/** Formats a size in binary units, such as `1.4 MiB`. */
export function formatSize(bytes: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} bytes` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Formats an RFC 3339 date as `YYYY-MM-DD HH:MM UTC`; returns undefined for anything that is not a date. */
export function formatDate(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const time = Date.parse(value);
  if (Number.isNaN(time)) return undefined;
  return `${new Date(time).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
