/**
 * Runs the built `ocidrop serve` as a child process on a free loopback port, as a user would.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from './paths.js';

/** A running `ocidrop serve`. */
export interface ServeProcess {
  /** Base URL, such as `http://127.0.0.1:41234`. */
  url: string;
  /** `127.0.0.1:PORT`, the registry part of references. */
  host: string;
  dataDir: string;
  child: ChildProcess;
  /** Everything the process wrote to stderr so far (its JSON log). */
  log(): string;
  close(): Promise<void>;
}

/** Starts `ocidrop serve --data DIR --port 0 [extraArgs...]` and waits for the line with its URL. */
export async function startServe(dataDir?: string, extraArgs: string[] = []): Promise<ServeProcess> {
  const dir = dataDir ?? (await mkdtemp(join(tmpdir(), 'ocidrop-serve-')));
  const child = spawn(
    process.execPath,
    [CLI, 'serve', '--data', dir, '--host', '127.0.0.1', '--port', '0', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const { url, log } = await waitForServeUrl(child);
  return {
    url,
    host: new URL(url).host,
    dataDir: dir,
    child,
    log,
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * Waits until a spawned `ocidrop serve` prints its URL, collecting its stderr (the JSON log).
 * @throws Error with that log when the process exits first or prints no URL within 15 s.
 */
export async function waitForServeUrl(child: ChildProcess): Promise<{ url: string; log: () => string }> {
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    stderr += text;
  });
  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(
      () => reject(new Error(`ocidrop serve printed no URL within 15 s; stderr: ${stderr}`)),
      15_000,
    );
    child.stdout!.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
      const match = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`ocidrop serve exited with code ${code}; stderr: ${stderr}`));
    });
  });
  return { url, log: () => stderr };
}
