/**
 * `ocidrop link REF [--platform OS/ARCH] [--expires 24h]`: prints a signed, expiring download link
 * of the gateway, which opens a private repository without credentials until it expires.
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { downloadPath, filePath } from '../gateway/links.js';
import { LinkSigner, parseDuration } from '../gateway/signing.js';
import { isDigest } from '../oci/digest.js';
import { formatPlatform, type Platform } from '../oci/platform.js';
import { isRepositoryName, isTag } from '../oci/reference.js';
import { signingKeysFor } from '../serve/compose.js';
import { ConfigError, loadConfig, type ServeConfig } from '../serve/config.js';
import { LINK_KEY_FILE } from '../serve/keys.js';
import { defaultDataDir } from '../serve/paths.js';
import { platformArgument } from './options.js';
import { printJson, printLines } from './output.js';

/** The base URL when neither `--base-url` nor the configuration's `publicUrl` names one: `ocidrop serve`'s default address. */
const DEFAULT_BASE_URL = 'http://127.0.0.1:5000';

/** Maximum lifetime of a link, because links are for sharing a build, not for permanent access. */
const MAX_EXPIRY_MS = 366 * 86_400_000;

/** Options of `ocidrop link`. */
interface LinkOptions {
  platform?: Platform;
  file?: string;
  expires: number;
  config?: string;
  data: string;
  baseUrl?: string;
  json?: boolean;
}

/** Registers `link` on `program`. */
export function registerLink(program: Command): void {
  program
    .command('link')
    .description('print a signed download link of the gateway that expires, for sharing a private build')
    .argument(
      '<ref>',
      'repository as the gateway names it, with a tag or digest, such as hello:1.1.0 (the tag defaults to latest)',
    )
    .option(
      '--platform <os/arch>',
      "bind the link to this build, such as linux/arm64 (default: the visitor's platform)",
      platformArgument,
    )
    .option('--file <name>', 'link this file of the build instead of the program')
    .addOption(
      new Option('--expires <duration>', 'how long the link works: a number and s, m, h or d, at most 366d')
        .argParser(expiryArgument)
        .default(expiryArgument('24h'), '24h'),
    )
    .option('--config <file>', 'the configuration file of ocidrop serve, for its signing keys and publicUrl')
    .option(
      '--data <dir>',
      'data folder of ocidrop serve, whose key signs when the configuration names none',
      defaultDataDir(),
    )
    .option(
      '--base-url <url>',
      `public URL of the gateway (default: the configuration's publicUrl, else ${DEFAULT_BASE_URL})`,
    )
    .option('--json', 'print {url, expires, keyId, platform} instead of the URL alone')
    .action(async (reference: string, options: LinkOptions) => {
      const config = options.config === undefined ? undefined : await loadConfig(options.config);
      const link = await createLink(reference, options, config);
      if (options.baseUrl === undefined && config?.publicUrl === undefined) {
        process.stderr.write(
          `ocidrop: the link uses ${DEFAULT_BASE_URL}, the default address of ocidrop serve; pass --base-url for another one\n`,
        );
      }
      if (options.json) printJson(link);
      else printLines([link.url]);
    });
}

/** A signed link as `ocidrop link --json` prints it. */
export interface SignedLink {
  url: string;
  /** RFC 3339 time after which the gateway rejects the link. */
  expires: string;
  keyId: string;
  /** `os/arch` the link is bound to, or null when the gateway picks the visitor's platform. */
  platform: string | null;
}

/**
 * Signs the download path of `reference` (`NAME[:TAG]` or `NAME@DIGEST`).
 * Never creates a key: without configured keys, the data folder must already hold the key of `ocidrop serve`.
 * @throws InvalidArgumentError for a reference outside the grammar; ConfigError when no key is available.
 */
export async function createLink(
  reference: string,
  options: LinkOptions,
  config: ServeConfig | undefined,
  now: Date = new Date(),
): Promise<SignedLink> {
  const { repository, version } = parseGatewayReference(reference);
  // Creating a key here would sign with a key that the running server does not have.
  if (config === undefined || config.signingKeys.length === 0) await requireLinkKey(options.data);
  const keys = await signingKeysFor(config, options.data);
  if (keys.length === 0) {
    throw new ConfigError(
      'no signing key: add signing.keys to the configuration, or pass --data with the folder of ocidrop serve',
    );
  }
  const signer = new LinkSigner(keys);
  const path =
    options.file === undefined
      ? downloadPath(repository, version, options.platform)
      : filePath(repository, version, options.file, options.platform);
  const [pathname = '', search = ''] = path.split('?');
  const expires = new Date(now.getTime() + options.expires);
  const platform = options.platform === undefined ? '' : formatPlatform(options.platform);

  const query = new URLSearchParams(search);
  for (const [name, value] of signer.sign(pathname, expires, platform)) query.set(name, value);
  const base = (options.baseUrl ?? config?.publicUrl ?? DEFAULT_BASE_URL).replace(/\/+$/, '');
  return {
    url: `${base}${pathname}?${query.toString()}`,
    expires: expires.toISOString(),
    keyId: keys[0]!.id,
    platform: options.platform === undefined ? null : platform,
  };
}

/**
 * Checks that the data folder holds the link key of `ocidrop serve`.
 * @throws ConfigError naming the folder and the fix when the key file does not exist.
 */
async function requireLinkKey(dataDir: string): Promise<void> {
  const path = join(dataDir, LINK_KEY_FILE);
  try {
    await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    throw new ConfigError(
      `no link key in ${dataDir} (${LINK_KEY_FILE} not found): start ocidrop serve with --data ${dataDir} first, or pass the --data of your server, or --config with signing.keys`,
    );
  }
}

/** Splits `NAME[:TAG]` or `NAME@DIGEST` as gateway URLs name repositories and versions. */
function parseGatewayReference(reference: string): { repository: string; version: string } {
  let repository = reference;
  let version = 'latest';
  const at = reference.indexOf('@');
  if (at >= 0) {
    repository = reference.slice(0, at);
    version = reference.slice(at + 1);
  } else {
    const colon = reference.lastIndexOf(':');
    if (colon > reference.lastIndexOf('/')) {
      repository = reference.slice(0, colon);
      version = reference.slice(colon + 1);
    }
  }
  if (!isRepositoryName(repository)) {
    throw new InvalidArgumentError(
      `invalid repository ${JSON.stringify(repository)}: give the name the gateway shows, such as hello or team/hello`,
    );
  }
  if (!(version === 'latest' || isTag(version) || isDigest(version))) {
    throw new InvalidArgumentError(
      `invalid tag or digest ${JSON.stringify(version)}: use a tag such as 1.1.0 or a digest`,
    );
  }
  return { repository, version };
}

function expiryArgument(value: string): number {
  let milliseconds: number;
  try {
    milliseconds = parseDuration(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
  if (milliseconds > MAX_EXPIRY_MS)
    throw new InvalidArgumentError(`invalid duration ${JSON.stringify(value)}: use at most 366d`);
  return milliseconds;
}
