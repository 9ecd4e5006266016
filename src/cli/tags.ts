/**
 * `ocidrop tags REPOSITORY`: lists a repository's tags, one per line.
 */
import type { Command } from 'commander';
import { withClient } from '../client/connect.js';
import { parseRepository } from '../oci/reference.js';
import { addPlainHttpOption, connectOptions } from './options.js';
import { printJson, printLines } from './output.js';

/** Registers `tags` on `program`. */
export function registerTags(program: Command): void {
  const command = program
    .command('tags')
    .description('list the tags of a repository, one per line')
    .argument('<repository>', 'the repository without tag, such as localhost:5000/hello')
    .option('--json', 'print the tags as a JSON list');
  addPlainHttpOption(command).action(
    async (name: string, options: { json?: boolean; plainHttp?: boolean }) => {
      const repository = parseRepository(name);
      const tags = await withClient(repository, connectOptions(options), (client) =>
        client.tags(repository.repository),
      );
      if (options.json) printJson(tags);
      else printLines(tags);
    },
  );
}
