/**
 * The whole path a user takes: `ocidrop serve`, push two versions of a real program with its extra
 * files, then get them back with plain curl and jq, with `ocidrop pull`, through the download
 * gateway with each kind of browser, and with `ocidrop url` and wget.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { EXTRAS, VERSIONS, writeReleaseTree } from '../helpers/fixtures.js';
import { CLI } from '../helpers/paths.js';
import { type ServeProcess, startServe } from '../helpers/serve.js';
import { skipUnless } from '../helpers/tools.js';

const run = promisify(execFile);

const USER_AGENTS = {
  windows:
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  macos:
    'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  linux: 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
};

async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

async function ocidrop(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { maxBuffer: 16 * 1024 * 1024 });
}

describe('ocidrop serve end to end', { skip: skipUnless('curl', 'jq', 'wget') }, () => {
  let serve: ServeProcess;
  let tree: Record<string, Record<string, string>>;
  let work: string;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'ocidrop-e2e-'));
    tree = await writeReleaseTree(join(work, 'dist'));
    serve = await startServe(join(work, 'data'));
    for (const version of VERSIONS) {
      await ocidrop('push', `${serve.host}/hello:${version}`, ...Object.values(tree[version]!), ...EXTRAS);
    }
  });

  after(async () => {
    await serve?.close();
  });

  it('curl and jq walk tags, index, manifest, blob', async () => {
    const output = join(work, 'curl-hello');
    const script = `
      set -euo pipefail
      base="http://$REGISTRY/v2/hello"
      tags=$(curl -fsS "$base/tags/list" | jq -r '.tags | join(",")')
      index=$(curl -fsS -H 'Accept: application/vnd.oci.image.index.v1+json' "$base/manifests/1.1.0")
      manifest=$(echo "$index" | jq -r '.manifests[] | select(.platform.os == "linux" and .platform.architecture == "amd64") | .digest')
      blob=$(curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' "$base/manifests/$manifest" \\
        | jq -r '.layers[] | select(.annotations["org.opencontainers.image.title"] == "hello") | .digest')
      curl -fsS -o "$OUTPUT" "$base/blobs/$blob"
      echo "$tags"
    `;
    const { stdout } = await run('bash', ['-c', script], {
      env: { ...process.env, REGISTRY: serve.host, OUTPUT: output },
    });
    assert.equal(stdout.trim(), '1.0.0,1.1.0');
    assert.equal(await sha256File(output), await sha256File(tree['1.1.0']!['linux/amd64']!));
  });

  it('pull writes a runnable program', async () => {
    const output = join(work, 'pulled');
    await ocidrop('pull', `${serve.host}/hello:1.1.0`, '-o', output);
    assert.deepEqual((await readdir(output)).sort(), ['DejaVuSansMono.ttf', 'hello', 'hello.toml']);
    assert.equal((await stat(join(output, 'hello'))).mode & 0o111, 0o111);
    const { stdout } = await run(join(output, 'hello'), ['--version']);
    assert.equal(stdout.trim(), 'hello 1.1.0 linux/amd64');
    assert.equal(await sha256File(join(output, 'hello.toml')), await sha256File(EXTRAS[0]!));
  });

  for (const [system, platform, name] of [
    ['windows', 'windows/amd64', 'hello.exe'],
    ['linux', 'linux/amd64', 'hello'],
  ] as const) {
    it(`gateway serves the ${system} build`, async () => {
      const file = join(work, `gateway-${system}`);
      const { stdout: headers } = await run('curl', [
        '-fsSL',
        '-A',
        USER_AGENTS[system],
        '-D',
        '-',
        '-o',
        file,
        `${serve.url}/hello/latest/download`,
      ]);
      assert.equal(await sha256File(file), await sha256File(tree['1.1.0']![platform]!));
      assert.match(
        headers,
        new RegExp(`content-disposition: attachment; filename="${name.replace('.', '\\.')}"`, 'i'),
      );
    });
  }

  it('gateway serves a darwin build to macOS', async () => {
    const file = join(work, 'gateway-macos');
    await run('curl', ['-fsSL', '-A', USER_AGENTS.macos, '-o', file, `${serve.url}/hello/latest/download`]);
    const digest = await sha256File(file);
    const darwinBuilds = [
      await sha256File(tree['1.1.0']!['darwin/arm64']!),
      await sha256File(tree['1.1.0']!['darwin/amd64']!),
    ];
    assert.ok(darwinBuilds.includes(digest), `macOS got ${digest}, which is neither darwin build`);
  });

  it('gateway page offers the visitor build', async () => {
    const response = await fetch(`${serve.url}/hello`, { headers: { 'User-Agent': USER_AGENTS.windows } });
    assert.equal(response.status, 200);
    const page = await response.text();
    assert.match(page, /hello\.exe/);
    assert.match(page, /1\.1\.0/);
    assert.match(page, new RegExp(await sha256File(tree['1.1.0']!['windows/amd64']!)));
  });

  it('latest.json names the newest version', async () => {
    const response = await fetch(`${serve.url}/hello/latest.json?os=linux&arch=amd64`);
    assert.equal(response.status, 200);
    const body = (await response.json()) as {
      version: string;
      platform: string;
      files: { name: string; url: string }[];
    };
    assert.equal(body.version, '1.1.0');
    assert.equal(body.platform, 'linux/amd64');
    assert.deepEqual(body.files.map((file) => file.name).sort(), [
      'DejaVuSansMono.ttf',
      'hello',
      'hello.toml',
    ]);
  });

  it('missing platform gets a 404 listing builds', async () => {
    const response = await fetch(`${serve.url}/hello/latest.json?os=plan9&arch=386`);
    assert.equal(response.status, 404);
    const text = await response.text();
    assert.match(text, /windows\/amd64/);
  });

  it('url output downloads with wget', async () => {
    const { stdout } = await ocidrop('url', `${serve.host}/hello:1.0.0`, '--platform', 'windows/amd64');
    const urls = stdout.trim().split('\n');
    assert.equal(urls.length, 3);
    const downloaded: string[] = [];
    for (const [i, url] of urls.entries()) {
      assert.match(
        url,
        new RegExp(`^http://${serve.host.replace('.', '\\.')}/v2/hello/blobs/sha256:[0-9a-f]{64}$`),
      );
      const file = join(work, `wget-${i}`);
      await run('wget', ['-q', '-O', file, url]);
      downloaded.push(await sha256File(file));
    }
    assert.ok(downloaded.includes(await sha256File(tree['1.0.0']!['windows/amd64']!)));
    for (const extra of EXTRAS) assert.ok(downloaded.includes(await sha256File(extra)));
  });
});
