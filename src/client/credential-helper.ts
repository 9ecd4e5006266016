/**
 * Docker credential helpers: programs named `docker-credential-<name>` that keep registry
 * credentials in a system keychain. `get` reads the registry host on stdin and prints
 * `{"ServerURL","Username","Secret"}`; a `Username` of `<token>` marks `Secret` as an identity token.
 */
import { execFile } from 'node:child_process';
import type { Credentials } from './credentials.js';
import { CredentialsError } from './errors.js';

/** How long a helper may run before it is stopped, in milliseconds. */
export const HELPER_TIMEOUT = 30_000;

// The helper's name becomes part of a program name, so it must not carry a path.
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/**
 * Runs `docker-credential-<name> get` for `host`. Returns undefined when the helper reports that it
 * has no credentials for the host.
 * @throws CredentialsError when the name is invalid, the program is missing, or it fails otherwise.
 */
export async function runCredentialHelper(name: string, host: string): Promise<Credentials | undefined> {
  if (!HELPER_NAME.test(name)) {
    throw new CredentialsError(
      `invalid credential helper name ${JSON.stringify(name)} in Docker's config.json`,
    );
  }
  const program = `docker-credential-${name}`;
  const { code, stdout, stderr } = await run(program, 'get', host);

  if (code !== 0) {
    // Helpers print this message, from docker-credential-helpers, when the host has no entry.
    if (/credentials not found/i.test(`${stdout} ${stderr}`)) return undefined;
    if (code === 'ENOENT') {
      throw new CredentialsError(
        `credential helper ${program} for ${host} is not installed: install it, or remove it from Docker's config.json`,
      );
    }
    throw new CredentialsError(
      `credential helper ${program} failed for ${host}: ${firstLine(stderr || stdout) || `exit ${code}`}`,
    );
  }

  let body: { Username?: unknown; Secret?: unknown };
  try {
    body = JSON.parse(stdout) as typeof body;
  } catch {
    throw new CredentialsError(`credential helper ${program} printed no valid JSON for ${host}`);
  }
  if (typeof body.Secret !== 'string' || body.Secret === '') return undefined;
  if (body.Username === '<token>') return { identityToken: body.Secret };
  return { username: typeof body.Username === 'string' ? body.Username : '', password: body.Secret };
}

/**
 * Stores credentials through `docker-credential-<name> store`, which reads
 * `{"ServerURL","Username","Secret"}` on stdin, or removes them through `erase`, which reads the host.
 * @throws CredentialsError when the name is invalid, the program is missing, or it fails.
 */
export async function updateCredentialHelper(
  name: string,
  host: string,
  credentials: { username: string; password: string } | undefined,
): Promise<void> {
  if (!HELPER_NAME.test(name)) {
    throw new CredentialsError(
      `invalid credential helper name ${JSON.stringify(name)} in Docker's config.json`,
    );
  }
  const program = `docker-credential-${name}`;
  const action = credentials === undefined ? 'erase' : 'store';
  const input =
    credentials === undefined
      ? host
      : JSON.stringify({ ServerURL: host, Username: credentials.username, Secret: credentials.password });
  const { code, stdout, stderr } = await run(program, action, input);
  if (code === 0) return;
  if (code === 'ENOENT') {
    throw new CredentialsError(
      `credential helper ${program} for ${host} is not installed: install it, or remove it from Docker's config.json`,
    );
  }
  throw new CredentialsError(
    `credential helper ${program} failed to ${action} credentials for ${host}: ${firstLine(stderr || stdout) || `exit ${code}`}`,
  );
}

function run(
  program: string,
  action: 'get' | 'store' | 'erase',
  input: string,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      program,
      [action],
      { timeout: HELPER_TIMEOUT, maxBuffer: 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : ((error as NodeJS.ErrnoException).code ?? 1);
        resolve({ code: typeof code === 'number' || typeof code === 'string' ? code : 1, stdout, stderr });
      },
    );
    child.stdin?.on('error', () => {
      // A helper that exits without reading stdin is reported through its exit status.
    });
    child.stdin?.end(input);
  });
}

function firstLine(text: string): string {
  return text.trim().split('\n')[0]?.slice(0, 200) ?? '';
}
