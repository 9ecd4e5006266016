/**
 * `npm run bench [-- --quick] [-- --case ID]`: runs the benchmark cases on loopback and writes
 * `docs/BENCHMARKS.md`. See the Method section of that page for what is measured and how.
 */
import { cp, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { describeMachine, findTools, firstLine, INSTALL_HINT } from './lib/environment.js';
import { profileOcidrop } from './lib/profile.js';
import { renderReport } from './lib/report.js';
import type { CaseContext, CaseResult } from './lib/suite.js';
import { runRequests, runServing } from './suites/serving.js';
import { runLargeFile, runManyFiles } from './suites/transfer.js';

/** The cases by id, in the order of the page. */
const CASES: Record<string, (context: CaseContext) => Promise<CaseResult>> = {
  'large-file': runLargeFile,
  'many-files': runManyFiles,
  serving: runServing,
  requests: runRequests,
};

const USAGE = `usage: npm run bench -- [--quick] [--case ID]... [--no-profile] [--output FILE]
  --quick        256 MiB instead of 1 GiB, 3 runs instead of 5, shorter request runs (a few minutes)
  --case ID      run only this case (${Object.keys(CASES).join(', ')}); repeatable
  --no-profile   skip the CPU profile of one ocidrop push and pull
  --output FILE  where to write the page (default: docs/BENCHMARKS.md)`;

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    case: { type: 'string', multiple: true },
    'no-profile': { type: 'boolean', default: false },
    output: { type: 'string', default: join(root, 'docs', 'BENCHMARKS.md') },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const selected = values.case ?? Object.keys(CASES);
for (const id of selected) {
  if (!(id in CASES)) {
    console.error(
      `unknown case ${JSON.stringify(id)}: use one of ${Object.keys(CASES).join(', ')}\n${USAGE}`,
    );
    process.exit(2);
  }
}

const started = Date.now();
const loadAtStart = loadavg()[0] ?? 0;
const quick = values.quick;
const rounds = quick ? 3 : 5;
const log = (line: string): void => console.log(line);

const tools = await findTools();
for (const tool of Object.values(tools)) {
  if (tool.path === undefined) {
    log(
      `${tool.name} is missing: its cases are skipped; install it with apt-get install ${tool.debianPackage} (all: ${INSTALL_HINT})`,
    );
  }
}
const scratchRoot = await mkdtemp(join(tmpdir(), 'ocidrop-bench-'));
const cli = await snapshotBuild(scratchRoot);
const ocidropVersion = await firstLine(process.execPath, [cli, '--version']);
const ocidropMissing = /^\d+\.\d+\.\d+/.test(ocidropVersion)
  ? undefined
  : `the built ocidrop CLI does not run (${ocidropVersion.slice(0, 200)}); run npx tsc -p . first`;
if (ocidropMissing !== undefined) log(`ocidrop cases are skipped: ${ocidropMissing}`);

const machine = await describeMachine(scratchRoot);
log(`benchmark in ${quick ? 'quick' : 'full'} mode, ${rounds} runs per contender, data in ${scratchRoot}`);

const cases: CaseResult[] = [];
let profile: string | undefined;
try {
  for (const id of selected) {
    const scratch = join(scratchRoot, id);
    await mkdir(scratch);
    const context: CaseContext = { quick, rounds, tools, cli, ocidropMissing, scratch, log };
    const caseStarted = Date.now();
    cases.push(await CASES[id]!(context));
    await rm(scratch, { recursive: true, force: true });
    log(`  ${id} done in ${((Date.now() - caseStarted) / 1000).toFixed(0)} s`);
  }
  if (!values['no-profile'] && ocidropMissing === undefined) {
    const scratch = join(scratchRoot, 'profile');
    await mkdir(scratch);
    log('profile: one push and one pull of 256 MiB under node --cpu-prof');
    profile = await profileOcidrop({ cli, scratch, log }).catch((error: unknown) => {
      log(`  profile failed: ${(error as Error).message}`);
      return undefined;
    });
  }
} finally {
  await rm(scratchRoot, { recursive: true, force: true });
}

const page = renderReport({
  quick,
  rounds,
  date: new Date(started),
  minutes: (Date.now() - started) / 60_000,
  machine,
  tools,
  ocidropVersion: ocidropMissing === undefined ? ocidropVersion : 'not runnable',
  cases,
  profile,
  load: { start: loadAtStart, end: loadavg()[0] ?? 0 },
});
await mkdir(dirname(values.output), { recursive: true });
await writeFile(values.output, page);
log(`wrote ${values.output}`);

/**
 * Copies the built ocidrop (`build/src` and `package.json`, with a link to `node_modules`) into
 * `folder` and returns the path of its CLI, so that the whole run measures one build even when
 * `build/` is compiled again while the benchmark runs.
 */
async function snapshotBuild(folder: string): Promise<string> {
  const copy = join(folder, 'ocidrop');
  await cp(join(root, 'build', 'src'), join(copy, 'build', 'src'), { recursive: true });
  await cp(join(root, 'package.json'), join(copy, 'package.json'));
  await symlink(join(root, 'node_modules'), join(copy, 'node_modules'));
  return join(copy, 'build', 'src', 'cli', 'main.js');
}
