/**
 * What the command prints when the system refuses something (a port in use, a path that is a file),
 * when an argument is given twice or labelled oddly, and when the user presses Ctrl-C.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { describeSystemError } from '../../src/cli/output.js';
import { CLI, runCli } from '../helpers/cli.js';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ocidrop-errors-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function systemError(code: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(`${String(fields['syscall'])} ${code}`), { code, ...fields });
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
  });
}

describe('system errors', () => {
  it('names a port in use and the fix', async () => {
    const server = createServer();
    const port = await listen(server);
    try {
      const result = await runCli([
        'serve',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--data',
        join(dir, 'data'),
      ]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, new RegExp(`^ocidrop: port ${port} on 127\\.0\\.0\\.1 is in use`));
      assert.match(result.stderr, /--port 0 picks a free one/);
    } finally {
      server.close();
    }
  });

  it('names a data folder under a file', async () => {
    const file = join(dir, 'plain-file');
    await writeFile(file, 'not a folder\n');
    const result = await runCli(['serve', '--port', '0', '--data', join(file, 'data')]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /plain-file\/data.*: a part of this path is a file, not a folder/);
    assert.match(result.stderr, /\[ENOTDIR\]/);
  });

  it('rejects a registry port above 65535', async () => {
    const result = await runCli(['push', 'localhost:99999/x:1', join(dir, 'plain-file')]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /invalid port 99999/);
    assert.doesNotMatch(result.stderr, /Invalid URL/);
  });

  it('maps each code to a sentence with the path or address', () => {
    const cases: [Error, RegExp][] = [
      [
        systemError('EADDRNOTAVAIL', { syscall: 'listen', address: '10.255.255.1', port: 5000 }),
        /address 10\.255\.255\.1 is not on this machine: pass a --host/,
      ],
      [
        systemError('EACCES', { syscall: 'listen', address: '0.0.0.0', port: 80 }),
        /permission denied to listen on 0\.0\.0\.0 port 80: .*--port 1024 or above/,
      ],
      [
        systemError('EACCES', { syscall: 'open', path: '/srv/app' }),
        /permission denied on \/srv\/app: .*read/,
      ],
      [
        systemError('EACCES', { syscall: 'mkdir', path: '/srv/out' }),
        /permission denied on \/srv\/out: .*write/,
      ],
      [systemError('ENOENT', { syscall: 'open', path: '/srv/none' }), /\/srv\/none not found/],
      [systemError('EISDIR', { syscall: 'open', path: '/srv' }), /\/srv is a folder, not a file/],
    ];
    for (const [error, expected] of cases) assert.match(describeSystemError(error) ?? '', expected);
    assert.equal(describeSystemError(new Error('plain')), undefined);
  });
});

describe('push arguments', () => {
  it('rejects a file given twice', async () => {
    const notes = join(dir, 'NOTES.md');
    await writeFile(notes, '# notes\n');
    const result = await runCli(['push', '--oci-layout', `${join(dir, 'layout')}:1`, notes, notes]);
    assert.equal(result.code, 1);
    assert.ok(result.stderr.includes(`${notes} is given twice`), result.stderr);
  });

  it('warns about an unknown architecture', async () => {
    const notes = join(dir, 'NOTES.md');
    await writeFile(notes, '# notes\n');
    const result = await runCli([
      'push',
      '--oci-layout',
      `${join(dir, 'layout')}:2`,
      `linux/x86_64=${notes}`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stderr,
      /warning: .*NOTES\.md: architecture "x86_64" of linux\/x86_64 not in Go's GOOS\/GOARCH list/,
    );
  });

  it('names the platform syntax for linux=FILE', async () => {
    const result = await runCli(['push', '--oci-layout', `${join(dir, 'layout')}:3`, 'linux=hello']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /the syntax is OS\/ARCH=FILE/);
  });
});

describe('Ctrl-C', () => {
  it('tells how to go on after pull', async () => {
    // A registry that accepts connections and never answers, so the pull is still running at SIGINT.
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    const port = await listen(server);
    try {
      const child = spawn(
        process.execPath,
        [CLI, 'pull', `127.0.0.1:${port}/hello:1.0.0`, '-o', join(dir, 'out'), '--plain-http'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      await new Promise<void>((resolve) => server.once('connection', () => resolve()));
      child.kill('SIGINT');
      const code = await new Promise<number | null>((resolve) => child.on('exit', (exit) => resolve(exit)));
      assert.equal(code, 130);
      assert.match(stderr, /interrupted: run the same command again: pull resumes where it stopped/);
    } finally {
      for (const socket of sockets) socket.destroy();
      server.close();
    }
  });
});
