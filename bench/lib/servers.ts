/**
 * The servers a case measures against, each started on a free 127.0.0.1 port with its data in a
 * temporary folder: `ocidrop serve`, CNCF Distribution (`docker-registry`) and nginx.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { readCpuSeconds, readPeakRss, resetPeakRss } from './measure.js';

/** How long a server may take to start responding, in milliseconds. */
const START_TIMEOUT_MS = 15_000;

/** A server process under measurement. */
export interface RunningServer {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** `127.0.0.1:PORT`, the registry part of a reference. */
  host: string;
  pid: number;
  /** Resets the process's peak RSS before a measured operation. */
  resetPeak(): Promise<void>;
  /** Peak RSS in bytes since the last {@link RunningServer.resetPeak}. */
  peak(): Promise<number | undefined>;
  /** User plus system CPU seconds used since the process started. */
  cpuSeconds(): Promise<number | undefined>;
  /** Stops the process and deletes its data. */
  close(): Promise<void>;
}

/** Options of {@link startOcidrop}. */
export interface OcidropServeOptions {
  /** `build/src/cli/main.js`. */
  cli: string;
  /** Extra node flags, such as `--cpu-prof`. */
  nodeFlags?: string[];
}

/** Starts `ocidrop serve --data DIR --host 127.0.0.1 --port 0` and waits for the line with its URL. */
export async function startOcidrop(options: OcidropServeOptions): Promise<RunningServer> {
  const folder = await mkdtemp(join(tmpdir(), 'ocidrop-bench-serve-'));
  const args = [...(options.nodeFlags ?? []), options.cli, 'serve', '--data', join(folder, 'data')];
  const child = spawn(process.execPath, [...args, '--host', '127.0.0.1', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: folder,
  });
  const stderr = keepTail(child);

  const url = await new Promise<string>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(
      () => reject(new Error(`ocidrop serve printed no URL within 15 s: ${stderr()}`)),
      START_TIMEOUT_MS,
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
      reject(new Error(`ocidrop serve exited with code ${code}: ${stderr()}`));
    });
  }).catch(async (error: unknown) => {
    await stop(child);
    await rm(folder, { recursive: true, force: true });
    throw error;
  });
  // The log is not needed, and a full pipe would block the server.
  child.stdout!.resume();
  return wrap(child, url, folder);
}

/** Starts Distribution with filesystem storage and waits until `GET /v2/` responds. */
export async function startDistribution(binary: string): Promise<RunningServer> {
  const folder = await mkdtemp(join(tmpdir(), 'ocidrop-bench-distribution-'));
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(folder, 'data')}`,
    'http:',
    `  addr: 127.0.0.1:${port}`,
  ];
  await writeFile(join(folder, 'config.yml'), `${config.join('\n')}\n`);

  const child = spawn(binary, ['serve', join(folder, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  return waitReady(child, `http://127.0.0.1:${port}`, '/v2/', folder, 'docker-registry');
}

/**
 * Starts nginx in the foreground as one process (`master_process off`) serving `root`, so that its
 * peak RSS is that of one process, like the other servers. `sendfile` is on, as in Debian's default.
 */
export async function startNginx(binary: string, root: string): Promise<RunningServer> {
  const folder = await mkdtemp(join(tmpdir(), 'ocidrop-bench-nginx-'));
  const port = await freePort();
  await mkdir(join(folder, 'temp'));
  const config = [
    'daemon off;',
    'master_process off;',
    'worker_processes 1;',
    `pid ${join(folder, 'nginx.pid')};`,
    `error_log ${join(folder, 'error.log')} error;`,
    'events { worker_connections 1024; }',
    'http {',
    '  access_log off;',
    '  sendfile on;',
    '  tcp_nopush on;',
    '  keepalive_requests 1000000;',
    '  default_type application/octet-stream;',
    `  client_body_temp_path ${join(folder, 'temp')};`,
    `  proxy_temp_path ${join(folder, 'temp')};`,
    `  fastcgi_temp_path ${join(folder, 'temp')};`,
    `  uwsgi_temp_path ${join(folder, 'temp')};`,
    `  scgi_temp_path ${join(folder, 'temp')};`,
    `  server { listen 127.0.0.1:${port}; root ${root}; }`,
    '}',
  ];
  await writeFile(join(folder, 'nginx.conf'), `${config.join('\n')}\n`);

  const child = spawn(binary, ['-p', folder, '-c', join(folder, 'nginx.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return waitReady(child, `http://127.0.0.1:${port}`, '/', folder, 'nginx');
}

/** Returns a port that was free a moment ago, found by listening on port 0 and closing. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitReady(
  child: ChildProcess,
  url: string,
  path: string,
  folder: string,
  name: string,
): Promise<RunningServer> {
  const stderr = keepTail(child);
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (child.exitCode !== null) {
      await rm(folder, { recursive: true, force: true });
      throw new Error(`${name} exited with code ${child.exitCode}: ${stderr()}`);
    }
    try {
      const response = await fetch(`${url}${path}`);
      await response.arrayBuffer();
      // Any HTTP response means the server is up.
      return wrap(child, url, folder);
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      await stop(child);
      await rm(folder, { recursive: true, force: true });
      throw new Error(`${name} did not respond on ${url}${path} within 15 s: ${stderr()}`);
    }
    await delay(50);
  }
}

function wrap(child: ChildProcess, url: string, folder: string): RunningServer {
  const pid = child.pid!;
  return {
    url,
    host: new URL(url).host,
    pid,
    async resetPeak() {
      await resetPeakRss(pid);
    },
    peak: () => readPeakRss(pid),
    cpuSeconds: () => readCpuSeconds(pid),
    async close() {
      await stop(child);
      await rm(folder, { recursive: true, force: true });
    },
  };
}

function keepTail(child: ChildProcess): () => string {
  let text = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    text = (text + chunk).slice(-4000);
  });
  return () => text.trim();
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
