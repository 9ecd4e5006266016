import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { createProgressDisplay, formatBytes } from '../../src/cli/progress.js';
import { digestOf } from '../../src/oci/digest.js';

const MIB = 1024 * 1024;

/** Creates a writable that passes for a terminal and keeps all it is sent. */
function fakeTerminal(): { stream: NodeJS.WriteStream; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString('utf8');
      callback();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY: true, columns: 160, rows: 40 });
  return { stream, text: () => text };
}

describe('progress display', () => {
  it('draws nothing off a terminal', () => {
    const display = createProgressDisplay(new Writable() as unknown as NodeJS.WriteStream);
    assert.equal(display.listener, undefined);
  });

  it('counts speed from the first event', async () => {
    const terminal = fakeTerminal();
    const display = createProgressDisplay(terminal.stream);
    const listener = display.listener!;
    const event = { title: 'app.bin', digest: digestOf('app'), total: 400 * MIB };
    // The first event of this bar arrives with 100 MiB already sent, as for an upload that began
    // while its file was hashed.
    listener({ ...event, transferred: 100 * MIB, state: 'running' });
    await new Promise((resolve) => setTimeout(resolve, 500));
    listener({ ...event, transferred: 101 * MIB, state: 'running' });
    display.stop();

    const speeds = [...terminal.text().matchAll(/\| ([\d.]+ (?:B|KiB|MiB|GiB)\/s) \|/g)].map(
      (match) => match[1],
    );
    const last = speeds.at(-1);
    assert.ok(last !== undefined, `a speed is drawn in ${JSON.stringify(terminal.text().slice(-300))}`);
    const [value, unit] = last.split(' ');
    const bytesPerSecond =
      Number(value) * { 'B/s': 1, 'KiB/s': 1024, 'MiB/s': MIB, 'GiB/s': 1024 * MIB }[unit!]!;
    assert.ok(
      bytesPerSecond > 0.5 * MIB && bytesPerSecond < 3 * MIB,
      `1 MiB in about 0.5 s, drawn as ${last}`,
    );
  });

  it('formats binary units', () => {
    assert.equal(formatBytes(512), '512 B');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatBytes(3 * MIB), '3.0 MiB');
  });
});
