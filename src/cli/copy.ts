/**
 * `ocidrop copy SRC DST [--referrers]`: copies an artifact or image between repositories and registries.
 */
import type { Command } from 'commander';
import { copy } from '../client/copy.js';
import { addPlainHttpOption, concurrencyArgument, connectOptions } from './options.js';
import { printJson, printLines } from './output.js';

/** Registers `copy` on `program`. */
export function registerCopy(program: Command): void {
  const command = program
    .command('copy')
    .description('copy a manifest or index and everything it points at to another repository or registry')
    .argument('<src>', 'the source, such as localhost:5000/hello:1.1.0')
    .argument('<dst>', 'the target, such as registry.example.com/tools/hello (the tag defaults to the source tag)')
    .option('-r, --referrers', 'copy the referrers too: signatures, SBOMs and other attached artifacts')
    .option('--from-plain-http', 'speak plain HTTP to the source registry')
    .option('--to-plain-http', 'speak plain HTTP to the target registry')
    .option('--concurrency <n>', 'how many blobs to copy at once (default: 3)', concurrencyArgument)
    .option('--json', 'print the result as JSON');
  addPlainHttpOption(command).action(
      async (
        source: string,
        target: string,
        options: {
          referrers?: boolean;
          fromPlainHttp?: boolean;
          toPlainHttp?: boolean;
          concurrency?: number;
          json?: boolean;
          plainHttp?: boolean;
          insecure?: boolean;
          caFile?: string;
        },
      ) => {
        const shared = connectOptions(options);
        const result = await copy(source, target, {
          source: { ...shared, ...(options.fromPlainHttp ? { plainHttp: true } : {}) },
          target: { ...shared, ...(options.toPlainHttp ? { plainHttp: true } : {}) },
          ...(options.referrers ? { referrers: true } : {}),
          ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
        });
        if (options.json) {
          printJson(result);
          return;
        }
        const { uploaded, mounted, skipped } = result.blobs;
        printLines([
          `copied ${result.source} to ${result.target}@${result.digest}`,
          `  ${result.manifests} manifest(s); blobs: ${uploaded} uploaded, ${mounted} mounted, ${skipped} already there`,
        ]);
      },
    );
}
