/**
 * `ocidrop url REF [--platform OS/ARCH] [--json]`: prints the direct blob URL of each file.
 */
import type { Command } from 'commander';
import { blobUrls } from '../client/urls.js';
import type { Platform } from '../oci/platform.js';
import { addPlainHttpOption, connectOptions, platformArgument } from './options.js';
import { printJson, printLines } from './output.js';

/** Registers `url` on `program`. */
export function registerUrl(program: Command): void {
  const command = program
    .command('url')
    .description('print the direct download URL of each file of an artifact, one per line')
    .argument('<ref>', 'the artifact, such as localhost:5000/hello:1.0.0 (the tag defaults to latest)')
    .option(
      '--platform <os/arch>',
      "only this platform's files, such as linux/arm64 (default: every platform)",
      platformArgument,
    )
    .option('--json', 'print a list of {name, platform, digest, size, url}');
  addPlainHttpOption(command).action(
    async (reference: string, options: { platform?: Platform; json?: boolean; plainHttp?: boolean }) => {
      const urls = await blobUrls(reference, {
        ...connectOptions(options),
        ...(options.platform === undefined ? {} : { platform: options.platform }),
      });
      if (options.json) {
        printJson(urls);
        return;
      }
      // A file shared by every platform has one blob, so its URL is printed once.
      printLines([...new Set(urls.map((entry) => entry.url))]);
    },
  );
}
