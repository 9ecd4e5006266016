/**
 * `ocidrop copy SRC DST [--referrers]`: copies an artifact or image between repositories and registries.
 */
import type { Command } from 'commander';
import { copy } from '../client/copy.js';
import { OciLayout } from '../client/oci-layout.js';
import { addPlainHttpOption, concurrencyArgument, connectOptions, parseLayoutArgument } from './options.js';
import { printJson, printLines } from './output.js';

/** Registers `copy` on `program`. */
export function registerCopy(program: Command): void {
  const command = program
    .command('copy')
    .description('copy a manifest or index and everything it points at to another repository or registry')
    .argument('<src>', 'the source, such as localhost:5000/hello:1.1.0')
    .argument(
      '<dst>',
      'the target, such as registry.example.com/tools/hello (the tag defaults to the source tag)',
    )
    .option('-r, --referrers', 'copy the referrers too: signatures, SBOMs and other attached artifacts')
    .option('--from-oci-layout', 'SRC is an OCI image layout folder, DIR[:TAG|@DIGEST]')
    .option('--to-oci-layout', 'DST is an OCI image layout folder, DIR[:TAG], created when missing')
    .option('--from-plain-http', 'speak plain HTTP to the source registry')
    .option('--to-plain-http', 'speak plain HTTP to the target registry')
    .option('--concurrency <n>', 'how many blobs to copy at once (default: 8)', concurrencyArgument)
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
        fromOciLayout?: boolean;
        toOciLayout?: boolean;
      },
    ) => {
      const shared = connectOptions(options);
      const from = options.fromOciLayout ? parseLayoutArgument(source, 'latest') : undefined;
      const to = options.toOciLayout ? parseLayoutArgument(target) : undefined;
      const fromStore = from === undefined ? undefined : await OciLayout.open(from.dir);
      const toStore = to === undefined ? undefined : await OciLayout.open(to.dir, { create: true });
      const result = await copy(from?.reference ?? source, to?.reference ?? target, {
        source: {
          ...shared,
          ...(options.fromPlainHttp ? { plainHttp: true } : {}),
          ...(fromStore === undefined ? {} : { client: fromStore }),
        },
        target: {
          ...shared,
          ...(options.toPlainHttp ? { plainHttp: true } : {}),
          ...(toStore === undefined ? {} : { client: toStore }),
        },
        ...(options.referrers ? { referrers: true } : {}),
        ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      });
      if (options.json) {
        printJson(result);
        return;
      }
      const { uploaded, mounted, skipped } = result.blobs;
      const shownSource = from === undefined ? result.source : from.dir;
      const shownTarget = to === undefined ? result.target : `${to.dir}:${result.target.split(':').pop()}`;
      printLines([
        `copied ${shownSource} to ${shownTarget}@${result.digest}`,
        `  ${result.manifests} manifest(s); blobs: ${uploaded} uploaded, ${mounted} mounted, ${skipped} already there`,
      ]);
    },
  );
}
