/**
 * What the benchmark runs on: the external tools it compares against (found or not, with their
 * versions and the package that installs a missing one) and the machine.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { cpus, release, totalmem } from 'node:os';
import { delimiter, join } from 'node:path';

/** The Debian packages behind the external tools, for the install hint. */
export const INSTALL_HINT = 'apt-get install docker-registry skopeo nginx-light wrk curl';

/** An external tool and whether this machine has it. */
export interface Tool {
  /** Command name, such as `skopeo`. */
  name: string;
  /** Debian package that installs it. */
  debianPackage: string;
  /** Absolute path, or `undefined` when it is missing. */
  path: string | undefined;
  /** First line of its version output, or `undefined` when it is missing. */
  version: string | undefined;
}

/** The tools the cases use, by command name. */
export type Tools = Record<'docker-registry' | 'skopeo' | 'nginx' | 'wrk' | 'curl' | 'sha256sum', Tool>;

/** The machine and software the numbers come from. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryBytes: number;
  /** Device, file system and whether it is rotational, for the temporary folder. */
  disk: string;
  kernel: string;
  node: string;
}

/** Finds each tool on `PATH` (and in `/usr/sbin`, where Debian puts nginx) and reads its version. */
export async function findTools(): Promise<Tools> {
  const find = async (name: keyof Tools, debianPackage: string, versionArgs: string[]): Promise<Tool> => {
    const path = which(name);
    const version = path === undefined ? undefined : await versionOf(path, versionArgs);
    return { name, debianPackage, path, version };
  };
  return {
    'docker-registry': await find('docker-registry', 'docker-registry', ['--version']),
    skopeo: await find('skopeo', 'skopeo', ['--version']),
    nginx: await find('nginx', 'nginx-light', ['-v']),
    wrk: await find('wrk', 'wrk', ['--version']),
    curl: await find('curl', 'curl', ['--version']),
    sha256sum: await find('sha256sum', 'coreutils', ['--version']),
  };
}

/** Reads the CPU model, core count, memory, disk, kernel and node version. */
export async function describeMachine(folder: string): Promise<Machine> {
  const cpuInfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuInfo)?.[1] ?? cpus()[0]?.model ?? 'unknown';
  return {
    cpu: model.trim(),
    cores: cpus().length,
    memoryBytes: totalmem(),
    disk: await describeDisk(folder),
    kernel: `Linux ${release()}`,
    node: process.version,
  };
}

/** Runs a command and returns its first output line, or the error message when it fails. */
export function firstLine(file: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 10_000 }, (error, stdout, stderr) => {
      // wrk exits with 1 after printing its version, and nginx prints it on stderr.
      const text = `${stdout}${stderr}`.trim();
      resolve(text.split('\n')[0] || (error?.message ?? ''));
    });
  });
}

function which(name: string): string | undefined {
  const folders = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin'];
  for (const folder of folders) {
    if (folder === '') continue;
    const candidate = join(folder, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

function versionOf(path: string, args: string[]): Promise<string> {
  return firstLine(path, args);
}

async function describeDisk(folder: string): Promise<string> {
  const line = await new Promise<string>((resolve) => {
    execFile('df', ['--output=source,fstype,size', '-h', folder], (error, stdout) => {
      resolve(error ? '' : (stdout.trim().split('\n')[1] ?? '').trim());
    });
  });
  const [source = 'unknown', fstype = 'unknown', size = '?'] = line.split(/\s+/);
  const device = /^\/dev\/([a-z]+)/.exec(source)?.[1];
  let kind = '';
  if (device !== undefined) {
    const rotational = await readFile(`/sys/block/${device}/queue/rotational`, 'utf8').catch(() => '');
    if (rotational.trim() === '0') kind = ', not rotational';
    if (rotational.trim() === '1') kind = ', reported rotational (virtual disks often report so)';
  }
  return `${source} (${fstype}, ${size}${kind})`;
}
