/**
 * Where ocidrop's time goes: one push and one pull of a 256 MiB file against the embedded registry
 * with the client and the server under `node --cpu-prof`, summarized as the functions with the most
 * self time. `(idle)` is time the process waited for I/O or the other process.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ocidropPull, ocidropPush } from './commands.js';
import { writeRandomFile } from './data.js';
import { runTimed } from './measure.js';
import { startOcidrop } from './servers.js';
import type { CaseContext } from './suite.js';

/** Size of the profiled file, in bytes. */
const PROFILE_SIZE = 256 * 1024 * 1024;

/** Functions listed per profile. */
const TOP = 10;

/** What {@link profileOcidrop} needs. */
export interface ProfileOptions {
  cli: string;
  scratch: string;
  log(line: string): void;
}

/** The parts of a V8 `.cpuprofile` that the summary reads. */
interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

/** Profiles one push and one pull and returns the page section as Markdown. */
export async function profileOcidrop(options: ProfileOptions): Promise<string> {
  const file = await writeRandomFile(join(options.scratch, 'profiled.bin'), PROFILE_SIZE, true);
  const serverDir = join(options.scratch, 'server-profile');
  const clientDir = join(options.scratch, 'client-profile');
  const context = { cli: options.cli } as CaseContext;

  const server = await startOcidrop({
    cli: options.cli,
    nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${serverDir}`],
  });
  const timings: string[] = [];
  try {
    for (const [operation, argv] of [
      ['push', ocidropPush(context, server.host, 'bench/profile:1.0.0', [file.path])],
      ['pull', ocidropPull(context, server.host, 'bench/profile:1.0.0', join(options.scratch, 'pulled'))],
    ] as const) {
      const flags = ['--cpu-prof', `--cpu-prof-dir=${join(clientDir, operation)}`];
      const result = await runTimed([argv[0]!, ...flags, ...argv.slice(1)], { scratchDir: options.scratch });
      timings.push(`${operation} ${result.seconds.toFixed(2)} s`);
    }
  } finally {
    await server.close();
  }

  const lines = ['## Where the time goes (CPU profile)', ''];
  lines.push(
    `One push and one pull of ${PROFILE_SIZE / 1024 / 1024} MiB against the embedded registry with \`node --cpu-prof\` ` +
      `on client and server (${timings.join(', ')}; profiling slows both). Self time by function, top ${TOP}:`,
    '',
  );
  for (const operation of ['push', 'pull']) {
    lines.push(...(await summarizeFolder(`Client, ${operation}`, join(clientDir, operation))));
  }
  lines.push(...(await summarizeFolder('Server, push and pull', serverDir)));
  await rm(join(options.scratch, 'pulled'), { recursive: true, force: true });
  return lines.join('\n');
}

async function summarizeFolder(title: string, folder: string): Promise<string[]> {
  const files = (await readdir(folder).catch(() => [])).filter((name) => name.endsWith('.cpuprofile'));
  if (files.length === 0) {
    return [`${title}: no profile was written (a process killed by a signal writes none).`, ''];
  }
  const profile = JSON.parse(await readFile(join(folder, files[0]!), 'utf8')) as CpuProfile;
  return [`${title}:`, '', ...summarize(profile), ''];
}

/** Adds up self time per function (name, file, line) and lists the largest as a table. */
function summarize(profile: CpuProfile): string[] {
  const byNode = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const totals = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = byNode.get(profile.samples[i]!);
    const micros = profile.timeDeltas[i] ?? 0;
    total += micros;
    if (frame === undefined) continue;
    const where = frame.url === '' ? '' : ` (${basename(frame.url)}:${frame.lineNumber + 1})`;
    const key = `${frame.functionName || '(anonymous)'}${where}`;
    totals.set(key, (totals.get(key) ?? 0) + micros);
  }
  const top = [...totals.entries()].sort((a, b) => b[1] - a[1]).slice(0, TOP);
  const lines = ['| Function | Self ms | Share |', '|---|---:|---:|'];
  for (const [name, micros] of top) {
    lines.push(`| \`${name}\` | ${(micros / 1000).toFixed(0)} | ${((micros / total) * 100).toFixed(1)} % |`);
  }
  return lines;
}
