/**
 * Runs CNCF Distribution (`/usr/bin/docker-registry`) on a free 127.0.0.1 port with filesystem
 * storage in a temporary folder, optionally behind htpasswd Basic authentication.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** The Distribution binary the tests use. */
export const DISTRIBUTION_BINARY = '/usr/bin/docker-registry';

/** A running Distribution registry. */
export interface RunningDistribution {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  /** `127.0.0.1:PORT`, the registry part of a reference. */
  host: string;
  /** Stops the process and deletes its storage. */
  close(): Promise<void>;
}

/** Options of {@link startDistribution}. */
export interface DistributionOptions {
  /** Contents of an htpasswd file (bcrypt lines); turns on Basic authentication. */
  htpasswd?: string;
}

/** Starts Distribution and waits until `GET /v2/` responds. */
export async function startDistribution(options: DistributionOptions = {}): Promise<RunningDistribution> {
  const folder = await mkdtemp(join(tmpdir(), 'ocidrop-distribution-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: error',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(folder, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${host}`,
  ];
  if (options.htpasswd !== undefined) {
    await writeFile(join(folder, 'htpasswd'), options.htpasswd);
    lines.push('auth:', '  htpasswd:', '    realm: ocidrop-test', `    path: ${join(folder, 'htpasswd')}`);
  }
  const config = join(folder, 'config.yml');
  await writeFile(config, `${lines.join('\n')}\n`);

  const child = spawn(DISTRIBUTION_BINARY, ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4000);
  });
  // A test process that ends without calling close() must not leave the registry running.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  const url = `http://${host}`;
  try {
    await waitForRegistry(url, child, () => stderr);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(folder, { recursive: true, force: true });
    throw error;
  }

  return {
    url,
    host,
    async close() {
      process.off('exit', killOnExit);
      await stop(child);
      await rm(folder, { recursive: true, force: true });
    },
  };
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

async function waitForRegistry(url: string, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null)
      throw new Error(`docker-registry exited with code ${child.exitCode}: ${stderr()}`);
    try {
      const response = await fetch(`${url}/v2/`);
      await response.arrayBuffer();
      // 401 means the registry is up and wants credentials.
      if (response.status === 200 || response.status === 401) return;
    } catch {
      // Not listening yet.
    }
    await delay(50);
  }
  throw new Error(`docker-registry did not answer on ${url}/v2/ within 15 s: ${stderr()}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
