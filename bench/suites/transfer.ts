/**
 * Cases 1 and 2: push and pull of one large file, of 200 files of 1 MiB and of a folder of small files.
 * The contenders are ocidrop against its embedded registry and against Distribution, and `skopeo copy`
 * against Distribution. The limits of the machine are `cp` on the same disk, sha256 in node and `sha256sum`.
 *
 * Every push goes to a freshly started, empty registry, so no contender finds a blob already there.
 */
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ocidropPull, ocidropPush, skopeoPull, skopeoPush } from '../lib/commands.js';
import { type GeneratedFile, writeOciLayout, writeRandomFile, writeRandomFiles } from '../lib/data.js';
import { runTimed } from '../lib/measure.js';
import { type RunningServer, startDistribution, startOcidrop } from '../lib/servers.js';
import {
  alternate,
  attempt,
  type CaseContext,
  type CaseResult,
  type Row,
  row,
  type Sample,
  type Step,
  skip,
} from '../lib/suite.js';

const MIB = 1024 * 1024;

/** Case 1: push and pull of one large file. */
export async function runLargeFile(context: CaseContext): Promise<CaseResult> {
  const size = (context.quick ? 256 : 1024) * MIB;
  context.log(`case 1: writing ${size / MIB} MiB of random data`);
  const file = await writeRandomFile(join(context.scratch, 'large.bin'), size, true);
  const layout = join(context.scratch, 'layout');
  await writeOciLayout(layout, [file], 'v1');

  const push = contenderRows('push', size);
  const pull = contenderRows('pull', size);
  const copy = row('limit: cp on the same disk', 'limit', size);
  const nodeHash = row('limit: sha256 in node (stream)', 'limit', size);
  const coreHash = row('limit: sha256sum', 'limit', size);

  const steps: Step[] = [
    ...transferSteps(context, [file], layout, push, pull, 'large'),
    {
      rows: [copy],
      run: async () => {
        const target = join(context.scratch, 'large-copy.bin');
        copy.samples.push(
          toSample(await runTimed(['cp', file.path, target], { scratchDir: context.scratch })),
        );
        await rm(target, { force: true });
      },
    },
    {
      rows: [nodeHash],
      run: async () => {
        const tool = join(dirname(fileURLToPath(import.meta.url)), '..', 'tools', 'sha256.js');
        nodeHash.samples.push(
          toSample(await runTimed([process.execPath, tool, file.path], { scratchDir: context.scratch })),
        );
      },
    },
    {
      rows: [coreHash],
      run: async () => {
        coreHash.samples.push(
          toSample(await runTimed(['sha256sum', file.path], { scratchDir: context.scratch })),
        );
      },
    },
  ];
  if (context.tools.sha256sum.path === undefined)
    skip([coreHash], 'skipped: sha256sum is missing (apt-get install coreutils)');
  await alternate(context.rounds, steps, context.log);

  const limits = [copy, nodeHash, coreHash];
  return {
    id: 'large-file',
    title: `1. Push and pull of one ${size / MIB} MiB file`,
    script: 'bench/cases/large-file.sh',
    settings: `one file of ${size / MIB} MiB of random bytes with an ELF header, so ocidrop publishes it as the linux/amd64 program`,
    tables: [
      { title: `push of ${size / MIB} MiB`, kind: 'time', rows: [...Object.values(push), ...limits] },
      { title: `pull of ${size / MIB} MiB`, kind: 'time', rows: [...Object.values(pull), ...limits] },
    ],
    notes: [
      'Each push goes to a registry started empty for it; each pull reads what that push wrote and writes a new folder.',
      'The page cache is not dropped between runs (that needs root and would measure the disk, not the tools): the file is read from memory by every contender alike.',
    ],
  };
}

/** Case 2: an artifact of 200 files of 1 MiB, and a folder of small files. */
export async function runManyFiles(context: CaseContext): Promise<CaseResult> {
  const mediumCount = 200;
  const smallCount = context.quick ? 1000 : 5000;
  const smallSize = 4096;
  context.log(`case 2: writing ${mediumCount} files of 1 MiB and ${smallCount} files of ${smallSize} bytes`);
  const medium = await writeRandomFiles(join(context.scratch, 'medium'), mediumCount, MIB);
  const small = await writeRandomFiles(join(context.scratch, 'small'), smallCount, smallSize);
  const mediumLayout = join(context.scratch, 'medium-layout');
  await writeOciLayout(mediumLayout, medium, 'v1');

  const mediumPush = contenderRows('push', mediumCount * MIB);
  const mediumPull = contenderRows('pull', mediumCount * MIB);
  const smallPush = contenderRows('push', smallCount * smallSize);
  const smallPull = contenderRows('pull', smallCount * smallSize);
  // skopeo would need an image with thousands of layers, which no one publishes.
  skip(
    [smallPush.skopeo, smallPull.skopeo],
    'not run: an image of thousands of layers is not what skopeo is for',
  );
  const mediumCopy = row('limit: cp -r on the same disk', 'limit', mediumCount * MIB);
  const smallCopy = row('limit: cp -r on the same disk', 'limit', smallCount * smallSize);

  const steps: Step[] = [
    ...transferSteps(context, medium, mediumLayout, mediumPush, mediumPull, 'medium'),
    ...transferSteps(context, small, undefined, smallPush, smallPull, 'small'),
    copyFolderStep(context, join(context.scratch, 'medium'), mediumCopy),
    copyFolderStep(context, join(context.scratch, 'small'), smallCopy),
  ];
  await alternate(context.rounds, steps, context.log);

  return {
    id: 'many-files',
    title: `2. Many files: ${mediumCount} × 1 MiB and ${smallCount} × ${smallSize / 1024} KiB`,
    script: 'bench/cases/many-files.sh',
    settings: `${mediumCount} random files of 1 MiB in one artifact; ${smallCount} random files of ${smallSize} bytes in one artifact`,
    tables: [
      {
        title: `push of ${mediumCount} × 1 MiB`,
        kind: 'time',
        rows: [...Object.values(mediumPush), mediumCopy],
      },
      {
        title: `pull of ${mediumCount} × 1 MiB`,
        kind: 'time',
        rows: [...Object.values(mediumPull), mediumCopy],
      },
      {
        title: `push of ${smallCount} × ${smallSize / 1024} KiB`,
        kind: 'time',
        rows: [...Object.values(smallPush), smallCopy],
      },
      {
        title: `pull of ${smallCount} × ${smallSize / 1024} KiB`,
        kind: 'time',
        rows: [...Object.values(smallPull), smallCopy],
      },
    ],
    notes: [
      'ocidrop takes the files as arguments (`ocidrop push REF DIR/*`); they ship with every platform, in one manifest.',
      'skopeo pushes the 200 files as an image of 200 uncompressed layers from an OCI layout.',
    ],
  };
}

interface ContenderRows {
  embedded: Row;
  distribution: Row;
  skopeo: Row;
}

function contenderRows(operation: string, bytes: number): ContenderRows {
  return {
    embedded: row(`ocidrop ${operation}, embedded registry`, 'ocidrop', bytes),
    distribution: row(`ocidrop ${operation}, Distribution`, 'ocidrop', bytes),
    skopeo: row(`skopeo copy (${operation}), Distribution`, 'peer', bytes),
  };
}

/** Builds the steps of the three registry contenders; each starts an empty registry, pushes, pulls and stops it. */
function transferSteps(
  context: CaseContext,
  files: GeneratedFile[],
  layout: string | undefined,
  push: ContenderRows,
  pull: ContenderRows,
  label: string,
): Step[] {
  const distribution = context.tools['docker-registry'].path;
  const missingDistribution = 'skipped: docker-registry is missing (apt-get install docker-registry)';
  if (context.ocidropMissing !== undefined) {
    skip(
      [push.embedded, pull.embedded, push.distribution, pull.distribution],
      `skipped: ${context.ocidropMissing}`,
    );
  }
  if (distribution === undefined)
    skip([push.distribution, pull.distribution, push.skopeo, pull.skopeo], missingDistribution);
  if (context.tools.skopeo.path === undefined)
    skip([push.skopeo, pull.skopeo], 'skipped: skopeo is missing (apt-get install skopeo)');

  const reference = `bench/${label}:1.0.0`;
  const paths = files.map((file) => file.path);
  const ocidropStep = (start: () => Promise<RunningServer>, pushRow: Row, pullRow: Row): Step => ({
    rows: [pushRow, pullRow],
    run: (round) =>
      withServer(start, async (server) => {
        const pushed = await attempt(
          pushRow,
          async () => {
            pushRow.samples.push(
              await measure(context, server, ocidropPush(context, server.host, reference, paths)),
            );
          },
          context.log,
        );
        if (!pushed) {
          skip([pullRow], 'skipped: the push before it failed');
          return;
        }
        const output = join(context.scratch, `pulled-${label}-${round}`);
        await attempt(
          pullRow,
          async () => {
            const sample = await measure(
              context,
              server,
              ocidropPull(context, server.host, reference, output),
            );
            await checkPulled(output, files);
            pullRow.samples.push(sample);
          },
          context.log,
        );
        await rm(output, { recursive: true, force: true });
      }),
  });

  const steps = [
    ocidropStep(() => startOcidrop({ cli: context.cli }), push.embedded, pull.embedded),
    ocidropStep(
      () => startDistribution(distribution ?? 'docker-registry'),
      push.distribution,
      pull.distribution,
    ),
  ];
  if (layout !== undefined) {
    steps.push({
      rows: [push.skopeo, pull.skopeo],
      run: (round) =>
        withServer(
          () => startDistribution(distribution ?? 'docker-registry'),
          async (server) => {
            const pushed = await attempt(
              push.skopeo,
              async () => {
                push.skopeo.samples.push(
                  await measure(context, server, skopeoPush(layout, 'v1', server.host, reference)),
                );
              },
              context.log,
            );
            if (!pushed) {
              skip([pull.skopeo], 'skipped: the push before it failed');
              return;
            }
            const output = join(context.scratch, `skopeo-${label}-${round}`);
            await attempt(
              pull.skopeo,
              async () => {
                pull.skopeo.samples.push(
                  await measure(context, server, skopeoPull(server.host, reference, output, 'v1')),
                );
              },
              context.log,
            );
            await rm(output, { recursive: true, force: true });
          },
        ),
    });
  }
  return steps;
}

function copyFolderStep(context: CaseContext, folder: string, copyRow: Row): Step {
  return {
    rows: [copyRow],
    run: async (round) => {
      const target = join(context.scratch, `copy-${round}`);
      copyRow.samples.push(
        toSample(await runTimed(['cp', '-r', folder, target], { scratchDir: context.scratch })),
      );
      await rm(target, { recursive: true, force: true });
    },
  };
}

async function withServer(
  start: () => Promise<RunningServer>,
  body: (server: RunningServer) => Promise<void>,
): Promise<void> {
  const server = await start();
  try {
    await body(server);
  } finally {
    await server.close();
  }
}

/** Runs a client command against `server`, reading the server's peak RSS and CPU time over the same span. */
export async function measure(context: CaseContext, server: RunningServer, argv: string[]): Promise<Sample> {
  return (await measureWithOutput(context, server, argv)).sample;
}

/** Does what {@link measure} does and also returns the command's stdout. */
export async function measureWithOutput(
  context: CaseContext,
  server: RunningServer,
  argv: string[],
): Promise<{ sample: Sample; stdout: string }> {
  await server.resetPeak();
  const cpuBefore = await server.cpuSeconds();
  const result = await runTimed(argv, { scratchDir: context.scratch });
  const cpuAfter = await server.cpuSeconds();
  const serverCpu = cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore;
  return {
    sample: { ...toSample(result), serverRss: await server.peak(), serverCpu },
    stdout: result.stdout,
  };
}

/** Turns the result of a client-only command into a sample. */
export function toSample(result: {
  seconds: number;
  peakRss: number | undefined;
  cpuSeconds: number | undefined;
}): Sample {
  return { seconds: result.seconds, clientRss: result.peakRss, clientCpu: result.cpuSeconds };
}

/** Checks that a pull wrote every file with its size, so a silent partial pull cannot pass as fast. */
async function checkPulled(folder: string, files: GeneratedFile[]): Promise<void> {
  await mkdir(folder, { recursive: true });
  const names = new Set(await readdir(folder));
  for (const file of files) {
    const name = file.path.split('/').pop()!;
    if (!names.has(name)) throw new Error(`pull did not write ${name} into ${folder}`);
    const info = await stat(join(folder, name));
    if (info.size !== file.size)
      throw new Error(`pull wrote ${info.size} bytes of ${name}, expected ${file.size}`);
  }
}
