/**
 * `ocidrop login REGISTRY [-u USER] [--password-stdin]` and `ocidrop logout REGISTRY`: keep
 * credentials in Docker's `config.json`, where push, pull, url and tags look for them. On a terminal,
 * a missing user name or password is asked for, as `docker login` does.
 */
import type { Command } from 'commander';
import { InvalidInputError } from '../client/errors.js';
import { login, logout } from '../client/login.js';
import { addPlainHttpOption, connectOptions } from './options.js';
import { printJson, printLines } from './output.js';
import { canPrompt, promptLine, promptSecret } from './prompt.js';

/** Registers `login` and `logout` on `program`. */
export function registerLogin(program: Command): void {
  const loginCommand = program
    .command('login')
    .description("check credentials against a registry and store them in Docker's config.json")
    .argument('<registry>', 'the registry host, such as localhost:5000 or ghcr.io')
    .option('-u, --username <user>', 'user name (asked for on a terminal when left out)')
    .option(
      '-p, --password <password>',
      'password or token (visible in the process list: prefer --password-stdin)',
    )
    .option('--password-stdin', 'read the password or token from stdin')
    .option('--json', 'print {registry, configPath}');
  addPlainHttpOption(loginCommand).action(
    async (
      registry: string,
      options: {
        username?: string;
        password?: string;
        passwordStdin?: boolean;
        plainHttp?: boolean;
        insecure?: boolean;
        caFile?: string;
        json?: boolean;
      },
    ) => {
      let username = options.username;
      if (username === undefined) {
        if (!canPrompt() || options.passwordStdin) {
          throw new InvalidInputError(`missing user name for ${registry}: pass -u USER`);
        }
        username = (await promptLine('Username: ')).trim();
        if (username === '') throw new InvalidInputError('missing user name: type one, or pass -u USER');
      }

      let password = options.password;
      if (options.passwordStdin) {
        if (password !== undefined)
          throw new InvalidInputError('use either --password or --password-stdin, not both');
        password = await readStdin();
      } else if (password === undefined && canPrompt()) {
        password = await promptSecret('Password: ');
      }
      if (password === undefined || password === '') {
        throw new InvalidInputError('missing password: pipe it into --password-stdin, or pass --password');
      }
      const path = await login(registry, username, password, connectOptions(options));
      if (options.json) printJson({ registry, configPath: path });
      else printLines([`logged in to ${registry}; credentials stored in ${path}`]);
    },
  );

  program
    .command('logout')
    .description("remove a registry's credentials from Docker's config.json")
    .argument('<registry>', 'the registry host, such as localhost:5000')
    .option('--json', 'print {registry, removed}')
    .action(async (registry: string, options: { json?: boolean }) => {
      const removed = await logout(registry);
      if (options.json) printJson({ registry, removed });
      else printLines([removed ? `logged out of ${registry}` : `not logged in to ${registry}`]);
    });
}

// Reads all of stdin and drops the trailing line break that `echo` and files add.
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}
