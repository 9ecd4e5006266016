/**
 * `ocidrop pull REF [-o DIR] [--platform OS/ARCH]`: writes one platform's files into a folder.
 */
import { isAbsolute, relative } from 'node:path';
import type { Command } from 'commander';
import { OciLayout } from '../client/oci-layout.js';
import { pull } from '../client/pull.js';
import type { Platform } from '../oci/platform.js';
import {
  addOciLayoutOption,
  addPlainHttpOption,
  concurrencyArgument,
  connectOptions,
  parseLayoutArgument,
  platformArgument,
  sizeArgument,
} from './options.js';
import { explainInterrupt, printJson, printLines } from './output.js';
import { createProgressDisplay } from './progress.js';

/** Registers `pull` on `program`. */
export function registerPull(program: Command): void {
  const command = program
    .command('pull')
    .description("write an artifact's files for this machine, or for --platform, into a folder")
    .argument('<ref>', 'what to pull, such as localhost:5000/hello:1.0.0 (the tag defaults to latest)')
    .option('-o, --output <dir>', 'folder to write the files into', '.')
    .option(
      '--platform <os/arch>',
      'the platform whose files to write, such as windows/amd64 (default: this machine)',
      platformArgument,
    )
    .option('--concurrency <n>', 'how many files to download at once (default: 8)', concurrencyArgument)
    .option('--overwrite', 'replace files and folders that exist in the output folder')
    .option(
      '--max-unpack-size <size>',
      'reject a folder that unpacks to more than this, such as 2GiB (default: 8GiB)',
      sizeArgument,
    )
    .option('--json', 'print the written files as JSON');
  addOciLayoutOption(command);
  addPlainHttpOption(command).action(
    async (
      reference: string,
      options: {
        output: string;
        platform?: Platform;
        json?: boolean;
        plainHttp?: boolean;
        concurrency?: number;
        overwrite?: boolean;
        maxUnpackSize?: number;
        ociLayout?: boolean;
      },
    ) => {
      const layout = options.ociLayout ? parseLayoutArgument(reference, 'latest') : undefined;
      const store = layout === undefined ? undefined : await OciLayout.open(layout.dir);
      explainInterrupt('run the same command again: pull resumes where it stopped');
      const progress = createProgressDisplay();
      let result: Awaited<ReturnType<typeof pull>>;
      try {
        result = await pull(layout?.reference ?? reference, options.output, {
          ...connectOptions(options),
          ...(store === undefined ? {} : { client: store }),
          ...(options.platform === undefined ? {} : { platform: options.platform }),
          ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
          onProgress: progress.listener,
          ...(options.overwrite ? { overwrite: true } : {}),
          ...(options.maxUnpackSize === undefined ? {} : { maxUnpackSize: options.maxUnpackSize }),
        });
      } finally {
        progress.stop();
      }

      if (options.json) {
        printJson(result);
        return;
      }
      printLines(result.files.map((file) => displayPath(file.path)));
    },
  );
}

// Shows a path relative to the working folder when it lies inside it, else in full.
function displayPath(path: string): string {
  const shown = relative(process.cwd(), path);
  return shown === '' || shown.startsWith('..') || isAbsolute(shown) ? path : shown;
}
