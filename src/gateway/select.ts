/**
 * Chooses the build to offer a visitor, by rules that never guess silently. An exact match comes first.
 * Next is the x86-64 build where the OS runs it through emulation (Rosetta 2 on Apple Silicon, the x64
 * emulation of Windows on Arm). When the browser hides the CPU and more than one build could be right,
 * the visitor chooses.
 */
import { type Platform, platformMatches } from '../oci/platform.js';
import type { DetectedPlatform } from './detect.js';
import type { Build, Release } from './release.js';

/** Native architectures whose OS runs another architecture's programs, and which one. */
const EMULATED: Record<string, Record<string, string>> = {
  darwin: { arm64: 'amd64' },
  windows: { arm64: 'amd64' },
};

/** The outcome of choosing a build. */
export type Selection =
  /** The build for the platform, or the only build of a release without platforms. */
  | { kind: 'exact'; build: Build }
  /** No native build, but this one runs through the OS's emulation of `build.platform`. */
  | { kind: 'emulated'; build: Build; native: Platform }
  /**
   * The headers do not reveal which of these builds is right, so a page lets the visitor choose.
   * `portable` is the one build that runs on every candidate CPU, natively or through emulation, when
   * there is one: a download link without a page serves it.
   */
  | { kind: 'choice'; os: string; builds: Build[]; portable: Build | undefined }
  /** The OS is known and has no build that runs on it. */
  | { kind: 'missing'; wanted: { os: string; architecture: string | undefined } }
  /** The request names no platform, and the release has several. */
  | { kind: 'unknown' };

/** Picks the build of `release` for a detected platform. */
export function selectBuild(release: Pick<Release, 'builds'>, detected: DetectedPlatform): Selection {
  const universal = release.builds.find((build) => build.platform === undefined);
  if (universal !== undefined) return { kind: 'exact', build: universal };

  if (detected.os === undefined) {
    const only = release.builds.length === 1 ? release.builds[0] : undefined;
    return only ? { kind: 'exact', build: only } : { kind: 'unknown' };
  }
  const os = detected.os;

  if (detected.architecture !== undefined) {
    const native = { os, architecture: detected.architecture };
    const exact = findBuild(release.builds, native);
    if (exact) return { kind: 'exact', build: exact };
    const emulatedArchitecture = emulatedArchitectureOf(os, detected.architecture);
    const emulated = emulatedArchitecture
      ? findBuild(release.builds, { os, architecture: emulatedArchitecture })
      : undefined;
    if (emulated) return { kind: 'emulated', build: emulated, native };
    return { kind: 'missing', wanted: native };
  }

  const matching = release.builds.filter(
    (build) => build.platform?.os === os && detected.candidates.includes(build.platform.architecture),
  );
  if (matching.length === 0) return { kind: 'missing', wanted: { os, architecture: undefined } };
  if (matching.length === 1) {
    const build = matching[0]!;
    // One build that every candidate CPU runs, natively or through emulation, is safe to offer alone.
    if (detected.candidates.every((candidate) => runs(os, candidate, build.platform!.architecture))) {
      return { kind: 'exact', build };
    }
  }
  const portable = matching.find((build) =>
    detected.candidates.every((candidate) => runs(os, candidate, build.platform!.architecture)),
  );
  return { kind: 'choice', os, builds: matching, portable };
}

/** Finds the build for a platform, honouring the variant rules of `platformMatches`. */
export function findBuild(builds: readonly Build[], platform: Platform): Build | undefined {
  return builds.find((build) => build.platform !== undefined && platformMatches(platform, build.platform));
}

function runs(os: string, cpu: string, buildArchitecture: string): boolean {
  return cpu === buildArchitecture || emulatedArchitectureOf(os, cpu) === buildArchitecture;
}

// Own-property lookups, because the OS and CPU come from request headers and the query.
function emulatedArchitectureOf(os: string, cpu: string): string | undefined {
  const table = Object.hasOwn(EMULATED, os) ? EMULATED[os]! : undefined;
  return table !== undefined && Object.hasOwn(table, cpu) ? table[cpu] : undefined;
}
