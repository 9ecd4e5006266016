/**
 * `ocidrop discover REF`: lists the artifacts attached to a release (its referrers) as a tree.
 */
import type { Command } from 'commander';
import { discover, type Referrer } from '../client/referrers.js';
import { addPlainHttpOption, connectOptions } from './options.js';
import { printJson, printLines } from './output.js';

/** Registers `discover` on `program`. */
export function registerDiscover(program: Command): void {
  const command = program
    .command('discover')
    .description('list the artifacts attached to a manifest (its referrers), and theirs, as a tree')
    .argument('<ref>', 'such as localhost:5000/hello:1.1.0')
    .option('--artifact-type <type>', 'only referrers of this artifactType')
    .option(
      '--json',
      'print {subject, digest, referrers: [{mediaType, digest, size, artifactType, annotations, referrers}]}',
    );
  addPlainHttpOption(command).action(
    async (reference: string, options: { artifactType?: string; json?: boolean; plainHttp?: boolean }) => {
      const result = await discover(reference, {
        ...connectOptions(options),
        ...(options.artifactType === undefined ? {} : { artifactType: options.artifactType }),
      });
      if (options.json) {
        printJson(result);
        return;
      }
      printLines([`${result.subject}@${result.digest}`, ...treeLines(result.referrers, '')]);
    },
  );
}

function treeLines(referrers: Referrer[], indent: string): string[] {
  const lines: string[] = [];
  referrers.forEach((referrer, index) => {
    const last = index === referrers.length - 1;
    lines.push(
      `${indent}${last ? '└── ' : '├── '}${referrer.artifactType ?? referrer.mediaType} ${referrer.digest}`,
    );
    lines.push(...treeLines(referrer.referrers, `${indent}${last ? '    ' : '│   '}`));
  });
  return lines;
}
