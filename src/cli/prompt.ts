/**
 * Questions on the terminal, for commands that need a value the user did not pass, such as
 * `ocidrop login` without `-u` or a password.
 */
import { createInterface } from 'node:readline';
import { InvalidInputError } from '../client/errors.js';

/** Tells whether the command may ask on the terminal: stdin and stderr are both a TTY. */
export function canPrompt(): boolean {
  return Boolean(process.stdin.isTTY && process.stderr.isTTY);
}

/** Asks `question` on stderr and returns the line typed, without its line break. */
export async function promptLine(question: string): Promise<string> {
  const terminal = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return await new Promise<string>((resolve) => terminal.question(question, resolve));
  } finally {
    terminal.close();
  }
}

/**
 * Asks `question` on stderr and reads a secret with echo off, so the password never shows on the
 * screen or in the terminal's scrollback. Ctrl-C cancels with an error.
 */
export async function promptSecret(question: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(question);
  input.setRawMode(true);
  input.resume();
  input.setEncoding('utf8');
  try {
    return await new Promise<string>((resolve, reject) => {
      let secret = '';
      const onData = (text: string): void => {
        for (const character of text) {
          if (character === '\r' || character === '\n' || character === '\u0004') {
            input.off('data', onData);
            resolve(secret);
            return;
          }
          if (character === '\u0003') {
            input.off('data', onData);
            reject(new InvalidInputError('login cancelled'));
            return;
          }
          // Backspace and delete remove the last character typed.
          if (character === '\u007f' || character === '\b') secret = secret.slice(0, -1);
          else secret += character;
        }
      };
      input.on('data', onData);
    });
  } finally {
    input.setRawMode(false);
    input.pause();
    process.stderr.write('\n');
  }
}
