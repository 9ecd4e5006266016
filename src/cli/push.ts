/**
 * `ocidrop push REF [OS/ARCH=]FILE...`: publishes files as one artifact under a tag.
 */
import type { Command } from 'commander';
import { parsePushInput } from '../client/plan.js';
import { push } from '../client/push.js';
import { addPlainHttpOption, chunkSizeArgument, concurrencyArgument, connectOptions } from './options.js';
import { printJson, printLines } from './output.js';
import { createProgressDisplay, formatBytes } from './progress.js';

/** Registers `push` on `program`. */
export function registerPush(program: Command): void {
  const command = program
    .command('push')
    .description('publish files as one artifact under REF; executables get their platform from their header')
    .argument('<ref>', 'where to publish, with a version tag, such as localhost:5000/hello:1.0.0')
    .argument(
      '<files...>',
      'files to publish; OS/ARCH=FILE marks the build for a platform, such as windows/amd64=dist/hello.exe',
    )
    .option('--concurrency <n>', 'how many blobs to upload at once (default: 3)', concurrencyArgument)
    .option(
      '--chunk-size <size>',
      'upload files larger than this in chunks of this size, such as 5MiB (default: one request per file)',
      chunkSizeArgument,
    )
    .option('--json', 'print the result as JSON');
  addPlainHttpOption(command).action(
    async (
      reference: string,
      files: string[],
      options: { json?: boolean; plainHttp?: boolean; concurrency?: number; chunkSize?: number },
    ) => {
      const inputs = files.map(parsePushInput);
      const progress = createProgressDisplay();
      let result: Awaited<ReturnType<typeof push>>;
      try {
        result = await push(reference, inputs, {
          ...connectOptions(options),
          ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
          ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
          onProgress: progress.listener,
        });
      } finally {
        progress.stop();
      }

      if (options.json) {
        printJson(result);
        return;
      }
      const lines = [`pushed ${result.reference}@${result.digest}`];
      for (const file of result.files) {
        const where = file.platforms.length > 0 ? file.platforms.join(', ') : 'every platform';
        const state = file.uploaded ? 'uploaded' : 'already in the registry';
        lines.push(`  ${file.title} (${formatBytes(file.size)}) for ${where}, ${state}`);
      }
      printLines(lines);
    },
  );
}
