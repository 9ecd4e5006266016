/**
 * Output of the commands: results on stdout, one error line on stderr with a
 * non-zero exit, and the stack trace only when `OCIDROP_DEBUG=1`.
 */
import { OcidropError } from '../oci/errors.js';

/** Writes `value` as indented JSON to stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Writes lines to stdout. */
export function printLines(lines: string[]): void {
  if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
}

/** Writes `error` to stderr as one line starting with `ocidrop:`, plus its stack and causes under `OCIDROP_DEBUG=1`. */
export function printError(error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof OcidropError ? ` [${error.code}]` : '';
  process.stderr.write(`ocidrop: ${message.replace(/\s*\n\s*/g, ' ')}${code}\n`);
  if (process.env['OCIDROP_DEBUG'] === '1') {
    let current: unknown = error;
    while (current instanceof Error) {
      process.stderr.write(`${current.stack ?? current.message}\n`);
      current = current.cause;
      if (current !== undefined) process.stderr.write('caused by: ');
    }
  }
}
