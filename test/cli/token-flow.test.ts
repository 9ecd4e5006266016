/**
 * The command against the embedded registry with access control and the Docker token flow: every
 * request needs a Bearer token for its scope, a push requests `pull,push`, and a copy within the
 * registry mounts blobs with `pull` on the source repository as well.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { parseHtpasswd } from '../../src/registry/htpasswd.js';
import { createAccessPolicy } from '../../src/registry/policy.js';
import { runCli } from '../helpers/cli.js';
import { type EmbeddedRegistry, startEmbeddedRegistry } from '../helpers/embedded-registry.js';
import { EXTRAS } from '../helpers/fixtures.js';

describe('cli against the embedded registry with tokens', () => {
  let registry: EmbeddedRegistry;
  let work: string;
  let env: NodeJS.ProcessEnv;
  let anonymous: NodeJS.ProcessEnv;

  before(async () => {
    const line = `alice:${bcrypt.hashSync('alice-secret', 4)}\n`;
    const access = createAccessPolicy({
      users: parseHtpasswd(line),
      rules: [{ prefix: '', pull: 'authenticated', push: ['alice'], delete: ['alice'] }],
      token: { ttlSeconds: 60 },
    });
    registry = await startEmbeddedRegistry(undefined, { access });
    work = await mkdtemp(join(tmpdir(), 'ocidrop-token-flow-'));
    const config = join(work, 'docker');
    await mkdir(config);
    const auth = Buffer.from('alice:alice-secret').toString('base64');
    await writeFile(join(config, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth } } }));
    env = { DOCKER_CONFIG: config };
    const empty = join(work, 'empty');
    await mkdir(empty);
    anonymous = { DOCKER_CONFIG: empty };
  });

  after(async () => {
    await registry?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('push, copy and pull with tokens', async () => {
    const pushed = await runCli(['push', `${registry.host}/team/tool:1.0`, ...EXTRAS], { env });
    assert.equal(pushed.code, 0, pushed.stderr);

    const copied = await runCli(
      ['copy', `${registry.host}/team/tool:1.0`, `${registry.host}/mirror/tool`, '--json'],
      {
        env,
      },
    );
    assert.equal(copied.code, 0, copied.stderr);
    const summary = JSON.parse(copied.stdout) as { blobs: { mounted: number; uploaded: number } };
    assert.equal(summary.blobs.uploaded, 0, 'nothing sent again');
    assert.ok(summary.blobs.mounted >= 2, 'the files and the config were mounted');

    const output = join(work, 'out');
    const pulled = await runCli(['pull', `${registry.host}/mirror/tool:1.0`, '-o', output], { env });
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.deepEqual((await readdir(output)).sort(), ['DejaVuSansMono.ttf', 'hello.toml']);
    assert.deepEqual(await readFile(join(output, 'hello.toml')), await readFile(EXTRAS[0]!));
  });

  it('attach and discover with tokens', async () => {
    const notes = join(work, 'NOTES.md');
    await writeFile(notes, 'notes\n');
    const attached = await runCli(
      [
        'attach',
        `${registry.host}/team/tool:1.0`,
        notes,
        '--artifact-type',
        'application/vnd.ocidrop.notes.v1',
      ],
      { env },
    );
    assert.equal(attached.code, 0, attached.stderr);
    const discovered = await runCli(['discover', `${registry.host}/team/tool:1.0`, '--json'], { env });
    assert.equal(discovered.code, 0, discovered.stderr);
    const tree = JSON.parse(discovered.stdout) as { referrers: { artifactType: string }[] };
    assert.deepEqual(
      tree.referrers.map((referrer) => referrer.artifactType),
      ['application/vnd.ocidrop.notes.v1'],
    );
  });

  it('anonymous pull is rejected with the fix', async () => {
    const result = await runCli(['resolve', `${registry.host}/team/tool:1.0`], { env: anonymous });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /docker login|ocidrop login|credentials/);
  });
});
