/**
 * Install scripts for one release: `install.sh` (POSIX sh, for Linux, macOS and FreeBSD) and
 * `install.ps1` (Windows PowerShell 5.1 and PowerShell 7). Each script carries a table of the
 * release's builds with the URL, SHA-256 and name of each program, detects the machine, downloads the
 * program, checks its SHA-256, installs it and prints what it did.
 *
 * Only values that pass strict patterns reach a script (program names, hex digests, URLs the gateway
 * built), and each is quoted for the shell besides, so no artifact can inject shell code.
 */
import { formatPlatform, type Platform } from '../oci/platform.js';
import { downloadPath } from './links.js';
import type { Build, Release } from './release.js';

/** A program name that is safe as a file name on every OS and inside a script: no path, no quote, no space. */
export const SAFE_PROGRAM_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$/;

/** One entry of a script's table: what to install on a platform. */
export interface InstallEntry {
  /** The machine's platform as the script names it, such as `darwin/arm64`. */
  platform: string;
  name: string;
  url: string;
  sha256: string;
  /** Set when the build runs through emulation. */
  note: string;
}

/**
 * Lists what the scripts install on each platform: the native build, plus the x64 build on Apple
 * Silicon and Windows on Arm when no native build exists (with a note saying so). Builds whose program
 * name is not {@link SAFE_PROGRAM_NAME} are left out.
 */
export function installEntries(release: Release, baseUrl: string): InstallEntry[] {
  const entries: InstallEntry[] = [];
  const seen = new Set<string>();
  for (const build of release.builds) {
    const entry = entryFor(release, build, baseUrl);
    if (entry === undefined) continue;
    entries.push(entry);
    seen.add(entry.platform);
  }
  for (const [os, emulated] of [
    ['darwin', 'Rosetta 2'],
    ['windows', 'x64 emulation'],
  ] as const) {
    const x64 = entries.find((entry) => entry.platform === `${os}/amd64`);
    if (x64 && !seen.has(`${os}/arm64`)) {
      entries.push({
        ...x64,
        platform: `${os}/arm64`,
        note: `there is no Arm64 build, so the x64 build is installed; it runs through ${emulated}`,
      });
    }
  }
  return entries;
}

/** Renders `install.sh` for a release. */
export function renderInstallSh(release: Release, baseUrl: string): string {
  const entries = installEntries(release, baseUrl).filter((entry) => !entry.platform.startsWith('windows/'));
  const label = `${release.repository} ${release.version}`;
  const cases = entries
    .map(
      (entry) =>
        `    ${shQuote(entry.platform)}) name=${shQuote(entry.name)}; url=${shQuote(entry.url)}; sha256=${shQuote(entry.sha256)}; note=${shQuote(entry.note)} ;;`,
    )
    .join('\n');
  const available = entries.map((entry) => entry.platform).join(', ') || 'none';

  return `#!/bin/sh
# Installs ${label} from ${baseUrl}.
# Usage: curl -fsSL ${baseUrl}/${release.repository}/install.sh | sh
# Set INSTALL_DIR to choose the folder; the default is $HOME/.local/bin.
set -eu

label=${shQuote(label)}
available=${shQuote(available)}

fail() {
  echo "install.sh: $*" >&2
  exit 1
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  elif command -v openssl >/dev/null 2>&1; then
    openssl dgst -sha256 -r "$1" | cut -d ' ' -f 1
  else
    fail "found no sha256sum, shasum or openssl to check the download; install one of them"
  fi
}

main() {
  os=$(uname -s)
  cpu=$(uname -m)
  case "$os" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    FreeBSD) os=freebsd ;;
    *) fail "unsupported operating system $os; on Windows, use install.ps1" ;;
  esac
  case "$cpu" in
    x86_64 | amd64) cpu=amd64 ;;
    aarch64 | arm64) cpu=arm64 ;;
    armv6* | armv7*) cpu=arm ;;
    i386 | i486 | i586 | i686) cpu=386 ;;
  esac
  # A shell under Rosetta 2 reports x86_64 on Apple Silicon; the kernel tells the truth.
  if [ "$os" = darwin ] && [ "$cpu" = amd64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
    cpu=arm64
  fi

  case "$os/$cpu" in
${cases || '    _) ;;'}
    *) fail "$label has no build for $os/$cpu; builds exist for: $available" ;;
  esac

  dir=\${INSTALL_DIR:-\${HOME:?set HOME or INSTALL_DIR}/.local/bin}
  mkdir -p "$dir" || fail "cannot create $dir; set INSTALL_DIR to a folder you can write"
  tmp=$(mktemp "$dir/.$name.XXXXXX") || fail "cannot write to $dir; set INSTALL_DIR to a folder you can write"
  trap 'rm -f "$tmp"' EXIT
  trap 'exit 1' INT TERM

  [ -z "$note" ] || echo "Note: $note."
  echo "Downloading $label for $os/$cpu"
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL -o "$tmp" "$url" || fail "download failed: $url"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$tmp" "$url" || fail "download failed: $url"
  else
    fail "found neither curl nor wget; install one of them"
  fi

  actual=$(sha256_of "$tmp")
  [ "$actual" = "$sha256" ] || fail "SHA-256 mismatch for $name: expected $sha256, got $actual; nothing was installed"

  chmod 755 "$tmp"
  mv -f "$tmp" "$dir/$name"
  trap - EXIT INT TERM
  echo "Installed $label ($os/$cpu) as $dir/$name, SHA-256 $sha256"
  case ":$PATH:" in
    *":$dir:"*) ;;
    *) echo "$dir is not in PATH; add it, for example: export PATH=\\"$dir:\\$PATH\\"" ;;
  esac
}

main "$@"
`;
}

/** Renders `install.ps1` for a release. */
export function renderInstallPs1(release: Release, baseUrl: string): string {
  const entries = installEntries(release, baseUrl).filter((entry) => entry.platform.startsWith('windows/'));
  const label = `${release.repository} ${release.version}`;
  const table = entries
    .map(
      (entry) =>
        `    ${psQuote(entry.platform)} = @{ Name = ${psQuote(entry.name)}; Url = ${psQuote(entry.url)}; Sha256 = ${psQuote(entry.sha256)}; Note = ${psQuote(entry.note)} }`,
    )
    .join('\n');
  const available = entries.map((entry) => entry.platform).join(', ') || 'none';
  const folder = release.repository.replaceAll('/', '-');

  return `# Installs ${label} from ${baseUrl}.
# Usage: irm ${baseUrl}/${release.repository}/install.ps1 | iex
# Set INSTALL_DIR to choose the folder; the default is %LOCALAPPDATA%\\Programs\\${folder}.
& {
  $ErrorActionPreference = 'Stop'
  $ProgressPreference = 'SilentlyContinue'
  $label = ${psQuote(label)}
  $available = ${psQuote(available)}
  $builds = @{
${table}
  }

  $arch = $null
  try { $arch = [System.Runtime.InteropServices.RuntimeInformation]::OSArchitecture.ToString() } catch { }
  if (-not $arch) { $arch = if ($env:PROCESSOR_ARCHITEW6432) { $env:PROCESSOR_ARCHITEW6432 } else { $env:PROCESSOR_ARCHITECTURE } }
  switch ($arch.ToUpperInvariant()) {
    'X64' { $cpu = 'amd64' }
    'AMD64' { $cpu = 'amd64' }
    'ARM64' { $cpu = 'arm64' }
    'X86' { $cpu = '386' }
    default { $cpu = $arch.ToLowerInvariant() }
  }
  $platform = "windows/$cpu"
  $build = $builds[$platform]
  if (-not $build) { throw "$label has no build for $platform; builds exist for: $available" }

  $dir = if ($env:INSTALL_DIR) { $env:INSTALL_DIR } else { Join-Path $env:LOCALAPPDATA ${psQuote(`Programs\\${folder}`)} }
  New-Item -ItemType Directory -Force -Path $dir | Out-Null
  $target = Join-Path $dir $build.Name
  $tmp = "$target.download"

  if ($build.Note) { Write-Host "Note: $($build.Note)." }
  Write-Host "Downloading $label for $platform"
  Invoke-WebRequest -UseBasicParsing -Uri $build.Url -OutFile $tmp
  $actual = (Get-FileHash -Algorithm SHA256 -LiteralPath $tmp).Hash.ToLowerInvariant()
  if ($actual -ne $build.Sha256) {
    Remove-Item -LiteralPath $tmp -Force
    throw "SHA-256 mismatch for $($build.Name): expected $($build.Sha256), got $actual; nothing was installed"
  }
  Move-Item -LiteralPath $tmp -Destination $target -Force
  Write-Host "Installed $label ($platform) as $target, SHA-256 $actual"
  if (($env:PATH -split ';') -notcontains $dir) {
    Write-Host "$dir is not in PATH; add it with: [Environment]::SetEnvironmentVariable('PATH', \\"$dir;\\" + [Environment]::GetEnvironmentVariable('PATH', 'User'), 'User')"
  }
}
`;
}

/** Quotes a value for POSIX sh: single quotes, with each `'` written as `'\''`. */
export function shQuote(value: string): string {
  return `'${value.replaceAll("'", "'\\''")}'`;
}

/**
 * Quotes a value for PowerShell: single quotes, doubling every quote character, which in PowerShell
 * includes the typographic single quotes U+2018 to U+201B.
 */
export function psQuote(value: string): string {
  return `'${value.replace(/['\u2018-\u201b]/g, (quote) => quote + quote)}'`;
}

function entryFor(release: Release, build: Build, baseUrl: string): InstallEntry | undefined {
  const main = build.main;
  const platform: Platform | undefined = build.platform;
  if (main === undefined || platform === undefined || !SAFE_PROGRAM_NAME.test(main.name)) return undefined;
  if (!main.digest.startsWith('sha256:')) return undefined;
  return {
    platform: formatPlatform({ os: platform.os, architecture: platform.architecture }),
    name: main.name,
    url: `${baseUrl}${downloadPath(release.repository, release.version, platform)}`,
    sha256: main.digest.slice('sha256:'.length),
    note: '',
  };
}
