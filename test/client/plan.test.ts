import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildArtifact, EMPTY_CONFIG_DESCRIPTOR } from '../../src/client/artifact.js';
import { InvalidInputError } from '../../src/client/errors.js';
import { type InspectedFile, inspectInput, parsePushInput, planArtifact } from '../../src/client/plan.js';
import { type Digest, digestOf } from '../../src/oci/digest.js';
import { formatPlatform } from '../../src/oci/platform.js';
import { EXTRAS, writeReleaseTree } from '../helpers/fixtures.js';

describe('parsePushInput', () => {
  const cases: [string, { path: string; platform?: string }][] = [
    ['dist/hello', { path: 'dist/hello' }],
    ['windows/amd64=dist/hello.exe', { path: 'dist/hello.exe', platform: 'windows/amd64' }],
    ['linux/arm/v7=hello', { path: 'hello', platform: 'linux/arm/v7' }],
    ['linux/amd64=a=b', { path: 'a=b', platform: 'linux/amd64' }],
    ['./dist/a=b', { path: './dist/a=b' }],
    ['=hello', { path: '=hello' }],
    ['Linux/AMD64=hello', { path: 'Linux/AMD64=hello' }],
    ['notaplatform=hello', { path: 'notaplatform=hello' }],
  ];
  for (const [argument, expected] of cases) {
    it(`parses ${argument}`, () => {
      const input = parsePushInput(argument);
      assert.equal(input.path, expected.path);
      assert.equal(
        input.platform === undefined ? undefined : formatPlatform(input.platform),
        expected.platform,
      );
    });
  }

  it('names the syntax for a label without an architecture', () => {
    assert.throws(() => parsePushInput('linux=dist/hello'), /the syntax is OS\/ARCH=FILE/);
    assert.throws(() => parsePushInput('amd64=dist/hello'), /the syntax is OS\/ARCH=FILE/);
  });

  it('rejects a platform without a file', () => {
    assert.throws(() => parsePushInput('linux/amd64='), /missing file after "linux\/amd64="/);
  });

  it('rejects an empty argument', () => {
    assert.throws(() => parsePushInput(''), InvalidInputError);
  });
});

function file(path: string, platforms: string[] = []): InspectedFile {
  const title = path.split('/').pop()!;
  return {
    path,
    title,
    digest: digestOf(path) as Digest,
    size: path.length,
    mode: platforms.length > 0 ? 0o755 : 0o644,
    platforms: platforms.map((platform) => {
      const [os, architecture] = platform.split('/') as [string, string];
      return { os, architecture };
    }),
  };
}

describe('planArtifact', () => {
  it('gives each program its platform and every platform the extras', () => {
    const plan = planArtifact([
      file('dist/linux-amd64/hello', ['linux/amd64']),
      file('dist/windows-amd64/hello.exe', ['windows/amd64']),
      file('extras/hello.toml'),
    ]);
    assert.deepEqual(
      plan.builds.map((build) => [formatPlatform(build.platform), build.program.path]),
      [
        ['linux/amd64', 'dist/linux-amd64/hello'],
        ['windows/amd64', 'dist/windows-amd64/hello.exe'],
      ],
    );
    assert.deepEqual(
      plan.extras.map((extra) => extra.path),
      ['extras/hello.toml'],
    );
  });

  it('makes a universal file the program of each architecture', () => {
    const plan = planArtifact([file('dist/hello', ['darwin/amd64', 'darwin/arm64'])]);
    assert.deepEqual(
      plan.builds.map((build) => formatPlatform(build.platform)),
      ['darwin/amd64', 'darwin/arm64'],
    );
    assert.equal(plan.builds[0]?.program, plan.builds[1]?.program);
  });

  it('plans a single manifest without platform builds', () => {
    const plan = planArtifact([file('a.txt'), file('b.txt')]);
    assert.equal(plan.builds.length, 0);
    assert.equal(plan.extras.length, 2);
  });

  it('rejects two programs for one platform', () => {
    assert.throws(
      () => planArtifact([file('a/hello', ['linux/amd64']), file('b/hello2', ['linux/amd64'])]),
      /two programs for linux\/amd64: a\/hello and b\/hello2/,
    );
  });

  it('rejects two extras with one title, naming both paths', () => {
    assert.throws(
      () => planArtifact([file('a/hello.toml'), file('b/hello.toml')]),
      /a\/hello\.toml and b\/hello\.toml/,
    );
  });

  it('rejects an extra titled like a program', () => {
    assert.throws(
      () => planArtifact([file('dist/hello', ['linux/amd64']), file('docs/hello')]),
      /linux\/amd64 manifest: dist\/hello and docs\/hello/,
    );
  });

  it('allows one title on different platforms', () => {
    const plan = planArtifact([file('linux/hello', ['linux/amd64']), file('arm/hello', ['linux/arm64'])]);
    assert.equal(plan.builds.length, 2);
  });

  it('rejects an extra given twice', () => {
    assert.throws(
      () => planArtifact([file('x/NOTES.md'), file('x/NOTES.md')]),
      /x\/NOTES\.md is given twice; name each file once/,
    );
    assert.throws(() => planArtifact([file('x/NOTES.md'), file('./x/NOTES.md')]), /is given twice/);
  });

  it('rejects a program given twice', () => {
    assert.throws(
      () => planArtifact([file('dist/hello', ['linux/amd64']), file('dist/hello', ['linux/amd64'])]),
      /dist\/hello is given twice/,
    );
  });

  it('allows one file labelled for two platforms', () => {
    const plan = planArtifact([file('dist/app', ['darwin/amd64']), file('dist/app', ['darwin/arm64'])]);
    assert.equal(plan.builds.length, 2);
  });

  it('rejects an empty input list', () => {
    assert.throws(() => planArtifact([]), /nothing to push/);
  });
});

describe('inspectInput', () => {
  let folder: string;
  let tree: Record<string, Record<string, string>>;

  before(async () => {
    folder = await mkdtemp(join(tmpdir(), 'ocidrop-plan-'));
    tree = await writeReleaseTree(folder);
  });
  after(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('detects the platform of each build', async () => {
    for (const [platform, path] of Object.entries(tree['1.1.0']!)) {
      const inspected = await inspectInput({ path });
      assert.deepEqual(inspected.platforms.map(formatPlatform), [platform], path);
      assert.equal(inspected.mode & 0o111, 0o111, `${path} keeps its executable bits`);
    }
  });

  it('keeps the platform given on the command line', async () => {
    const inspected = await inspectInput(parsePushInput(`linux/riscv64=${EXTRAS[0]}`));
    assert.deepEqual(inspected.platforms.map(formatPlatform), ['linux/riscv64']);
    const labelled = await inspectInput(parsePushInput(`linux/amd64=${tree['1.1.0']!['linux/amd64']}`));
    assert.deepEqual(labelled.platforms.map(formatPlatform), ['linux/amd64']);
  });

  it('rejects a label that the header contradicts', async () => {
    const path = tree['1.1.0']!['linux/arm64']!;
    await assert.rejects(inspectInput(parsePushInput(`linux/arm/v7=${path}`)), (error: Error) => {
      assert.ok(error instanceof InvalidInputError);
      assert.ok(error.message.includes(path), error.message);
      assert.match(error.message, /labelled linux\/arm\/v7, but its ELF header says linux\/arm64/);
      assert.match(error.message, /correct the label, or drop it/);
      return true;
    });
    await assert.rejects(
      inspectInput(parsePushInput(`windows/amd64=${tree['1.1.0']!['linux/amd64']}`)),
      /labelled windows\/amd64, but its ELF header says linux\/amd64/,
    );
  });

  it('treats a non-executable as an extra', async () => {
    const inspected = await inspectInput({ path: EXTRAS[0]! });
    assert.deepEqual(inspected.platforms, []);
    assert.equal(inspected.title, 'hello.toml');
  });

  it('hashes the content', async () => {
    const path = join(folder, 'note.txt');
    await writeFile(path, 'hello\n');
    const inspected = await inspectInput({ path });
    assert.equal(inspected.digest, digestOf('hello\n'));
    assert.equal(inspected.size, 6);
  });

  it('reads every architecture of a universal Mach-O file', async () => {
    const header = Buffer.alloc(64);
    header.writeUInt32BE(0xcafebabe, 0);
    header.writeUInt32BE(2, 4);
    header.writeUInt32BE(0x01000007, 8); // x86_64
    header.writeUInt32BE(0x0100000c, 28); // arm64
    const path = join(folder, 'universal');
    await writeFile(path, header);
    const inspected = await inspectInput({ path });
    assert.deepEqual(inspected.platforms.map(formatPlatform), ['darwin/amd64', 'darwin/arm64']);
  });

  it('rejects a missing file', async () => {
    await assert.rejects(
      inspectInput({ path: join(folder, 'missing') }),
      /cannot read .*missing.*: no such file/,
    );
  });

  it('rejects a folder without a work folder', async () => {
    await assert.rejects(inspectInput({ path: folder }), /is a folder, and no work folder was given/);
  });

  it('packs a folder as one blob', async () => {
    const work = await mkdtemp(join(tmpdir(), 'ocidrop-pack-'));
    try {
      const inspected = await inspectInput({ path: folder }, work);
      assert.equal(inspected.title, basename(folder));
      assert.deepEqual(inspected.platforms, []);
      assert.match(inspected.directory?.contentDigest ?? '', /^sha256:[0-9a-f]{64}$/);
      assert.equal(inspected.digest, digestOf(await readFile(inspected.directory!.archive)));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});

describe('buildArtifact', () => {
  const created = new Date('2026-01-02T03:04:05Z');

  it('builds an index of per-platform manifests', () => {
    const plan = planArtifact([
      file('l/hello', ['linux/amd64']),
      file('w/hello.exe', ['windows/amd64']),
      file('e/hello.toml'),
    ]);
    const artifact = buildArtifact(plan, { version: '1.1.0', created });
    const index = artifact.index?.index;
    assert.ok(index);
    assert.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json');
    assert.equal(index.artifactType, 'application/vnd.ocidrop.release.v1');
    assert.deepEqual(index.annotations, {
      'org.opencontainers.image.version': '1.1.0',
      'org.opencontainers.image.created': '2026-01-02T03:04:05.000Z',
    });
    assert.deepEqual(
      index.manifests.map((entry) => [entry.platform, entry.artifactType, entry.digest]),
      artifact.manifests.map((built) => [built.platform, 'application/vnd.ocidrop.release.v1', built.digest]),
    );
    assert.equal(artifact.index?.digest, digestOf(artifact.index!.bytes));
  });

  it('puts the program first, marked main, then the extras', () => {
    const plan = planArtifact([file('l/hello', ['linux/amd64']), file('e/hello.toml')]);
    const [built] = buildArtifact(plan, { version: '1.0.0', created }).manifests;
    const layers = built!.manifest.layers;
    assert.deepEqual(
      layers.map((layer) => layer.annotations),
      [
        {
          'org.opencontainers.image.title': 'hello',
          'io.ocidrop.file.mode': '0755',
          'io.ocidrop.file.main': 'true',
        },
        { 'org.opencontainers.image.title': 'hello.toml', 'io.ocidrop.file.mode': '0644' },
      ],
    );
    assert.ok(layers.every((layer) => layer.mediaType === 'application/octet-stream'));
    assert.deepEqual(built!.manifest.config, EMPTY_CONFIG_DESCRIPTOR);
    assert.equal(EMPTY_CONFIG_DESCRIPTOR.digest, digestOf('{}'));
    assert.equal(built!.manifest.artifactType, 'application/vnd.ocidrop.release.v1');
  });

  it('builds a single manifest without platform builds', () => {
    const artifact = buildArtifact(planArtifact([file('a.txt')]), { version: '1', created });
    assert.equal(artifact.index, undefined);
    assert.equal(artifact.manifests.length, 1);
    assert.equal(artifact.manifests[0]?.platform, undefined);
  });
});
