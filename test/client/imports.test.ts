import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FIXTURES } from '../helpers/fixtures.js';

const SOURCE = join(FIXTURES, '..', '..', 'src');

describe('client import graph', () => {
  it('imports no server layer', async () => {
    const folder = join(SOURCE, 'client');
    for (const name of await readdir(folder)) {
      const text = await readFile(join(folder, name), 'utf8');
      for (const match of text.matchAll(/from '([^']+)'/g)) {
        assert.doesNotMatch(
          match[1]!,
          /\/(registry|storage|gateway|serve|cli)\//,
          `${name} imports ${match[1]}`,
        );
      }
    }
  });
});
