/**
 * `ocidrop gc`: garbage collection of the data folder of `ocidrop serve`. It may run while the
 * server runs, because content written within the grace period is kept.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { OcidropError } from '../oci/errors.js';
import { defaultDataDir } from '../serve/paths.js';
import { FsStore } from '../storage/fs-store.js';
import { DEFAULT_GC_GRACE_PERIOD_MS, type GcReport, gc } from '../storage/gc.js';
import { printJson, printLines } from './output.js';
import { formatBytes } from './progress.js';

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A data folder that is missing or is not one that `ocidrop serve` wrote. */
export class DataFolderError extends OcidropError {
  override name = 'DataFolderError';
  constructor(message: string, options?: ErrorOptions) {
    super('ERR_DATA_FOLDER', message, options);
  }
}

/** Registers `ocidrop gc [--data DIR] [--dry-run] [--grace 1h] [--json]` on `program`. */
export function registerGc(program: Command): void {
  program
    .command('gc')
    .description(
      'remove untagged manifests, unreferenced blobs, stale upload sessions and temporary files from the data folder of ocidrop serve',
    )
    .option('--data <dir>', 'data folder of ocidrop serve', defaultDataDir())
    .option('--dry-run', 'print what would be removed without removing anything')
    .addOption(
      new Option(
        '--grace <duration>',
        'keep content written within this time, such as 30m, 1h or 2d (0 keeps nothing)',
      )
        .argParser(durationArgument)
        .default(DEFAULT_GC_GRACE_PERIOD_MS, '1h'),
    )
    .option('--json', 'print the report as JSON')
    .action(async (options: { data: string; dryRun?: boolean; grace: number; json?: boolean }) => {
      await checkDataFolder(options.data);
      const store = await FsStore.open(options.data);
      const dryRun = options.dryRun ?? false;
      const report = await gc(store, { dryRun, gracePeriodMs: options.grace });
      if (options.json) printJson({ dataDir: options.data, dryRun, ...report });
      else printLines(describeReport(report, dryRun));
    });
}

/** Parses `--grace`: a whole number with a unit (`ms`, `s`, `m`, `h`, `d`), or `0`. */
export function durationArgument(value: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  const unit = match?.[2];
  if (match === null || (unit === undefined && match[1] !== '0')) {
    throw new InvalidArgumentError(
      `invalid duration ${JSON.stringify(value)}: use a whole number with a unit, such as 30m, 1h or 2d`,
    );
  }
  return Number(match[1]) * (unit === undefined ? 0 : (DURATION_UNITS[unit] ?? 0));
}

/** Returns the lines that tell what a collection removed, or would remove in a dry run, with sizes. */
export function describeReport(report: GcReport, dryRun: boolean): string[] {
  const verb = dryRun ? 'would remove' : 'removed';
  const lines: string[] = [];
  for (const entry of report.manifests) {
    lines.push(`${verb} manifest ${entry.repository}@${entry.digest} (${formatBytes(entry.size)})`);
  }
  for (const entry of report.repositoryBlobs) {
    lines.push(`${verb} blob ${entry.repository}@${entry.digest} (${formatBytes(entry.size)})`);
  }
  for (const entry of report.blobs) {
    lines.push(`${verb} unused blob ${entry.digest} (${formatBytes(entry.size)})`);
  }
  for (const entry of report.uploads) {
    lines.push(`${verb} upload session ${entry.id} (${formatBytes(entry.size)})`);
  }
  for (const entry of report.tempFiles) {
    lines.push(`${verb} temporary file ${entry.path} (${formatBytes(entry.size)})`);
  }

  const counts = [
    count(report.manifests.length, 'manifest'),
    count(report.repositoryBlobs.length, 'repository blob'),
    count(report.blobs.length, 'unused blob'),
    count(report.uploads.length, 'upload session'),
    count(report.tempFiles.length, 'temporary file'),
  ];
  const freed = dryRun ? 'would free' : 'freed';
  lines.push(`${dryRun ? 'dry run: ' : ''}${counts.join(', ')}; ${freed} ${formatBytes(report.bytesFreed)}`);
  return lines;
}

/**
 * Checks that `dir` is a data folder of `ocidrop serve`, so a mistyped `--data` never gets the
 * store's folders created in it.
 */
async function checkDataFolder(dir: string): Promise<void> {
  try {
    if ((await stat(join(dir, 'repositories'))).isDirectory()) return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  throw new DataFolderError(
    `${dir} is not a data folder of ocidrop serve (it has no repositories folder): pass the folder that ocidrop serve uses with --data`,
  );
}

function count(value: number, noun: string): string {
  return `${value} ${noun}${value === 1 ? '' : 's'}`;
}
