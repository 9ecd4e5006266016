/**
 * `ocidrop resolve REF`: prints the digest of the manifest a reference names.
 */
import type { Command } from 'commander';
import { resolveDigest } from '../client/content.js';
import { addPlainHttpOption, connectOptions } from './options.js';
import { printJson, printLines } from './output.js';

/** Registers `resolve` on `program`. */
export function registerResolve(program: Command): void {
  const command = program
    .command('resolve')
    .description('print the digest of the manifest or index a reference names')
    .argument('<ref>', 'such as localhost:5000/hello:1.0.0 (the tag defaults to latest)')
    .option('--json', 'print {digest, mediaType, size}');
  addPlainHttpOption(command).action(
    async (reference: string, options: { json?: boolean; plainHttp?: boolean }) => {
      const info = await resolveDigest(reference, connectOptions(options));
      if (options.json) printJson(info);
      else printLines([info.digest]);
    },
  );
}
