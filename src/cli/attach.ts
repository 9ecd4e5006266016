/**
 * `ocidrop attach REF FILE... --artifact-type TYPE`: attaches files to a release as a referrer.
 */
import type { Command } from 'commander';
import { parseAnnotation, readAnnotationFile } from '../client/annotation-file.js';
import { attach } from '../client/referrers.js';
import { addPlainHttpOption, collect, connectOptions } from './options.js';
import { printJson, printLines } from './output.js';

/** Registers `attach` on `program`. */
export function registerAttach(program: Command): void {
  const command = program
    .command('attach')
    .description('attach files (release notes, checksums, signatures, SBOMs) to a release as a referrer')
    .argument('<ref>', 'the release to attach to, such as localhost:5000/hello:1.1.0')
    .argument('[files...]', 'files or folders to attach; none attaches the annotations alone')
    .requiredOption(
      '--artifact-type <type>',
      'what the attachment is, such as application/vnd.ocidrop.notes.v1',
    )
    .option(
      '-a, --annotation <key=value>',
      'add an annotation to the attached manifest; repeat for more',
      collect,
    )
    .option('--annotation-file <file>', 'JSON file of annotations: {"$manifest": {...}, "FILE NAME": {...}}')
    .option('--json', 'print {subject, digest, subjectProcessed}');
  addPlainHttpOption(command).action(
    async (
      reference: string,
      files: string[],
      options: {
        artifactType: string;
        annotation?: string[];
        annotationFile?: string;
        json?: boolean;
        plainHttp?: boolean;
      },
    ) => {
      const fromFile =
        options.annotationFile === undefined ? undefined : await readAnnotationFile(options.annotationFile);
      const result = await attach(reference, files, {
        ...connectOptions(options),
        artifactType: options.artifactType,
        annotations: {
          ...fromFile?.manifest,
          ...Object.fromEntries((options.annotation ?? []).map(parseAnnotation)),
        },
        ...(fromFile === undefined ? {} : { fileAnnotations: fromFile.files }),
      });
      if (options.json) printJson(result);
      else printLines([`attached ${result.digest} to ${result.subject}`]);
    },
  );
}
