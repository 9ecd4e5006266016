/**
 * The command lines of the contenders, as a reader would type them (the scripts under
 * `bench/cases/` use the same flags).
 */
import type { CaseContext } from './suite.js';

/** `ocidrop push HOST/REPOSITORY:TAG FILE...`; loopback hosts get plain HTTP without a flag. */
export function ocidropPush(
  context: CaseContext,
  host: string,
  reference: string,
  files: string[],
): string[] {
  return [process.execPath, context.cli, 'push', `${host}/${reference}`, ...files];
}

/** `ocidrop pull HOST/REPOSITORY:TAG -o DIR --platform linux/amd64`. */
export function ocidropPull(context: CaseContext, host: string, reference: string, output: string): string[] {
  return [
    process.execPath,
    context.cli,
    'pull',
    `${host}/${reference}`,
    '-o',
    output,
    '--platform',
    'linux/amd64',
  ];
}

/**
 * `skopeo copy` from an OCI layout to a registry. `--preserve-digests` keeps the uncompressed
 * layers as they are: without it, skopeo gzips them on the way, which would compare a different job.
 */
export function skopeoPush(layout: string, tag: string, host: string, reference: string): string[] {
  return [
    'skopeo',
    '--insecure-policy',
    'copy',
    '--quiet',
    '--preserve-digests',
    '--dest-tls-verify=false',
    `oci:${layout}:${tag}`,
    `docker://${host}/${reference}`,
  ];
}

/** `skopeo copy` from a registry to a new OCI layout, keeping the layers uncompressed. */
export function skopeoPull(host: string, reference: string, layout: string, tag: string): string[] {
  return [
    'skopeo',
    '--insecure-policy',
    'copy',
    '--quiet',
    '--preserve-digests',
    '--src-tls-verify=false',
    '--dest-oci-accept-uncompressed-layers',
    `docker://${host}/${reference}`,
    `oci:${layout}:${tag}`,
  ];
}

/** `curl` downloading `url` to /dev/null, following redirects and failing on an HTTP error. */
export function curlGet(url: string): string[] {
  return [
    'curl',
    '--silent',
    '--show-error',
    '--fail',
    '--location',
    '--output',
    '/dev/null',
    '--write-out',
    '%{size_download}\n',
    url,
  ];
}
