import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { mapWithLimit } from '../../src/client/concurrency.js';

describe('mapWithLimit', () => {
  it('keeps at most the limit running', async () => {
    let running = 0;
    let peak = 0;
    const results = await mapWithLimit([5, 1, 4, 2, 3, 1], 2, async (value) => {
      running++;
      peak = Math.max(peak, running);
      await delay(value);
      running--;
      return value * 10;
    });
    assert.equal(peak, 2);
    assert.deepEqual(results, [50, 10, 40, 20, 30, 10]);
  });

  it('starts nothing after a failure', async () => {
    const started: number[] = [];
    await assert.rejects(
      mapWithLimit([1, 2, 3, 4, 5], 1, async (value) => {
        started.push(value);
        if (value === 2) throw new Error('second failed');
        return value;
      }),
      /second failed/,
    );
    assert.deepEqual(started, [1, 2]);
  });

  it('returns nothing for no items', async () => {
    assert.deepEqual(await mapWithLimit([], 3, async () => 1), []);
  });
});
