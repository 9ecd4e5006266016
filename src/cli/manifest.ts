/**
 * `ocidrop manifest get|put|delete`: reads, uploads and deletes single manifests and indexes.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { deleteManifest, fetchManifest, putManifest } from '../client/content.js';
import { addPlainHttpOption, connectOptions } from './options.js';
import { printJson, printLines } from './output.js';

/** Registers `manifest` and its subcommands on `program`. */
export function registerManifest(program: Command): void {
  const manifest = program.command('manifest').description('get, put or delete a manifest or index');

  const get = manifest
    .command('get')
    .description('print the manifest or index a reference names, as the registry stores it')
    .argument('<ref>', 'such as localhost:5000/hello:1.0.0 or localhost:5000/hello@sha256:...')
    .option('--json', 'print {digest, mediaType, manifest} instead of the raw bytes');
  addPlainHttpOption(get).action(
    async (reference: string, options: { json?: boolean; plainHttp?: boolean }) => {
      const fetched = await fetchManifest(reference, connectOptions(options));
      if (options.json) {
        printJson({
          digest: fetched.digest,
          mediaType: fetched.mediaType,
          manifest: JSON.parse(fetched.bytes.toString('utf8')),
        });
        return;
      }
      process.stdout.write(fetched.bytes);
      process.stdout.write('\n');
    },
  );

  const put = manifest
    .command('put')
    .description('upload a manifest or index from a file ("-" for stdin) under a tag, or under its digest')
    .argument('<ref>', 'such as localhost:5000/hello:1.0.0, or localhost:5000/hello to store it by digest')
    .argument('<file>', 'the manifest JSON, or - for stdin')
    .option('--media-type <type>', "the Content-Type to send (default: the manifest's mediaType field)")
    .option('--json', 'print {digest}');
  addPlainHttpOption(put).action(
    async (
      reference: string,
      file: string,
      options: { json?: boolean; plainHttp?: boolean; mediaType?: string },
    ) => {
      const bytes = file === '-' ? await readStdin() : await readFile(file);
      const digest = await putManifest(reference, bytes, {
        ...connectOptions(options),
        ...(options.mediaType === undefined ? {} : { mediaType: options.mediaType }),
      });
      if (options.json) printJson({ digest });
      else printLines([digest]);
    },
  );

  const remove = manifest
    .command('delete')
    .description('delete a manifest; a tag is resolved to its digest first, and every tag of it goes too')
    .argument('<ref>', 'such as localhost:5000/hello@sha256:... or localhost:5000/hello:1.0.0')
    .option('--json', 'print {digest}');
  addPlainHttpOption(remove).action(
    async (reference: string, options: { json?: boolean; plainHttp?: boolean }) => {
      const digest = await deleteManifest(reference, connectOptions(options));
      if (options.json) printJson({ digest });
      else printLines([`deleted ${digest}`]);
    },
  );
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
