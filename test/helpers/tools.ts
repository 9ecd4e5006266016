/**
 * External programs the tests drive (CNCF Distribution, skopeo, curl, wget, jq, Chromium).
 * On a developer's machine a missing one skips its tests with the command that installs it.
 * Under CI (`CI=true`) a missing one fails the run, so CI can never pass by skipping.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Debian package that provides each program. */
const PACKAGES: Record<string, string> = {
  'docker-registry': 'docker-registry',
  skopeo: 'skopeo',
  curl: 'curl',
  wget: 'wget',
  jq: 'jq',
  htpasswd: 'apache2-utils',
  chromium: 'chromium',
  script: 'bsdutils',
};

/** Returns the absolute path of `program` on PATH, or undefined. */
export function findProgram(program: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const path = join(dir, program);
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not in this folder
    }
  }
  return undefined;
}

/**
 * Returns false when every program is installed, else a skip reason naming the install command.
 * @throws Error under CI, where a missing program is a broken setup rather than a reason to skip.
 */
export function skipUnless(...programs: string[]): false | string {
  const missing = programs.filter((program) => findProgram(program) === undefined);
  if (missing.length === 0) return false;
  const install = `apt-get install ${missing.map((program) => PACKAGES[program] ?? program).join(' ')}`;
  const reason = `needs ${missing.join(', ')}: ${install}`;
  if (process.env['CI'])
    throw new Error(`CI lacks programs the tests need (${missing.join(', ')}): run ${install}`);
  return reason;
}
