/**
 * Options and argument parsers shared by the commands.
 */
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type Digest, isDigest } from '../oci/digest.js';
import { type Platform, parsePlatform } from '../oci/platform.js';
import { isTag, Reference } from '../oci/reference.js';

/**
 * Adds the connection options: `--plain-http`, which makes the client speak HTTP to a registry that
 * is not on loopback, `--insecure` and `--ca-file`.
 */
export function addPlainHttpOption(command: Command): Command {
  return command
    .addOption(
      new Option(
        '--plain-http',
        'speak plain HTTP instead of HTTPS (the default for localhost, 127.0.0.1 and [::1])',
      ),
    )
    .addOption(new Option('--insecure', "accept the registry's TLS certificate without checking it"))
    .addOption(new Option('--ca-file <file>', 'also trust the certificate authorities in this PEM file'));
}

/** Parses a `--platform` value for commander, turning a bad value into its usage error. */
export function platformArgument(value: string): Platform {
  try {
    return parsePlatform(value);
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

/**
 * Returns the client options that `--plain-http`, `--insecure` and `--ca-file` set; loopback hosts
 * get plain HTTP without the flag.
 * @throws InvalidArgumentError when the CA file cannot be read.
 */
export function connectOptions(options: { plainHttp?: boolean; insecure?: boolean; caFile?: string }): {
  plainHttp?: boolean;
  insecure?: boolean;
  ca?: Buffer;
} {
  let ca: Buffer | undefined;
  if (options.caFile !== undefined) {
    try {
      ca = readFileSync(options.caFile);
    } catch (error) {
      throw new InvalidArgumentError(
        `cannot read the CA file ${JSON.stringify(options.caFile)}: ${(error as Error).message}`,
      );
    }
  }
  return {
    ...(options.plainHttp ? { plainHttp: true } : {}),
    ...(options.insecure ? { insecure: true } : {}),
    ...(ca === undefined ? {} : { ca }),
  };
}

/** Parses `--concurrency`: a whole number from 1 to 32. */
export function concurrencyArgument(value: string): number {
  const count = Number(value);
  if (!Number.isInteger(count) || count < 1 || count > 32) {
    throw new InvalidArgumentError(
      `invalid concurrency ${JSON.stringify(value)}: use a whole number from 1 to 32`,
    );
  }
  return count;
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
};

/** Parses `--chunk-size`: bytes, or a number with a binary unit such as `5MiB`, `512k` or `1G`. */
export function chunkSizeArgument(value: string): number {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(value.trim());
  const unit = SIZE_UNITS[match?.[2]?.toLowerCase() ?? 'x'];
  const bytes = match !== null && unit !== undefined ? Number(match[1]) * unit : Number.NaN;
  if (!Number.isSafeInteger(bytes) || bytes < 1) {
    throw new InvalidArgumentError(
      `invalid chunk size ${JSON.stringify(value)}: use bytes or a size such as 5MiB or 512KiB`,
    );
  }
  return bytes;
}

/** Collects a repeatable option's values into a list, for commander. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Parses `--max-unpack-size`: like `--chunk-size`, bytes or a size such as `2GiB`. */
export function sizeArgument(value: string): number {
  return chunkSizeArgument(value);
}

/** Adds `--oci-layout`, which makes REF an OCI image layout folder, `DIR[:TAG|@DIGEST]`. */
export function addOciLayoutOption(command: Command): Command {
  return command.addOption(
    new Option(
      '--oci-layout',
      'REF is an OCI image layout folder on disk, DIR[:TAG|@DIGEST], not a registry',
    ),
  );
}

/**
 * Splits an OCI image layout argument, `DIR`, `DIR:TAG` or `DIR@DIGEST`, into the folder and a
 * {@link Reference} that carries the tag or digest; its registry and repository are placeholders
 * that an OCI image layout ignores.
 * @throws InvalidArgumentError for an invalid tag or digest.
 */
export function parseLayoutArgument(
  value: string,
  defaultTag?: string,
): { dir: string; reference: Reference } {
  let dir = value;
  let tag: string | undefined;
  let digest: string | undefined;
  const at = dir.lastIndexOf('@');
  if (at > 0) {
    digest = dir.slice(at + 1);
    dir = dir.slice(0, at);
  } else {
    const colon = dir.lastIndexOf(':');
    // A colon before the last path separator belongs to the path (such as C:\ on Windows).
    if (colon > 0 && colon > Math.max(dir.lastIndexOf('/'), dir.lastIndexOf('\\'))) {
      tag = dir.slice(colon + 1);
      dir = dir.slice(0, colon);
    }
  }
  if (tag === undefined && digest === undefined) tag = defaultTag;
  if (digest !== undefined && !isDigest(digest)) {
    throw new InvalidArgumentError(`invalid digest ${JSON.stringify(digest)} in ${JSON.stringify(value)}`);
  }
  if (tag !== undefined && !isTag(tag)) {
    throw new InvalidArgumentError(`invalid tag ${JSON.stringify(tag)} in ${JSON.stringify(value)}`);
  }
  return { dir, reference: new Reference(LAYOUT_HOST, 'layout', tag, digest as Digest | undefined) };
}

/** Placeholder registry of references into an OCI image layout. */
const LAYOUT_HOST = 'oci-layout';
