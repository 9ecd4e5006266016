/**
 * `ocidrop tag REF NEWTAG...`: gives an existing manifest more tags.
 */
import type { Command } from 'commander';
import { toReference } from '../client/connect.js';
import { tagManifest } from '../client/content.js';
import { addPlainHttpOption, connectOptions } from './options.js';
import { printJson, printLines } from './output.js';

/** Registers `tag` on `program`. */
export function registerTag(program: Command): void {
  const command = program
    .command('tag')
    .description('add tags to the manifest or index a reference names, in the same repository')
    .argument('<ref>', 'the existing manifest, such as localhost:5000/hello:1.1.0')
    .argument('<tags...>', 'new tags, such as latest stable')
    .option('--json', 'print {digest, tags}');
  addPlainHttpOption(command).action(
    async (reference: string, tags: string[], options: { json?: boolean; plainHttp?: boolean }) => {
      const source = toReference(reference, 'latest');
      const digest = await tagManifest(source, tags, connectOptions(options));
      if (options.json) {
        printJson({ digest, tags });
        return;
      }
      printLines(tags.map((tag) => `tagged ${source.registry}/${source.repository}:${tag}@${digest}`));
    },
  );
}
