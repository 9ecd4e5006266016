/**
 * skopeo against the embedded registry started from a `registry:` configuration section with
 * `htpasswd -B` users: HTTP Basic and the Docker token flow, grants per repository prefix, and
 * anonymous pull of the prefixes that allow it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { resolveRegistryAccess } from '../../src/registry/config.js';
import { startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { skipUnless } from '../helpers/tools.js';
import { pushImage } from './client.js';
import { bcryptLine } from './users.js';

const run = promisify(execFile);

async function skopeo(...args: string[]): Promise<string> {
  const { stdout } = await run('skopeo', args, { maxBuffer: 16 * 1024 * 1024, timeout: 60_000 });
  return stdout;
}

describe('skopeo with a configured registry', { skip: skipUnless('skopeo', 'htpasswd') }, () => {
  let work: string;
  let source: string;
  let htpasswd: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidrop-skopeo-config-'));
    source = join(work, 'source');
    htpasswd = join(work, 'htpasswd');
    const lines = await Promise.all([bcryptLine('alice', 'alice-secret'), bcryptLine('bob', 'bob-secret')]);
    await writeFile(htpasswd, `${lines.join('\n')}\n`);

    const seed = await startEmbeddedRegistry();
    try {
      await pushImage(seed.url, 'seed/image', 'v1', 'seed layer');
      await skopeo(
        'copy',
        '--quiet',
        '--src-tls-verify=false',
        `docker://${seed.host}/seed/image:v1`,
        `oci:${source}:v1`,
      );
    } finally {
      await seed.close();
    }
  });

  after(async () => {
    await rm(work, { recursive: true, force: true });
  });

  for (const token of [false, true]) {
    const mode = token ? 'token' : 'basic';
    it(`skopeo follows the grants with ${mode} authentication`, async () => {
      const dataDir = await mkdtemp(join(work, `data-${mode}-`));
      const section = {
        htpasswd,
        anonymousPull: ['public'],
        rules: [
          { user: '*', actions: ['pull'] },
          { user: 'alice', actions: ['pull', 'push', 'delete'] },
          { user: 'bob', repository: 'bob', actions: ['push'] },
        ],
        token,
      };
      const resolved = await resolveRegistryAccess(section, { listenHost: '0.0.0.0', dataDir });
      const registry = await startEmbeddedRegistry(dataDir, resolved);
      const from = `oci:${source}:v1`;
      const to = (repository: string): string => `docker://${registry.host}/${repository}:v1`;
      try {
        await assert.rejects(skopeo('copy', '--quiet', '--dest-tls-verify=false', from, to('public/app')));
        await skopeo(
          'copy',
          '--quiet',
          '--dest-tls-verify=false',
          '--dest-creds',
          'alice:alice-secret',
          from,
          to('public/app'),
        );
        await skopeo(
          'copy',
          '--quiet',
          '--dest-tls-verify=false',
          '--dest-creds',
          'alice:alice-secret',
          from,
          to('private/app'),
        );
        await skopeo(
          'copy',
          '--quiet',
          '--dest-tls-verify=false',
          '--dest-creds',
          'bob:bob-secret',
          from,
          to('bob/app'),
        );
        await assert.rejects(
          skopeo(
            'copy',
            '--quiet',
            '--dest-tls-verify=false',
            '--dest-creds',
            'bob:bob-secret',
            from,
            to('other/app'),
          ),
        );
        await assert.rejects(
          skopeo(
            'copy',
            '--quiet',
            '--dest-tls-verify=false',
            '--dest-creds',
            'bob:wrong',
            from,
            to('bob/app'),
          ),
        );

        const tags = JSON.parse(
          await skopeo('list-tags', '--tls-verify=false', `docker://${registry.host}/public/app`),
        ) as {
          Tags: string[];
        };
        assert.deepEqual(tags.Tags, ['v1']);
        await assert.rejects(skopeo('inspect', '--raw', '--tls-verify=false', to('private/app')));
        await skopeo(
          'inspect',
          '--raw',
          '--tls-verify=false',
          '--creds',
          'bob:bob-secret',
          to('private/app'),
        );

        await assert.rejects(
          skopeo('delete', '--tls-verify=false', '--creds', 'bob:bob-secret', to('bob/app')),
        );
        await skopeo('delete', '--tls-verify=false', '--creds', 'alice:alice-secret', to('bob/app'));
      } finally {
        await registry.close();
      }
    });
  }
});
