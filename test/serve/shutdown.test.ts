/**
 * Shutdown of `ocidrop serve`: the log records `shutting down` when it starts and `stopped` when it
 * ends, in that order and once each, whether the process gets a signal or a caller closes the server.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { startServer } from '../../src/serve/server.js';
import { startServe } from '../helpers/serve.js';

interface LogLine {
  msg: string;
  signal?: string;
}

function shutdownMessages(lines: LogLine[]): LogLine[] {
  return lines.filter((line) => line.msg === 'shutting down' || line.msg === 'stopped');
}

describe('server shutdown log', () => {
  it('close logs shutting down, then stopped', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ocidrop-shutdown-'));
    try {
      const lines: LogLine[] = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
      const server = await startServer({ dataDir: dir, port: 0, logger });
      await Promise.all([server.close('SIGTERM'), server.close()]);
      assert.deepEqual(
        shutdownMessages(lines).map((line) => [line.msg, line.signal]),
        [
          ['shutting down', 'SIGTERM'],
          ['stopped', undefined],
        ],
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} logs shutting down, then stopped`, async () => {
      const serve = await startServe();
      try {
        const response = await fetch(`${serve.url}/v2/`);
        assert.equal(response.status, 200);
        await response.arrayBuffer();
        const exited = new Promise<number | null>((resolve) => serve.child.once('exit', resolve));
        serve.child.kill(signal);
        assert.equal(await exited, 0);
        const lines = serve
          .log()
          .split('\n')
          .filter((line) => line.startsWith('{'))
          .map((line) => JSON.parse(line) as LogLine);
        assert.deepEqual(
          shutdownMessages(lines).map((line) => [line.msg, line.signal]),
          [
            ['shutting down', signal],
            ['stopped', undefined],
          ],
        );
      } finally {
        await serve.close();
        await rm(serve.dataDir, { recursive: true, force: true });
      }
    });
  }
});
