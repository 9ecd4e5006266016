/**
 * `ocidrop push REF [OS/ARCH=]FILE...`: publishes files as one artifact under a tag.
 */
import type { Command } from 'commander';
import { parseAnnotation, readAnnotationFile } from '../client/annotation-file.js';
import { OciLayout } from '../client/oci-layout.js';
import { parsePushInput } from '../client/plan.js';
import { push } from '../client/push.js';
import { unknownPlatformWarning } from '../oci/known-platforms.js';
import {
  addOciLayoutOption,
  addPlainHttpOption,
  chunkSizeArgument,
  collect,
  concurrencyArgument,
  connectOptions,
  parseLayoutArgument,
} from './options.js';
import { abortOnInterrupt, printJson, printLines } from './output.js';
import { createProgressDisplay, formatBytes } from './progress.js';

/** Registers `push` on `program`. */
export function registerPush(program: Command): void {
  const command = program
    .command('push')
    .description('publish files as one artifact under REF; executables get their platform from their header')
    .argument('<ref>', 'where to publish, with a version tag, such as localhost:5000/hello:1.0.0')
    .argument(
      '<files...>',
      'files and folders to publish; OS/ARCH=FILE marks the build for a platform, such as windows/amd64=dist/hello.exe',
    )
    .option('--concurrency <n>', 'how many blobs to upload at once (default: 8)', concurrencyArgument)
    .option(
      '--chunk-size <size>',
      'upload files larger than this in chunks of this size, such as 5MiB (default: one request per file)',
      chunkSizeArgument,
    )
    .option(
      '-a, --annotation <key=value>',
      'add an annotation to the manifests and the index; repeat for more',
      collect,
    )
    .option(
      '--annotation-file <file>',
      'JSON file of annotations as oras reads it: {"$manifest": {...}, "FILE NAME": {...}}',
    )
    .option(
      '--artifact-type <type>',
      'the artifactType of the manifests (default: application/vnd.ocidrop.release.v1)',
    )
    .option(
      '--from <repository>',
      'mount blobs from this repository of the same registry before uploading them',
    )
    .option(
      '--hash-first',
      'hash each file before sending it, so a file the registry already has costs no upload (default: files over 4 MiB upload while they are hashed)',
    )
    .option('--json', 'print the result as JSON');
  addOciLayoutOption(command);
  addPlainHttpOption(command).action(
    async (
      reference: string,
      files: string[],
      options: {
        json?: boolean;
        plainHttp?: boolean;
        concurrency?: number;
        chunkSize?: number;
        annotation?: string[];
        annotationFile?: string;
        artifactType?: string;
        ociLayout?: boolean;
        from?: string;
        hashFirst?: boolean;
      },
    ) => {
      const layout = options.ociLayout ? parseLayoutArgument(reference) : undefined;
      const store = layout === undefined ? undefined : await OciLayout.open(layout.dir, { create: true });
      const inputs = files.map(parsePushInput);
      for (const input of inputs) {
        const warning = input.platform === undefined ? undefined : unknownPlatformWarning(input.platform);
        if (warning !== undefined) process.stderr.write(`ocidrop: warning: ${input.path}: ${warning}\n`);
      }
      const fromFile =
        options.annotationFile === undefined ? undefined : await readAnnotationFile(options.annotationFile);
      const annotations = {
        ...fromFile?.manifest,
        ...Object.fromEntries((options.annotation ?? []).map(parseAnnotation)),
      };
      // An interrupted push deletes its open upload sessions before it exits, so that they do not
      // count against the registry's limit on open sessions.
      const interrupt = abortOnInterrupt(
        'run the same command again: push starts again, and blobs already in the registry are skipped',
      );
      const progress = createProgressDisplay();
      let result: Awaited<ReturnType<typeof push>>;
      try {
        result = await push(layout?.reference ?? reference, inputs, {
          ...connectOptions(options),
          ...(store === undefined ? {} : { client: store }),
          ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
          ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }),
          onProgress: progress.listener,
          annotations,
          ...(fromFile === undefined ? {} : { fileAnnotations: fromFile.files }),
          ...(options.artifactType === undefined ? {} : { artifactType: options.artifactType }),
          ...(options.from === undefined ? {} : { mountFrom: repositoryName(options.from) }),
          ...(options.hashFirst ? { hashFirst: true } : {}),
          signal: interrupt.signal,
        });
      } catch (error) {
        progress.stop();
        interrupt.exitIfInterrupted();
        throw error;
      } finally {
        progress.stop();
        interrupt.dispose();
      }

      if (options.json) {
        printJson(result);
        return;
      }
      const shown = layout === undefined ? result.reference : `${layout.dir}:${layout.reference.tag}`;
      const lines = [`pushed ${shown}@${result.digest}`];
      for (const file of result.files) {
        const where = file.platforms.length > 0 ? file.platforms.join(', ') : 'every platform';
        const kind = file.directory ? 'folder, ' : '';
        const state = file.uploaded ? 'uploaded' : 'already in the registry';
        lines.push(`  ${file.title} (${kind}${formatBytes(file.size)}) for ${where}, ${state}`);
      }
      printLines(lines);
    },
  );
}

// Accepts `--from` as a repository name or as `registry/repository`; mounting works within one registry.
function repositoryName(value: string): string {
  const slash = value.indexOf('/');
  const first = slash < 0 ? '' : value.slice(0, slash);
  const isHost = first.includes('.') || first.includes(':') || first === 'localhost';
  return isHost ? value.slice(slash + 1) : value;
}
