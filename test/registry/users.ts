/**
 * htpasswd lines for tests, written by Apache's `htpasswd` itself so the registry is checked
 * against the format operators really use.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Returns a bcrypt line from `htpasswd -nbB` (cost 5, the tool's default), such as `alice:$2y$05$...`. */
export async function bcryptLine(user: string, password: string): Promise<string> {
  const { stdout } = await run('htpasswd', ['-nbB', user, password]);
  return stdout.trim();
}

/** Returns a `{SHA}` line as `htpasswd -s` writes it: the base64 SHA-1 of the password. */
export function shaLine(user: string, password: string): string {
  return `${user}:{SHA}${createHash('sha1').update(password).digest('base64')}`;
}

/** Returns an HTTP Basic `Authorization` value. */
export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
