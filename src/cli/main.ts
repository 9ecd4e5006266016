#!/usr/bin/env node
/**
 * The `ocidrop` command: push, pull, url, tags, the registry commands (resolve, tag, repos, copy,
 * attach, discover, manifest, blob), login, serve, gc and link.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { printError } from './output.js';

/** Adds one or more commands to the program. */
type Register = (program: Command) => void;

/**
 * The module of each top-level command, in the order of the help text. A command module loads
 * only when needed, because node spends time and memory on every module it loads: the client
 * commands do not need the server, the gateway and their dependencies that `serve` loads.
 */
const COMMANDS: ReadonlyArray<readonly [names: readonly string[], load: () => Promise<Register>]> = [
  [['push'], async () => (await import('./push.js')).registerPush],
  [['pull'], async () => (await import('./pull.js')).registerPull],
  [['url'], async () => (await import('./url.js')).registerUrl],
  [['tags'], async () => (await import('./tags.js')).registerTags],
  [['resolve'], async () => (await import('./resolve.js')).registerResolve],
  [['tag'], async () => (await import('./tag.js')).registerTag],
  [['repos'], async () => (await import('./repos.js')).registerRepos],
  [['copy'], async () => (await import('./copy.js')).registerCopy],
  [['attach'], async () => (await import('./attach.js')).registerAttach],
  [['discover'], async () => (await import('./discover.js')).registerDiscover],
  [['manifest'], async () => (await import('./manifest.js')).registerManifest],
  [['blob'], async () => (await import('./blob.js')).registerBlob],
  [['login', 'logout'], async () => (await import('./login.js')).registerLogin],
  [['serve'], async () => (await import('./serve.js')).registerServe],
  [['gc'], async () => (await import('./gc.js')).registerGc],
  [['link'], async () => (await import('./link.js')).registerLink],
];

/**
 * Builds the command tree. With a known command name in `argv`, only that command is registered,
 * and none for `--version` alone. Otherwise (help, a typo, no command) every command is, so help
 * and suggestions list them all.
 */
async function createProgram(argv: readonly string[]): Promise<Command> {
  const program = new Command('ocidrop')
    .description('publish programs to any OCI registry and hand out plain download links')
    .version(packageVersion(), '-V, --version', 'print the version of ocidrop')
    .showSuggestionAfterError()
    .configureOutput({ outputError: (text, write) => write(text) });

  // The program has no options of its own besides --version and --help, so the first argument
  // that is not an option is the command name.
  const name = argv.slice(2).find((argument) => !argument.startsWith('-'));
  const versionOnly =
    name === undefined && argv.some((argument) => argument === '-V' || argument === '--version');
  const selected = COMMANDS.filter(([names]) => name !== undefined && names.includes(name));
  if (!versionOnly) {
    for (const [, load] of selected.length > 0 ? selected : COMMANDS) (await load())(program);
  }
  return program;
}

function packageVersion(): string {
  // main.js runs from build/src/cli, three levels below package.json.
  const text = readFileSync(new URL('../../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

try {
  await (await createProgram(process.argv)).parseAsync(process.argv);
} catch (error) {
  printError(error);
  process.exitCode = 1;
}
