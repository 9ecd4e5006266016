#!/usr/bin/env node
/**
 * The `ocidrop` command: push, pull, url, tags, the registry commands (resolve, tag, repos, copy,
 * attach, discover, manifest, blob), login, serve, gc and link.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerAttach } from './attach.js';
import { registerBlob } from './blob.js';
import { registerCopy } from './copy.js';
import { registerDiscover } from './discover.js';
import { registerGc } from './gc.js';
import { registerLink } from './link.js';
import { registerLogin } from './login.js';
import { registerManifest } from './manifest.js';
import { printError } from './output.js';
import { registerPull } from './pull.js';
import { registerPush } from './push.js';
import { registerRepos } from './repos.js';
import { registerResolve } from './resolve.js';
import { registerServe } from './serve.js';
import { registerTag } from './tag.js';
import { registerTags } from './tags.js';
import { registerUrl } from './url.js';

/** Builds the command tree. */
function createProgram(): Command {
  const program = new Command('ocidrop')
    .description('publish programs to any OCI registry and hand out plain download links')
    .version(packageVersion(), '-V, --version', 'print the version of ocidrop')
    .showSuggestionAfterError()
    .configureOutput({ outputError: (text, write) => write(text) });
  registerPush(program);
  registerPull(program);
  registerUrl(program);
  registerTags(program);
  registerResolve(program);
  registerTag(program);
  registerRepos(program);
  registerCopy(program);
  registerAttach(program);
  registerDiscover(program);
  registerManifest(program);
  registerBlob(program);
  registerLogin(program);
  registerServe(program);
  registerGc(program);
  registerLink(program);
  return program;
}

function packageVersion(): string {
  // main.js runs from build/src/cli, three levels below package.json.
  const text = readFileSync(new URL('../../../package.json', import.meta.url), 'utf8');
  return (JSON.parse(text) as { version: string }).version;
}

try {
  await createProgram().parseAsync(process.argv);
} catch (error) {
  printError(error);
  process.exitCode = 1;
}
