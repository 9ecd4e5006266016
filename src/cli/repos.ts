/**
 * `ocidrop repos REGISTRY`: lists a registry's repositories through its catalog.
 */
import type { Command } from 'commander';
import { listRepositories } from '../client/content.js';
import { addPlainHttpOption, connectOptions } from './options.js';
import { printJson, printLines } from './output.js';

/** Registers `repos` on `program`. */
export function registerRepos(program: Command): void {
  const command = program
    .command('repos')
    .description("list a registry's repositories, one per line (the registry must offer /v2/_catalog)")
    .argument('<registry>', 'the registry host, such as localhost:5000')
    .option('--json', 'print the repositories as a JSON list');
  addPlainHttpOption(command).action(
    async (registry: string, options: { json?: boolean; plainHttp?: boolean }) => {
      const repositories = await listRepositories(registry, connectOptions(options));
      if (options.json) printJson(repositories);
      else printLines(repositories);
    },
  );
}
