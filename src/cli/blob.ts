/**
 * `ocidrop blob get|put|delete`: downloads, uploads and deletes single blobs by digest.
 */
import type { Command } from 'commander';
import { deleteBlob, fetchBlobToFile, fetchBlobToStream, putBlob } from '../client/content.js';
import { addPlainHttpOption, chunkSizeArgument, connectOptions } from './options.js';
import { printJson, printLines } from './output.js';
import { createProgressDisplay } from './progress.js';

/** Registers `blob` and its subcommands on `program`. */
export function registerBlob(program: Command): void {
  const blob = program.command('blob').description('get, put or delete a blob');

  const get = blob
    .command('get')
    .description('download a blob, verified against its digest, to a file or to stdout')
    .argument('<ref>', 'the blob, such as localhost:5000/hello@sha256:...')
    .option('-o, --output <file>', 'file to write; "-" or unset writes to stdout')
    .option('--json', 'print {digest, size, path} after writing to a file');
  addPlainHttpOption(get).action(
    async (reference: string, options: { output?: string; json?: boolean; plainHttp?: boolean }) => {
      if (options.output === undefined || options.output === '-') {
        await fetchBlobToStream(reference, process.stdout, connectOptions(options));
        return;
      }
      const progress = createProgressDisplay();
      let result: Awaited<ReturnType<typeof fetchBlobToFile>>;
      try {
        result = await fetchBlobToFile(reference, options.output, {
          ...connectOptions(options),
          onProgress: progress.listener,
        });
      } finally {
        progress.stop();
      }
      if (options.json) printJson({ ...result, path: options.output });
      else printLines([options.output]);
    },
  );

  const put = blob
    .command('put')
    .description('upload a file as a blob to a repository and print its digest')
    .argument('<repository>', 'such as localhost:5000/hello')
    .argument('<file>', 'the file to upload')
    .option('--chunk-size <size>', 'upload in chunks of this size, such as 5MiB', chunkSizeArgument)
    .option('--json', 'print {digest, size, uploaded}');
  addPlainHttpOption(put).action(
    async (
      repository: string,
      file: string,
      options: { json?: boolean; plainHttp?: boolean; chunkSize?: number },
    ) => {
      const result = await putBlob(repository, file, {
        ...connectOptions(options),
        ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
      });
      if (options.json) printJson(result);
      else printLines([result.digest]);
    },
  );

  const remove = blob
    .command('delete')
    .description('delete a blob from a repository')
    .argument('<ref>', 'the blob, such as localhost:5000/hello@sha256:...')
    .option('--json', 'print {digest}');
  addPlainHttpOption(remove).action(
    async (reference: string, options: { json?: boolean; plainHttp?: boolean }) => {
      const digest = await deleteBlob(reference, connectOptions(options));
      if (options.json) printJson({ digest });
      else printLines([`deleted ${digest}`]);
    },
  );
}
