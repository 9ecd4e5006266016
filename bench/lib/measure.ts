/**
 * Timing one command and reading the peak resident set size (RSS) of a client and a server.
 *
 * A client command runs under `/usr/bin/time -f '%M %U %S'`, which prints the child's peak RSS in
 * KiB and its user and system CPU seconds when it exits. Without `/usr/bin/time`, the runner polls `VmHWM` in `/proc/<pid>/status` instead, which
 * misses a peak that lasts less than one polling interval. A server's peak is `VmHWM` of its process,
 * reset before each measured operation by writing `5` to `/proc/<pid>/clear_refs` (Linux 4.0 and later).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** The GNU time binary that reports a child's peak RSS. */
export const TIME_BINARY = '/usr/bin/time';

/** Interval of the `/proc` fallback polling of a client's peak RSS, in milliseconds. */
const POLL_INTERVAL_MS = 20;

/** Clock ticks per second of the CPU times in `/proc/<pid>/stat` (`USER_HZ` on x86 and arm Linux). */
const USER_HZ = 100;

/** Most of a failed command's output kept for its error message, in characters. */
const OUTPUT_TAIL = 4000;

/** One timed run of a command. */
export interface CommandResult {
  /** Wall-clock time from spawn to exit, in seconds. */
  seconds: number;
  /** Peak RSS of the command in bytes, or `undefined` when it could not be read. */
  peakRss: number | undefined;
  /** User plus system CPU seconds of the command, or `undefined` without `/usr/bin/time`. */
  cpuSeconds: number | undefined;
  stdout: string;
  stderr: string;
}

/** Options of {@link runTimed}. */
export interface RunOptions {
  /** Folder for the `/usr/bin/time` output file. */
  scratchDir: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Returns a short name of a command for messages: `ocidrop push`, `skopeo copy`, `curl`. */
export function commandLabel(argv: string[]): string {
  const program = basename(argv[0] ?? '');
  const script = argv.findIndex((arg) => arg.endsWith('/cli/main.js'));
  if (script >= 0) return `ocidrop ${argv[script + 1] ?? ''}`.trim();
  if (program === 'skopeo') return `skopeo ${argv.find((arg) => arg === 'copy') ?? ''}`.trim();
  return program;
}

/**
 * Runs `argv` to completion and returns its wall-clock time and peak RSS.
 * @throws Error naming the command ({@link commandLabel}), its exit code and the tail of its stderr when it fails.
 */
export async function runTimed(argv: string[], options: RunOptions): Promise<CommandResult> {
  const useTime = existsSync(TIME_BINARY);
  const timeFile = join(options.scratchDir, `time-${process.pid}-${Date.now()}.txt`);
  const command = useTime ? [TIME_BINARY, '-f', '%M %U %S', '-o', timeFile, ...argv] : argv;

  const started = process.hrtime.bigint();
  const child = spawn(command[0]!, command.slice(1), {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout = (stdout + text).slice(-OUTPUT_TAIL * 4);
  });
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    stderr = (stderr + text).slice(-OUTPUT_TAIL);
  });

  let polledPeak: number | undefined;
  let running = true;
  const poller = useTime
    ? Promise.resolve()
    : (async () => {
        while (running && child.pid !== undefined) {
          const peak = await readPeakRss(child.pid);
          if (peak !== undefined) polledPeak = Math.max(polledPeak ?? 0, peak);
          await delay(POLL_INTERVAL_MS);
        }
      })();

  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (exitCode) => resolve(exitCode));
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  running = false;
  await poller;

  if (code !== 0) {
    throw new Error(`${commandLabel(argv)} exited with code ${code}: ${stderr.trim() || stdout.trim()}`);
  }

  let peakRss = polledPeak;
  let cpuSeconds: number | undefined;
  if (useTime) {
    const text = await readFile(timeFile, 'utf8');
    await rm(timeFile, { force: true });
    // The file ends with the format's line; a child killed by a signal adds a line before it.
    const [kib, user, system] = (text.trim().split('\n').pop() ?? '').split(' ').map(Number);
    peakRss = kib !== undefined && Number.isFinite(kib) ? kib * 1024 : undefined;
    cpuSeconds = user !== undefined && system !== undefined ? user + system : undefined;
  }
  return { seconds, peakRss, cpuSeconds, stdout, stderr };
}

/** Reads `VmHWM` (peak RSS) of a process in bytes, or `undefined` once the process is gone. */
export async function readPeakRss(pid: number): Promise<number | undefined> {
  let status: string;
  try {
    status = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const match = /^VmHWM:\s+(\d+) kB$/m.exec(status);
  return match ? Number(match[1]) * 1024 : undefined;
}

/**
 * Reads the user plus system CPU seconds a process has used so far from `/proc/<pid>/stat`, or
 * `undefined` once it is gone. The fields count clock ticks of `USER_HZ`, which is 100 on x86 and
 * arm Linux (`getconf CLK_TCK`).
 */
export async function readCpuSeconds(pid: number): Promise<number | undefined> {
  let stat: string;
  try {
    stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name in brackets may hold spaces, so fields are counted after its closing bracket.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return Number.isFinite(ticks) ? ticks / USER_HZ : undefined;
}

/**
 * Resets `VmHWM` of a process to its current RSS, so the next read covers only what follows.
 * Returns false when the kernel rejects the write; the next read then includes earlier peaks.
 */
export async function resetPeakRss(pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
