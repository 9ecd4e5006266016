import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  credentialFilePaths,
  defaultCredentialResolver,
  dockerConfigPath,
  dockerConfigResolver,
  findCredentials,
  parseDockerConfig,
} from '../../src/client/credentials.js';
import { CredentialsError } from '../../src/client/errors.js';

const base64 = (text: string) => Buffer.from(text).toString('base64');

describe('parseDockerConfig', () => {
  it('decodes a base64 auth entry', () => {
    const auths = parseDockerConfig(
      JSON.stringify({ auths: { 'localhost:5000': { auth: base64('alice:s3cr:et') } } }),
    ).auths;
    assert.deepEqual(auths['localhost:5000'], { username: 'alice', password: 's3cr:et' });
  });

  it('reads username and password fields', () => {
    const auths = parseDockerConfig(
      JSON.stringify({ auths: { 'r.example': { username: 'bob', password: 'pw' } } }),
    ).auths;
    assert.deepEqual(auths['r.example'], { username: 'bob', password: 'pw' });
  });

  it('reads an identity token', () => {
    const auths = parseDockerConfig(
      JSON.stringify({ auths: { 'r.example': { identitytoken: 'refresh' } } }),
    ).auths;
    assert.deepEqual(auths['r.example'], { identityToken: 'refresh' });
  });

  it('rejects an auth without a colon', () => {
    assert.throws(
      () => parseDockerConfig(JSON.stringify({ auths: { r: { auth: base64('nocolon') } } })),
      CredentialsError,
    );
  });

  it('rejects invalid JSON naming the file', () => {
    assert.throws(() => parseDockerConfig('{', '/x/config.json'), /\/x\/config\.json/);
  });

  it('reads credHelpers and credsStore', () => {
    assert.deepEqual(parseDockerConfig('{"credsStore":"desktop","credHelpers":{"ghcr.io":"pass"}}'), {
      auths: {},
      credHelpers: { 'ghcr.io': 'pass' },
      credsStore: 'desktop',
    });
  });
});

describe('findCredentials', () => {
  const auths = {
    'https://localhost:5000/v1/': { username: 'url-key' },
    '127.0.0.1:5001': { username: 'host-key' },
    'https://index.docker.io/v1/': { username: 'hub' },
  };

  it('matches a URL key by host and port', () => {
    assert.equal(findCredentials(auths, 'localhost:5000')?.username, 'url-key');
  });

  it('matches a bare host key', () => {
    assert.equal(findCredentials(auths, '127.0.0.1:5001')?.username, 'host-key');
  });

  it('does not match another port', () => {
    assert.equal(findCredentials(auths, '127.0.0.1:5002'), undefined);
  });

  it('maps Docker Hub hosts to the index key', () => {
    assert.equal(findCredentials(auths, 'registry-1.docker.io')?.username, 'hub');
  });
});

describe('credential helpers', () => {
  let folder: string;
  let path: string;

  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'ocidrop-helper-'));
    // A helper in the shell that keeps one user, one identity token, and nothing for other hosts.
    const script = [
      '#!/bin/sh',
      'read host',
      'case "$host" in',
      '  user.example) echo \'{"ServerURL":"user.example","Username":"carol","Secret":"from-helper"}\' ;;',
      '  token.example) echo \'{"ServerURL":"token.example","Username":"<token>","Secret":"refresh-2"}\' ;;',
      '  broken.example) echo "keychain locked" >&2; exit 3 ;;',
      '  *) echo "credentials not found in native keychain"; exit 1 ;;',
      'esac',
    ].join('\n');
    await writeFile(join(folder, 'docker-credential-ocidroptest'), `${script}\n`, { mode: 0o755 });
    path = join(folder, 'config.json');
    await writeFile(
      path,
      JSON.stringify({
        auths: { 'plain.example': { auth: base64('dave:pw') }, 'other.example': { auth: base64('erin:pw') } },
        credHelpers: {
          'user.example': 'ocidroptest',
          'token.example': 'ocidroptest',
          'broken.example': 'ocidroptest',
          'missing.example': 'ocidroptest',
          'absent.example': 'notinstalled',
          'other.example': 'ocidroptest',
        },
      }),
    );
    process.env['PATH'] = `${folder}:${process.env['PATH']}`;
  });

  after(async () => {
    process.env['PATH'] = (process.env['PATH'] ?? '')
      .split(':')
      .filter((entry) => entry !== folder)
      .join(':');
    await rm(folder, { recursive: true, force: true });
  });

  it('returns the helper user and secret', async () => {
    assert.deepEqual(await dockerConfigResolver(path)('user.example'), {
      username: 'carol',
      password: 'from-helper',
    });
  });

  it('returns an identity token for <token>', async () => {
    assert.deepEqual(await dockerConfigResolver(path)('token.example'), { identityToken: 'refresh-2' });
  });

  it('falls back to auths when the helper has nothing', async () => {
    assert.deepEqual(await dockerConfigResolver(path)('other.example'), { username: 'erin', password: 'pw' });
    assert.equal(await dockerConfigResolver(path)('missing.example'), undefined);
  });

  it('uses auths for hosts without a helper', async () => {
    assert.deepEqual(await dockerConfigResolver(path)('plain.example'), { username: 'dave', password: 'pw' });
  });

  it('reports a failing helper', async () => {
    await assert.rejects(
      dockerConfigResolver(path)('broken.example'),
      /docker-credential-ocidroptest failed for broken\.example: keychain locked/,
    );
  });

  it('reports a missing helper', async () => {
    await assert.rejects(
      dockerConfigResolver(path)('absent.example'),
      /docker-credential-notinstalled .* is not installed/,
    );
  });

  it('rejects a helper name with a path', async () => {
    await writeFile(join(folder, 'bad.json'), JSON.stringify({ credsStore: '../evil' }));
    await assert.rejects(
      dockerConfigResolver(join(folder, 'bad.json'))('x.example'),
      /invalid credential helper name/,
    );
  });
});

describe('dockerConfigResolver', () => {
  it('reads DOCKER_CONFIG/config.json', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'ocidrop-config-'));
    try {
      await writeFile(
        join(folder, 'config.json'),
        JSON.stringify({ auths: { 'h:1': { auth: base64('u:p') } } }),
      );
      const path = dockerConfigPath({ DOCKER_CONFIG: folder });
      assert.equal(path, join(folder, 'config.json'));
      assert.deepEqual(await dockerConfigResolver(path)('h:1'), { username: 'u', password: 'p' });
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('treats a missing file as no credentials', async () => {
    assert.equal(
      await dockerConfigResolver(join(tmpdir(), 'ocidrop-missing', 'config.json'))('h:1'),
      undefined,
    );
  });
});

describe('defaultCredentialResolver', () => {
  it('reads podman auth files around config.json', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'ocidrop-podman-'));
    try {
      const docker = join(folder, 'docker');
      const runtime = join(folder, 'run');
      await mkdir(docker);
      await mkdir(join(runtime, 'containers'), { recursive: true });
      await writeFile(
        join(docker, 'config.json'),
        JSON.stringify({ auths: { 'both:1': { auth: base64('docker:d') } } }),
      );
      await writeFile(
        join(runtime, 'containers', 'auth.json'),
        JSON.stringify({
          auths: { 'both:1': { auth: base64('xdg:x') }, 'xdg:1': { auth: base64('xdg:x') } },
        }),
      );
      const explicit = join(folder, 'auth.json');
      await writeFile(explicit, JSON.stringify({ auths: { 'explicit:1': { auth: base64('own:o') } } }));

      const env = { DOCKER_CONFIG: docker, XDG_RUNTIME_DIR: runtime, REGISTRY_AUTH_FILE: explicit };
      assert.deepEqual(credentialFilePaths(env), [
        explicit,
        join(docker, 'config.json'),
        join(runtime, 'containers', 'auth.json'),
      ]);
      const resolve = defaultCredentialResolver(env);
      assert.deepEqual(await resolve('explicit:1'), { username: 'own', password: 'o' });
      assert.deepEqual(
        await resolve('both:1'),
        { username: 'docker', password: 'd' },
        'config.json before XDG',
      );
      assert.deepEqual(await resolve('xdg:1'), { username: 'xdg', password: 'x' });
      assert.equal(await resolve('none:1'), undefined);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });
});
